"""The destination folder can't be fooled: part files no final name can reach, and a
second writer in ``dest`` (a thread of the test, changing the folder while a download is
held mid-way by the server) never makes aiodl write, rename or delete outside ``dest``,
nor install anything but the bytes it verified.

Holds are events (``testing/servers/held.py``): the server pauses a response at a known
byte, the test changes ``dest`` from a second thread, then releases the response.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import aiodl
import testing
from aiodl._disk.journal import FOLDER, NAME, Checkpoint, Journal
from aiodl._disk.manifest import Manifest
from aiodl._disk.names import part_name
from aiodl._disk.ranges import RangeSet
from aiodl._protocols.driver import RemoteFile
from testing import KiB, MiB, random_bytes, sha
from testing.servers.ftp import RunningFTP
from testing.servers.held import HOLD_TIMEOUT, HeldServer
from testing.servers.http import running

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {**testing.FAST, "split": 1}


@pytest.fixture
async def held() -> AsyncIterator[HeldServer]:
    async with running(HeldServer()) as server:
        yield server


class Watch:
    """A run's progress events as awaitable events: bytes of file ``i`` written, file
    ``i`` done (finished or failed)."""

    def __init__(self) -> None:
        self.wrote: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.done: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def __call__(self, event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Advanced):
            self.wrote[event.index].set()
        elif isinstance(event, aiodl.Finished | aiodl.Failed):
            self.done[event.index].set()

    @staticmethod
    async def until(event: asyncio.Event) -> None:
        await asyncio.wait_for(event.wait(), HOLD_TIMEOUT)


async def second_writer(change: Callable[[], None]) -> None:
    """Run ``change`` in another thread, as another program writing in dest would."""
    await asyncio.to_thread(change)


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def folders(tmp_path: Path) -> tuple[Path, Path]:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    return dest, outside


async def test_a_source_named_like_another_files_part_file_cannot_replace_it(
    held: HeldServer, tmp_path: Path
) -> None:
    """A trusted ``x`` with a checksum is held mid-way; a hostile second source of the
    same batch answers ``filename="x.part"`` and finishes meanwhile. Each file ends up at
    its own name with its own bytes: ``x`` holds the trusted bytes, not the 777 others."""
    dest = tmp_path / "dest"
    trusted, hostile = random_bytes(512 * KiB), random_bytes(777)
    hold_trusted = held.hold("x", 256 * KiB)
    hold_hostile = held.hold("evil", before_head=True)
    requests = [
        aiodl.Request(held.add("x", trusted), checksum=f"sha256:{sha(trusted)}"),
        held.add("evil", hostile, content_disposition='attachment; filename="x.part"'),
    ]
    watch = Watch()
    run = asyncio.create_task(aiodl.download_many(requests, dest, progress=watch, **FAST))
    await hold_trusted.wait_reached()
    await watch.until(watch.wrote[0])  # x's part file exists and holds bytes
    hold_hostile.release()
    await watch.until(watch.done[1])
    hold_trusted.release()
    results = await run
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert sha((dest / "x").read_bytes()) == sha(trusted)
    assert (dest / "x.part").read_bytes() == hostile
    assert [r.path for r in results] == [dest / "x", dest / "x.part"]
    assert listing(dest) == ["x", "x.part"]


async def test_an_ftp_folder_with_foo_and_foo_part_saves_both(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """No attacker needed: a folder holding ``foo`` (3 MiB) and ``foo.part`` (1000 B)
    is mirrored as two files, each with its own bytes and size."""
    files = {"foo": random_bytes(3 * MiB), "foo.part": random_bytes(1000)}
    (ftp.root / "pub").mkdir()
    for name, data in files.items():
        (ftp.root / "pub" / name).write_bytes(data)
    dest = tmp_path / "dest"
    results = await aiodl.download_many([ftp.url("pub/")], dest, **FAST)
    assert all(r.ok for r in results), [r.error for r in results]
    assert {r.path: r.size for r in results} == {dest / "foo": 3 * MiB, dest / "foo.part": 1000}
    for name, data in files.items():
        assert sha((dest / name).read_bytes()) == sha(data), name
    assert listing(dest) == ["foo", "foo.part"]


async def test_a_folder_swapped_for_a_symlink_after_its_first_file_is_not_followed(
    held: HeldServer, tmp_path: Path
) -> None:
    """``sub/a.bin`` lands; before ``sub/b.bin`` is opened, a second writer moves ``sub``
    away and puts a symlink to a folder outside dest in its place. ``b.bin`` fails with
    UnsafePathError and nothing is written outside, nor through the moved folder."""
    dest, outside = folders(tmp_path)
    hold_b = held.hold("b.bin", before_head=True)
    requests = [
        aiodl.Request(held.add("a.bin", random_bytes(1000)), "sub/a.bin"),
        aiodl.Request(held.add("b.bin", random_bytes(2000)), "sub/b.bin"),
    ]
    watch = Watch()
    run = asyncio.create_task(
        aiodl.download_many(requests, dest, connections=1, progress=watch, **FAST)
    )
    await watch.until(watch.done[0])
    await hold_b.wait_reached()

    def swap() -> None:
        (dest / "sub").rename(dest / "moved")
        (dest / "sub").symlink_to(outside, target_is_directory=True)

    await second_writer(swap)
    hold_b.release()
    first, second = await run
    assert first.ok
    assert isinstance(second.error, aiodl.UnsafePathError), second.error
    assert "sub" in str(second.error)
    assert listing(outside) == []
    assert listing(dest / "moved") == ["a.bin"]
    assert (dest / "sub").is_symlink()


@pytest.mark.parametrize("planted", ["symlink", "file"])
async def test_a_part_file_swapped_mid_download_is_never_installed(
    held: HeldServer, tmp_path: Path, planted: str
) -> None:
    """While ``x.bin`` is held mid-way, a second writer replaces its part file with a
    symlink to a file outside dest (or with a file of its own). The rename would install
    what is there now, not what was written and checked: the file fails with
    UnsafePathError instead, nothing is at ``dest/x.bin``, and what was planted and what
    it points at are untouched."""
    dest, outside = folders(tmp_path)
    victim = outside / "victim"
    victim.write_bytes(b"keep me")
    data = random_bytes(512 * KiB)
    hold = held.hold("x.bin", 256 * KiB)
    watch = Watch()
    url = held.add("x.bin", data)
    run = asyncio.create_task(aiodl.download_many([url], dest, progress=watch, **FAST))
    await hold.wait_reached()
    await watch.until(watch.wrote[0])
    part = dest / part_name("x.bin")

    def swap() -> None:
        part.unlink()
        if planted == "symlink":
            part.symlink_to(victim)
        else:
            part.write_bytes(b"planted")

    await second_writer(swap)
    hold.release()
    [result] = await run
    assert isinstance(result.error, aiodl.UnsafePathError), result.error
    assert "x.bin" in str(result.error)
    assert not os.path.lexists(dest / "x.bin")
    assert victim.read_bytes() == b"keep me"
    if planted == "symlink":
        assert part.is_symlink()
        assert Path(os.readlink(part)) == victim
    else:
        assert part.read_bytes() == b"planted"


async def test_a_hard_link_planted_at_the_part_file_is_never_written_through(
    held: HeldServer, tmp_path: Path
) -> None:
    """A hard link to a file outside dest waits at the part file's name: opening it
    would truncate and overwrite that file. The download fails with UnsafePathError and
    the linked file keeps its bytes; the run's other file is saved."""
    dest, outside = folders(tmp_path)
    victim = outside / "victim"
    victim.write_bytes(b"keep me")
    os.link(victim, dest / part_name("x.bin"))
    other = random_bytes(3000)
    urls = [held.add("x.bin", random_bytes(5000)), held.add("other.bin", other)]
    results = await aiodl.download_many(urls, dest, **FAST)
    assert isinstance(results[0].error, aiodl.UnsafePathError), results[0].error
    assert results[1].ok
    assert victim.read_bytes() == b"keep me"
    assert not (dest / "x.bin").exists()
    assert (dest / "other.bin").read_bytes() == other


