"""FTP servers that lie about a transfer's end or never stop talking, against real servers
on 127.0.0.1: a short RETR without SIZE, endless greetings, trees and listings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import aiodl
import aiodl._core.treewalk
import aiodl._protocols.ftp.folders
from testing import FAST, random_bytes, sha
from testing.servers.ftp import RunningFTP
from testing.servers.ftpscript import Script, scripted

pytestmark = pytest.mark.anyio
T = TypeVar("T")

NO_SIZE = {"SIZE": b"550 Could not get file size.\r\n"}


@pytest.mark.parametrize(
    ("cut_mode", "final_reply", "error", "says"),
    [
        ("abort", "send", aiodl.TransferError, "426"),
        ("short", "withhold", aiodl.DownloadTimeout, "timed out"),
        ("short", "hang_up", aiodl.TransferError, "closed"),
    ],
)
async def test_a_short_transfer_without_size_fails_unless_the_server_confirms_it(
    ftp: RunningFTP, tmp_path: Path, cut_mode: str, final_reply: str, error: type, says: str
) -> None:
    """SIZE answered 550, 1000 of 2048 bytes sent, then 426, no final reply at all, or the
    control connection closed: each is a failed transfer, and nothing sits at the final
    path."""
    (ftp.root / "f.bin").write_bytes(random_bytes(2048))
    ftp.faults.raw_replies = NO_SIZE
    ftp.faults.cut_at, ftp.faults.cut_mode = 1000, cut_mode  # type: ignore[assignment]
    ftp.faults.final_reply = final_reply  # type: ignore[assignment]
    dest = tmp_path / "d"
    urls = [ftp.url("f.bin")]
    [result] = await aiodl.download_many(urls, dest, retries=0, timeout=0.5, **FAST)
    assert isinstance(result.error, error)
    assert says in str(result.error)
    assert list(dest.iterdir()) == []


async def test_a_426_without_size_is_retried_from_byte_0(ftp: RunningFTP, tmp_path: Path) -> None:
    """The first RETR stops at byte 1000 with 426: the retry fetches the whole file, whose
    226 confirms it, so the Result is ok and not unverified."""
    data = random_bytes(2048)
    (ftp.root / "f.bin").write_bytes(data)
    ftp.faults.raw_replies = NO_SIZE
    ftp.faults.cut_at, ftp.faults.cut_mode, ftp.faults.cut_times = 1000, "abort", 1
    events: list[aiodl.Event] = []
    result = await aiodl.download(ftp.url("f.bin"), tmp_path / "d", progress=events.append, **FAST)
    assert result.size == 2048
    assert not result.unverified
    assert sha((tmp_path / "d" / "f.bin").read_bytes()) == sha(data)
    assert [type(e) for e in events if isinstance(e, aiodl.Retried)] == [aiodl.Retried]
    assert ftp.log.count("RETR") == 2
    assert sum(e.nbytes for e in events if isinstance(e, aiodl.Advanced)) == 2048


async def _download_from(script: Script, tmp_path: Path, **options: Any) -> aiodl.Result:
    """One file from the scripted listener, given at most a minute before the test fails
    instead of hanging (which is what the bugs did)."""
    urls = [f"ftp://127.0.0.1:{script.port}/f.bin"]
    async with asyncio.timeout(60):
        [result] = await aiodl.download_many(urls, tmp_path / "d", **FAST, **options)
    return result


async def test_a_greeting_of_endless_120_replies_times_out(tmp_path: Path) -> None:
    """A server answering "120 wait" every 50 ms, for ever: the whole greeting has one
    deadline (not one per reply), so each try ends after ``timeout``."""

    async def wait_for_ever(script: Script, writer: asyncio.StreamWriter) -> None:
        for _ in range(10_000):  # 500 s of it
            if not await script.write(writer, b"120 ready in a moment\r\n"):
                return
            await asyncio.sleep(0.05)

    async with scripted(wait_for_ever) as script:
        result = await _download_from(script, tmp_path, timeout=0.5, retries=1)
        assert script.connections == 2
    assert isinstance(result.error, aiodl.DownloadTimeout)
    assert list((tmp_path / "d").iterdir()) == []


async def test_a_multi_line_reply_of_empty_lines_is_cut_off(tmp_path: Path) -> None:
    """A greeting that goes on with empty lines for ever: every line counts against the
    reply's limits, so the client hangs up after a few of them (instead of reading tens of
    MiB until the timeout) and says why."""

    async def empty_lines(script: Script, writer: asyncio.StreamWriter) -> None:
        await script.write(writer, b"220-welcome\r\n")
        while await script.write(writer, b"\r\n" * 32768):
            pass

    async with scripted(empty_lines) as script:
        result = await _download_from(script, tmp_path, timeout=5, retries=0)
        sent = script.sent
    assert isinstance(result.error, aiodl.TransferError)
    assert "reply too long" in str(result.error)
    assert sent < 32 << 20  # what the kernel's socket buffers hold, at most


def _binary_tree(root: Path, depth: int) -> int:
    """Two subfolders per folder, ``depth`` levels below ``root``, and one file in each
    folder; returns how many folders there are (``root`` included)."""
    root.mkdir()
    (root / "f.txt").write_bytes(root.name.encode())
    if depth == 0:
        return 1
    return 1 + sum(_binary_tree(root / side, depth - 1) for side in ("a", "b"))


async def test_a_tree_walk_stops_at_the_folder_cap_with_one_failure(
    ftp: RunningFTP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree of 63 folders and a cap of 10: ten folders are listed, their ten files are
    fetched, and one failed Result says the walk reached the cap."""
    monkeypatch.setattr(aiodl._core.treewalk, "MAX_FOLDERS", 10)
    assert _binary_tree(ftp.root / "pub", 5) == 63
    results = await aiodl.download_many([ftp.url("pub/")], tmp_path / "d")
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1
    assert "limit of 10 folders" in str(failed[0].error)
    assert len([r for r in results if r.ok]) == 10
    assert ftp.log.count("MLSD") == 10
    assert len(list((tmp_path / "d").rglob("f.txt"))) == 10


