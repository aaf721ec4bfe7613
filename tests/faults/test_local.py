"""Faults of the local side: a full disk, no permission, symlinks, a power cut.

The tests run as root (CI on Debian does too), so the faults are made real rather than
mocked:

- a 2 MiB tmpfs is a disk that really fills up (ENOSPC from the kernel, for
  posix_fallocate, pwrite and splice alike). RLIMIT_FSIZE would give EFBIG and a
  SIGXFSZ instead, which is not what a full disk does;
- a read-only bind mount refuses writes even to root (EROFS);
- "permission denied" comes from running the CLI as root *without* CAP_DAC_OVERRIDE and
  CAP_DAC_READ_SEARCH (``setpriv``, util-linux), so file modes apply to it as to any
  owner. That works wherever the checkout lives: an unprivileged user (``nobody``) could
  not even run the venv's Python, which links into /root here;
- a power cut is a copy of a loop-mounted ext4 image taken right after SIGKILL: it holds
  what reached the disk, not the page cache, so bytes written but not flushed are lost.

Every mount is undone when its test ends; one still busy then (a leaked descriptor) is
detached lazily and reported as an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest

import aiodl
from aiodl._disk.names import part_name
from testing import FAST, KiB, MiB, cli, random_bytes, sha
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


def _unmount(target: Path, *, strict: bool) -> None:
    """Unmount ``target``; if something still holds it open (a leaked descriptor), detach
    it anyway so nothing stays mounted, and (``strict``) fail: a bug worth seeing."""
    done = subprocess.run(["umount", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        subprocess.run(["umount", "--lazy", str(target)], check=True)
        if strict:
            raise AssertionError(f"{target} was still in use after the test: {done.stderr}")


def open_below(folder: Path) -> list[str]:
    """The files below ``folder`` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


def assert_only_the_middle_file_ran_out_of_space(
    results: list[aiodl.Result], dest: Path, others: dict[str, bytes]
) -> None:
    """The middle of three files failed for a full disk; the others are saved whole and
    nothing else is in ``dest``."""
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, aiodl.LocalFileError)
    assert "No space left on device" in str(error)
    assert sorted(p.name for p in dest.iterdir()) == sorted(others)
    for name, data in others.items():
        assert sha((dest / name).read_bytes()) == sha(data)


@contextmanager
def mounted(target: Path, *options: str) -> Iterator[Path]:
    """``mount OPTIONS target`` for the block; always unmounted afterwards."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *options, str(target)], check=True, capture_output=True)
    try:
        yield target
    except BaseException:
        _unmount(target, strict=False)  # the test's own failure is the one to see
        raise
    _unmount(target, strict=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a file system that really runs out of space."""
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs") as disk:
        yield disk


async def test_disk_full_while_writing_http_fails_cleanly_and_frees_the_space(
    http_server: FaultServer, small_disk: Path
) -> None:
    """A body of unknown length (chunked, so nothing is reserved up front) fills the
    disk: that file fails at once with LocalFileError (no retry: the server is not at
    fault), its part file is deleted and nothing is at its final path; the files before
    and after it in the same run are saved whole, the last one in the freed space."""
    first, last = random_bytes(300 * KiB), random_bytes(300 * KiB)
    urls = [
        http_server.add("first.bin", first),
        http_server.add("big.bin", random_bytes(3 * MiB), chunked=True, ignore_range=True),
        http_server.add("last.bin", last),
    ]
    dest = small_disk / "d"
    results = await aiodl.download_many(urls, dest, connections=1, **FAST)
    assert_only_the_middle_file_ran_out_of_space(
        results, dest, {"first.bin": first, "last.bin": last}
    )
    assert len(http_server.requests_for("big.bin")) == 1


async def test_disk_full_while_splicing_ftp_fails_cleanly_and_frees_the_space(
    ftp: RunningFTP, small_disk: Path
) -> None:
    """The same over FTP, where bytes move socket -> pipe -> file by splice: a server
    without SIZE or MLST gives no size, so the file is one stream into the full disk."""
    files = {"first.bin": random_bytes(300 * KiB), "last.bin": random_bytes(300 * KiB)}
    for name, data in {**files, "big.bin": random_bytes(3 * MiB)}.items():
        (ftp.root / name).write_bytes(data)
    ftp.faults.unsupported = {"SIZE", "MLST"}
    urls = [ftp.url(name) for name in ("first.bin", "big.bin", "last.bin")]
    dest = small_disk / "d"
    results = await aiodl.download_many(urls, dest, connections=1, **FAST)
    assert_only_the_middle_file_ran_out_of_space(results, dest, files)
    assert ftp.log.args("RETR") == ["first.bin", "big.bin", "last.bin"]