async def test_a_symlinked_journal_folder_is_refused(
    held: HeldServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``dest/.aiodl`` is a symlink to a folder outside dest. A download slow enough to
    take a checkpoint (1.5 MiB at 1 MiB/s) is saved, but no journal is created through
    the link: a warning says why the run keeps no resume journal."""
    dest, outside = folders(tmp_path)
    (dest / FOLDER).symlink_to(outside, target_is_directory=True)
    data = random_bytes(3 * MiB // 2)
    url = held.add("slow.bin", data, rate=MiB)
    with caplog.at_level(logging.WARNING, logger="aiodl"):
        [result] = await aiodl.download_many([url], dest, **FAST)
    assert result.ok, result.error
    assert sha((dest / "slow.bin").read_bytes()) == sha(data)
    assert listing(outside) == []
    assert (dest / FOLDER).is_symlink()
    assert any(FOLDER in record.getMessage() for record in caplog.records)


async def test_a_forged_journal_row_never_reaches_outside_dest(
    held: HeldServer, tmp_path: Path
) -> None:
    """A journal row claims the URL's file is half on disk at ``../outside/victim``, and
    a full-size part file waits there: resuming it would fill it and rename it over the
    victim. The row is not used: the file is fetched afresh into dest, and everything
    outside keeps its bytes."""
    dest, outside = folders(tmp_path)
    data = random_bytes(200 * KiB)
    url = held.add("f.bin", data)
    etag = held.faults["f.bin"].etag
    victim, planted = outside / "victim", outside / part_name("victim")
    victim.write_bytes(b"keep me")
    planted.write_bytes(bytes(len(data)))
    journal = Journal(dest)
    info = RemoteFile(url, len(data), True, etag=etag)
    journal.save(Checkpoint.of("f.bin", url, info, RangeSet([(0, len(data) // 2)])))
    journal.close()
    with sqlite3.connect(dest / FOLDER / NAME) as db:  # forged by someone else
        db.execute("UPDATE files SET path = '../outside/victim'")
    [result] = await aiodl.download_many([url], dest, **FAST)
    assert result.ok, result.error
    assert not result.resumed
    assert result.path == dest / "f.bin"
    assert sha((dest / "f.bin").read_bytes()) == sha(data)
    assert victim.read_bytes() == b"keep me"
    assert planted.read_bytes() == bytes(len(data))


@pytest.mark.parametrize("saved", ["../outside/victim", "link"])
async def test_a_forged_manifest_path_is_not_trusted(
    held: HeldServer, tmp_path: Path, saved: str
) -> None:
    """A manifest row says the URL is done and saved at a path outside dest, or at a
    symlink in dest pointing out (the file there has the recorded size). Neither is a
    file aiodl saved: the URL is fetched into dest, and the Result names that file."""
    dest, outside = folders(tmp_path)
    (outside / "victim").write_bytes(b"keep me")
    (dest / "link").symlink_to(outside / "victim")
    data = random_bytes(3000)
    url = held.add("f.bin", data)
    manifest = Manifest(tmp_path / "job.sqlite")
    manifest.done(aiodl.Request(url), saved, 7, "sha256:" + sha(b"keep me"))
    manifest.close()
    [result] = await aiodl.download_many([url], dest, manifest=tmp_path / "job.sqlite", **FAST)
    assert result.ok, result.error
    assert not result.skipped
    assert result.path == dest / "f.bin"
    assert sha((dest / "f.bin").read_bytes()) == sha(data)
    assert (outside / "victim").read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "path", ["../victim", "/etc/victim", "a/../../victim", "./f.bin", "a//f.bin", ".hidden"]
)
def test_journal_rows_with_paths_aiodl_never_writes_are_dropped(tmp_path: Path, path: str) -> None:
    """Only a path already in sanitised form is a row aiodl wrote; any other is a lost
    resume, never a place to write."""
    info = RemoteFile("http://h/f", 100, True)
    journal = Journal(tmp_path)
    journal.save(Checkpoint.of("f.bin", "http://h/f", info, RangeSet([(0, 10)])))
    journal.close()
    with sqlite3.connect(tmp_path / FOLDER / NAME) as db:
        db.execute("UPDATE files SET path = ?", (path,))
    reloaded = Journal(tmp_path)
    assert reloaded.find("http://h/f") is None
    reloaded.close()


def test_a_journal_folder_others_can_write_to_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who can write into ``.aiodl`` could plant a symlink for the database's
    ``-wal`` file: such a folder is not used, and a warning says so."""
    (tmp_path / FOLDER).mkdir()
    (tmp_path / FOLDER).chmod(0o777)
    info = RemoteFile("http://h/f", 100, True)
    with caplog.at_level(logging.WARNING, logger="aiodl"):
        journal = Journal(tmp_path)
        journal.save(Checkpoint.of("f.bin", "http://h/f", info, RangeSet([(0, 10)])))
        journal.close()
    assert listing(tmp_path / FOLDER) == []
    assert any("only you can write" in record.getMessage() for record in caplog.records)
