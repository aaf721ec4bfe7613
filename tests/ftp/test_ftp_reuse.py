"""FTP logins are made once per connection, never per segment or per refusal, and a
server's refusal of REST is remembered: against pyftpdlib (whose logins can be made slow)
and vsftpd on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

import aiodl
import testing
from testing import MiB, random_bytes, require_vsftpd, sha
from testing.servers import vsftpd
from testing.servers.ftp import RunningFTP

pytestmark = pytest.mark.anyio

SLOW_LOGIN = 0.3  # seconds; a server hashing passwords with argon2 takes seconds
FAST = {**testing.FAST, "min_segment_size": MiB}


def _logged_in_once_per_connection(ftp: RunningFTP, connections: int) -> None:
    assert ftp.log.count("USER") == ftp.log.control_connections
    assert ftp.log.count("USER") <= connections


async def test_segments_reuse_their_logins(ftp: RunningFTP, tmp_path: Path) -> None:
    """Split 8 with work stealing: a segment that ends mid-file hands its logged-in
    connection to the next segment instead of logging in again."""
    data = random_bytes(32 * MiB)
    (ftp.root / "big.bin").write_bytes(data)
    ftp.faults.login_delay = SLOW_LOGIN
    result = await aiodl.download(ftp.url("big.bin"), tmp_path / "d", split=8, **FAST)
    assert sha((tmp_path / "d" / "big.bin").read_bytes()) == sha(data)
    assert result.delivered == {ftp.url("big.bin"): len(data)}
    _logged_in_once_per_connection(ftp, 8)
    assert ftp.log.count("REST") > 8  # segments were stolen and fetched again


async def test_a_mirror_logs_in_once_per_connection(ftp: RunningFTP, tmp_path: Path) -> None:
    """16 files of 3 MiB mirrored with 16 connections, each file in segments."""
    files = {f"pub/f{i:02d}.bin": random_bytes(3 * MiB + i) for i in range(16)}
    (ftp.root / "pub").mkdir()
    for name, data in files.items():
        (ftp.root / name).write_bytes(data)
    ftp.faults.login_delay = SLOW_LOGIN
    results = await aiodl.download_many(
        [ftp.url("pub/")], tmp_path / "d", connections=16, per_host=16, **FAST
    )
    assert [r.error for r in results] == [None] * 16
    for name, data in files.items():
        assert sha((tmp_path / "d" / name.removeprefix("pub/")).read_bytes()) == sha(data)
    _logged_in_once_per_connection(ftp, 16)


async def test_refusals_keep_the_login(ftp: RunningFTP, tmp_path: Path) -> None:
    """A 550 (no such file) leaves the connection in order: the next file uses it."""
    (ftp.root / "ok.txt").write_bytes(b"ok")
    urls = [ftp.url(f"missing{i}.txt") for i in range(4)] + [ftp.url("ok.txt")]
    results = await aiodl.download_many(urls, tmp_path / "d", connections=1, **FAST)
    assert [r.ok for r in results] == [False] * 4 + [True]
    assert ftp.log.count("USER") == 1


async def test_a_refused_rest_is_remembered_for_the_server(ftp: RunningFTP, tmp_path: Path) -> None:
    """REST answered 502: one REST is ever sent to the server in the run, the first file
    restarts as one stream once, the next is one stream from the start, and each byte is
    counted once in progress and in Result.delivered. (One connection: the order is fixed.)"""
    files = {"a.bin": random_bytes(8 * MiB), "b.bin": random_bytes(6 * MiB)}
    for name, data in files.items():
        (ftp.root / name).write_bytes(data)
    ftp.faults.refuse_rest = True
    events: list[aiodl.Event] = []
    urls = [ftp.url(name) for name in files]
    results = await aiodl.download_many(
        urls, tmp_path / "d", split=8, connections=1, progress=events.append, **FAST
    )
    assert ftp.log.count("REST") == 1
    assert sorted(ftp.log.args("RETR")) == ["a.bin", "a.bin", "b.bin"]
    assert ftp.log.count("USER") == 1
    for index, (result, (name, data)) in enumerate(zip(results, files.items(), strict=True)):
        assert sha((tmp_path / "d" / name).read_bytes()) == sha(data)
        assert result.delivered == {ftp.url(name): len(data)}
        advanced = [e.nbytes for e in events if isinstance(e, aiodl.Advanced) and e.index == index]
        assert sum(advanced) == len(data)


@pytest.fixture
def vsftpd_log(tmp_path: Path) -> Path:
    require_vsftpd()
    return tmp_path / "work" / "protocol.log"


async def test_vsftpd_segments_reuse_their_logins(vsftpd_log: Path, tmp_path: Path) -> None:
    """The same against vsftpd, which ends a RETR whose data connection we closed with
    426: every segment's connection is reused, so it logs in at most 8 times."""
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    data = random_bytes(24 * MiB + 3)
    (root / "big.bin").write_bytes(data)
    (root / "big.bin").chmod(0o644)
    extra = f"xferlog_enable=YES\nlog_ftp_protocol=YES\nvsftpd_log_file={vsftpd_log}\n"
    with vsftpd.serve(root, tmp_path / "work", extra=extra) as port:
        readiness_check = len(vsftpd_log.read_text())  # serve() logged in once to see
        url = f"ftp://127.0.0.1:{port}/big.bin"
        result = await aiodl.download(url, tmp_path / "d", split=8, **FAST)
    assert sha((tmp_path / "d" / "big.bin").read_bytes()) == sha(data)
    assert result.delivered == {url: len(data)}
    log = vsftpd_log.read_text()[readiness_check:]
    assert 1 <= log.count('"USER ') <= 8
    assert log.count('"REST ') > 8  # segments were stolen and fetched again