async def test_read_only_file_system_fails_every_file_clearly(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """dest on a read-only bind mount (EROFS applies to root too): every file fails
    with LocalFileError naming the cause, each is requested once, nothing is written."""
    dest = tmp_path / "dest"
    urls = [http_server.add(f"f{i}.bin", random_bytes(1000)) for i in range(3)]
    with mounted(dest, "--bind", "-o", "ro", str(dest)):  # util-linux remounts it ro
        results = await aiodl.download_many(urls, dest, **FAST)
        assert all(isinstance(r.error, aiodl.LocalFileError) for r in results)
        assert all("Read-only file system" in str(r.error) for r in results)
    assert [len(http_server.requests_for(f"f{i}.bin")) for i in range(3)] == [1, 1, 1]
    assert list(dest.iterdir()) == []


async def run_without_dac_override(*args: str) -> tuple[int, str, str]:
    """``python -m aiodl ARGS`` as root without the capabilities that bypass file modes."""
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed for the permission tests"
    caps = "-dac_override,-dac_read_search"
    process = await asyncio.create_subprocess_exec(
        setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}",
        sys.executable, "-m", "aiodl", "--no-progress", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_dest_without_write_permission_fails_each_file_clearly(
    http_server: FaultServer, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o555)
    urls = [http_server.add(f"f{i}.bin", random_bytes(1000)) for i in range(2)]
    code, out, err = await run_without_dac_override("--json", "-d", str(dest), *urls)
    assert code == 1, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    assert all(not line["ok"] and "Permission denied" in line["error"] for line in lines)
    assert "Traceback" not in err
    assert [len(http_server.requests_for(f"f{i}.bin")) for i in range(2)] == [1, 1]
    assert list(dest.iterdir()) == []


async def test_a_folder_without_write_permission_fails_only_its_files(
    http_server: FaultServer, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    (dest / "locked").mkdir(parents=True)
    (dest / "locked").chmod(0o555)
    data = random_bytes(2000)
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"{http_server.add('a.bin', b'never')}\n  out=locked/a.bin\n"
        f"{http_server.add('b.bin', data)}\n  out=free/b.bin\n"
    )
    code, out, err = await run_without_dac_override("--json", "-d", str(dest), "-i", str(listing))
    assert code == 1, err
    by_path = {
        json.loads(line)["url"].rsplit("/", 1)[1]: json.loads(line) for line in out.splitlines()
    }
    assert "Permission denied" in by_path["a.bin"]["error"]
    assert by_path["b.bin"]["ok"]
    assert list((dest / "locked").iterdir()) == []
    assert sha((dest / "free" / "b.bin").read_bytes()) == sha(data)


async def test_dest_that_cannot_be_created_is_a_clear_error_before_any_request(
    http_server: FaultServer, tmp_path: Path
) -> None:
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o555)
    url = http_server.add("f.bin", b"data")
    code, out, err = await run_without_dac_override("-d", str(parent / "dest"), url)
    assert code == 2
    assert err == (
        f"aiodl: error: no permission to write {parent / 'dest'}; "
        "choose another folder or change its permissions\n"
    )  # one line, no usage, no errno
    assert out == ""
    assert http_server.seen == []
    assert list(parent.iterdir()) == []


