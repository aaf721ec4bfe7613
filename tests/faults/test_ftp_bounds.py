"""FTP servers that lie about a transfer's end or never stop talking, against real servers
on 127.0.0.1: a short RETR without SIZE, endless greetings, trees and listings."""

from __future__ import annotations

from pathlib import Path

import pytest

import aiodl
from tests.conftest import random_bytes, sha
from tests.servers.ftp import RunningFTP

pytestmark = pytest.mark.anyio

FAST = {"backoff": 0.01}
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