async def _worst_lateness(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result, and the worst lateness of a 5 ms ticker on the same loop while
    it ran: how long the loop was kept from everything else."""
    loop = asyncio.get_running_loop()
    worst = 0.0

    async def tick() -> None:
        nonlocal worst
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - before - 0.005)

    ticker = asyncio.create_task(tick())
    try:
        return await work, worst
    finally:
        ticker.cancel()


async def test_a_200000_entry_listing_never_stalls_the_loop(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A folder of 200,000 entries (14 MiB of MLSD): parsed as it arrives and walked
    without holding the event loop for more than a moment (it used to stall for seconds,
    and hold the whole listing three times over)."""
    (ftp.root / "pub").mkdir()
    lines = [f"type=file;size={i};modify=20260101000000; file{i:07d}.dat" for i in range(200_000)]
    ftp.faults.listings["/pub"] = lines
    work = aiodl.download_many([ftp.url("pub/")], tmp_path / "d", include=["*.none"])
    results, worst = await _worst_lateness(work)
    assert results == []
    assert ftp.log.count("MLSD") == 1
    assert worst < 0.2


async def test_a_listing_of_too_many_entries_fails_that_folder(
    ftp: RunningFTP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap on entries per listing a folder fails, saying so; the walk goes on."""
    monkeypatch.setattr(aiodl._protocols.ftp.folders, "MAX_ENTRIES", 1000)
    (ftp.root / "pub" / "big").mkdir(parents=True)
    (ftp.root / "pub" / "ok.txt").write_bytes(b"ok")
    ftp.faults.listings["/pub/big"] = [f"type=file;size=1; f{i}" for i in range(1001)]
    results = await aiodl.download_many([ftp.url("pub/")], tmp_path / "d")
    assert [r.ok for r in results] == [True, False]
    assert isinstance(results[1].error, aiodl.FTPError)
    assert "more than 1000 entries" in str(results[1].error)
    assert results[1].url.endswith("/pub/big/")