def symlink_case(case: str, dest: Path, outside: Path, data: bytes) -> tuple[Path, Path, str]:
    """Set up ``case``; returns (the link, what it points at, the Request path)."""
    if case == "folder":
        (outside / "sub").mkdir()
        (dest / "sub").symlink_to(outside / "sub")
        return dest / "sub", outside / "sub", "sub/f.bin"
    victim = outside / "victim"
    if case != "dangling":
        victim.write_bytes(b"keep me" if case != "same size" else bytes(len(data)))
    link = dest / (part_name("f.bin") if case == "part" else "f.bin")
    link.symlink_to(victim)
    return link, victim, "f.bin"


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("case", ["file", "same size", "dangling", "part", "folder"])
async def test_a_symlink_in_the_way_is_never_followed(
    http_server: FaultServer, tmp_path: Path, case: str, overwrite: bool
) -> None:
    """A symlink at the target (to a file, to a file of the very size being fetched, to
    nothing), at its part file, or in place of a folder on the way: the file fails with
    UnsafePathError, the link and what it points at are untouched (a dangling link's
    target is not created), and the other file of the run is saved."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    data = random_bytes(4000)
    link, pointed, path = symlink_case(case, dest, outside, data)
    before = {p.relative_to(outside): p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    other = random_bytes(1000)
    requests = [
        aiodl.Request(http_server.add("f.bin", data), path),
        aiodl.Request(http_server.add("other.bin", other)),
    ]
    results = await aiodl.download_many(requests, dest, overwrite=overwrite, **FAST)
    assert isinstance(results[0].error, aiodl.UnsafePathError)
    assert not results[0].skipped
    assert results[1].ok
    assert sha((dest / "other.bin").read_bytes()) == sha(other)
    assert link.is_symlink()
    assert Path(os.readlink(link)) == pointed
    after = {p.relative_to(outside): p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in dest.iterdir()) == sorted([link.name, "other.bin"])


async def test_a_symlink_where_a_mirrored_file_goes_is_never_followed(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "a.txt").write_bytes(b"new a")
    (ftp.root / "pub" / "b.txt").write_bytes(b"new b")
    dest = tmp_path / "d"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (dest / "a.txt").symlink_to(victim)
    results = await aiodl.download_many([ftp.url("pub/")], dest, overwrite=True)
    assert isinstance(results[0].error, aiodl.UnsafePathError)
    assert results[1].ok
    assert victim.read_bytes() == b"keep"
    assert (dest / "a.txt").is_symlink()
    assert (dest / "b.txt").read_bytes() == b"new b"
    assert ftp.log.args("RETR") == ["pub/b.txt"]


def journal_rows(dest: Path) -> dict[str, list[tuple[int, int]]]:
    """Path -> byte ranges the journal in ``dest`` says are on disk (closed after)."""
    path = dest / ".aiodl" / "journal.sqlite"
    if not path.exists():
        return {}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            rows = db.execute("SELECT path, ranges FROM files").fetchall()
        except sqlite3.OperationalError:  # not created yet, or lost with the power
            return {}
    return {name: [(start, end) for start, end in json.loads(ranges)] for name, ranges in rows}


def durable_bytes(dest: Path) -> int:
    """How many bytes the journal in ``dest`` says are flushed to disk."""
    return sum(end - start for ranges in journal_rows(dest).values() for start, end in ranges)


def reboot(dest: Path) -> None:
    """What a power cut also does: the machine boots again, with a new boot id, so the
    journal's rows are from an earlier boot (their page-cache ranges are gone)."""
    path = dest / ".aiodl" / "journal.sqlite"
    if path.exists():
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE files SET boot = 'an earlier boot' WHERE boot IS NOT NULL")


@contextmanager
def ext4_disk(image: Path, mountpoint: Path) -> Iterator[Path]:
    """A 64 MiB ext4 file system in ``image`` (sparse), loop-mounted at ``mountpoint``."""
    if not image.exists():
        with image.open("wb") as file:
            file.truncate(64 * MiB)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    with mounted(mountpoint, "-o", "loop", str(image)) as disk:
        yield disk


async def cut_power(
    http_server: FaultServer, tmp_path: Path, seed: int
) -> tuple[bytes, str, int, Path]:
    """Download 16 MiB at 1 MiB/s per connection onto a loop-mounted ext4 disk, kill the
    CLI (SIGKILL) at a random moment after its journal first holds bytes, and copy the
    disk image at once: the copy holds what the disk itself held, without the page cache,
    which is what a power cut leaves. Returns (the file, its URL, the journaled bytes seen
    just before the cut, the copy's image)."""
    data = random_bytes(16 * MiB)  # 4 s at this rate: the cut comes long before the end
    url = http_server.add("big.bin", data, rate=MiB)
    image, after = tmp_path / "disk.img", tmp_path / "after-the-cut.img"
    with ext4_disk(image, tmp_path / "live") as disk:
        dest = disk / "d"
        process = await cli("-s", "4", "-d", str(dest), url)
        try:
            deadline = time.monotonic() + 20
            while not durable_bytes(dest):  # poll the condition, bounded; not a fixed wait
                assert process.returncode is None, "finished before its first checkpoint"
                assert time.monotonic() < deadline, "no checkpoint within 20 s"
                await asyncio.sleep(0.02)
            await asyncio.sleep(random.Random(seed).uniform(0, 0.4))
            seen = durable_bytes(dest)
            assert process.returncode is None, "finished before the cut"
        finally:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
            await process.communicate()
        copy = await asyncio.create_subprocess_exec("cp", "--sparse=always", image, after)
        assert await copy.wait() == 0  # the disk as the power cut left it
    http_server.faults["big.bin"].rate = None  # the same file, served fast for the rerun
    return data, url, seen, after


async def test_power_cut_never_leaves_the_journal_ahead_of_the_data(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """After a power cut (not just a killed process: bytes written but not yet flushed
    are lost too), every byte range the surviving journal claims holds the server's
    bytes in the part file, nothing is at the final path, and the same command then
    produces the exact file. (Whether it resumes is wip_local.py's concern: today the
    journal's last commits do not survive a power cut.)"""
    data, url, _, after = await cut_power(http_server, tmp_path, seed=7)
    with ext4_disk(after, tmp_path / "after") as disk:
        dest = disk / "d"
        reboot(dest)
        assert not (dest / "big.bin").exists()
        rows = journal_rows(dest)
        for name, ranges in rows.items():
            held = (dest / part_name(name)).read_bytes()
            for start, end in ranges:
                assert sha(held[start:end]) == sha(data[start:end]), (name, start, end)
        process = await cli("-s", "4", "-d", str(dest), url)
        out, err = await process.communicate()
        assert process.returncode == 0, err
        assert json.loads(out)["ok"] is True
        assert sha((dest / "big.bin").read_bytes()) == sha(data)
        assert not (dest / part_name("big.bin")).exists()


async def test_disk_full_at_preallocation_leaves_no_part_and_no_open_file(
    http_server: FaultServer,
    small_disk: Path,
) -> None:
    """A 3 MiB file (size known, so its part file is reserved with posix_fallocate) on
    a 2 MiB disk fails like a full disk during the transfer: LocalFileError naming the
    file, ``Result.path`` where it would have been, no part file left and no
    descriptor open; the other file of the run is saved."""
    small = random_bytes(100 * KiB)
    urls = [http_server.add("big.bin", random_bytes(3 * MiB)), http_server.add("s.bin", small)]
    dest = small_disk / "d"
    results = await aiodl.download_many(urls, dest, connections=1, backoff=0.01)
    error = results[0].error
    assert isinstance(error, aiodl.LocalFileError)
    assert "No space left on device" in str(error)
    assert "big.bin" in str(error)
    assert results[0].path == dest / "big.bin"
    assert results[1].ok
    assert sha((dest / "s.bin").read_bytes()) == sha(small)
    assert sorted(p.name for p in dest.iterdir()) == ["s.bin"]
    assert open_below(small_disk) == []


async def test_power_cut_resumes_from_the_last_checkpoint(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """After a power cut the same command resumes at the last checkpoint (README,
    "Resume and integrity"): the journal commits with synchronous=FULL, so a row a reader
    could see before the cut survives it, and the rerun fetches only the missing bytes."""
    data, url, seen, after = await cut_power(http_server, tmp_path, seed=7)
    assert seen > 0
    with ext4_disk(after, tmp_path / "after") as disk:
        dest = disk / "d"
        reboot(dest)
        assert durable_bytes(dest) >= seen
        already = len(http_server.requests_for("big.bin"))
        process = await cli("-s", "4", "-d", str(dest), url)
        out, err = await process.communicate()
        assert process.returncode == 0, err
        assert json.loads(out)["resumed"] is True
        assert sha((dest / "big.bin").read_bytes()) == sha(data)
        again = http_server.requests_for("big.bin")[already:]
        assert all((seen_request.range_start or 0) > 0 for seen_request in again)
