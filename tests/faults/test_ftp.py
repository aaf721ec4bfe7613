"""FTP servers that misbehave, each against a real pyftpdlib server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from pathlib import Path

import pytest

import aiodl
import testing
from testing import MiB, random_bytes, sha
from testing.servers.ftp import RunningFTP, running_ftp

pytestmark = pytest.mark.anyio

FAST = {**testing.FAST, "min_segment_size": MiB}


def served(ftp: RunningFTP, name: str, size: int) -> bytes:
    data = random_bytes(size)
    (ftp.root / name).write_bytes(data)
    return data


async def test_rest_refused_falls_back_to_one_stream(ftp: RunningFTP, tmp_path: Path) -> None:
    data = served(ftp, "norest.bin", 4 * MiB)
    ftp.faults.refuse_rest = True
    result = await aiodl.download(ftp.url("norest.bin"), tmp_path / "d", split=4, **FAST)
    assert result.ok
    assert sha((tmp_path / "d" / "norest.bin").read_bytes()) == sha(data)


async def test_rest_ignored_is_detected_and_the_file_restarts(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A server that says 350 to REST but sends from byte 0: the segment reaching the end
    of the file sees too many bytes, and the file is fetched again as one stream."""
    data = served(ftp, "liar.bin", 4 * MiB)
    ftp.faults.ignore_rest = True
    result = await aiodl.download(ftp.url("liar.bin"), tmp_path / "d", split=4, **FAST)
    assert result.ok
    assert sha((tmp_path / "d" / "liar.bin").read_bytes()) == sha(data)
    assert ftp.log.count("RETR") > 4  # the segments, then the stream from byte 0


@pytest.mark.parametrize("mode", ["short", "abort"])
async def test_data_connection_cut_is_retried_from_where_it_stopped(
    ftp: RunningFTP, tmp_path: Path, mode: str
) -> None:
    """The data connection ends early, with a lying 226 or a 426: the segment retries from
    the byte where it stopped, and the file is identical."""
    data = served(ftp, "cut.bin", 6 * MiB)
    cut = 3 * MiB + 12345
    ftp.faults.cut_at, ftp.faults.cut_mode, ftp.faults.cut_times = cut, mode, 1  # type: ignore[assignment]
    events: list[aiodl.Event] = []
    result = await aiodl.download(
        ftp.url("cut.bin"), tmp_path / "d", split=1, progress=events.append, **FAST
    )
    assert result.ok
    assert sha((tmp_path / "d" / "cut.bin").read_bytes()) == sha(data)
    assert str(cut) in ftp.log.args("REST")
    assert sum(isinstance(event, aiodl.Retried) for event in events) == 1


async def test_persistent_cut_fails_and_leaves_nothing(ftp: RunningFTP, tmp_path: Path) -> None:
    served(ftp, "broken.bin", 2 * MiB)
    ftp.faults.cut_at = 0  # every RETR ends at once
    dest = tmp_path / "d"
    urls = [ftp.url("broken.bin")]
    result = (await aiodl.download_many(urls, dest, split=1, retries=2, **FAST))[0]
    assert isinstance(result.error, aiodl.TransferError)
    assert list(dest.iterdir()) == []
    assert ftp.log.count("RETR") == 3


async def test_epsv_refused_uses_pasv(ftp: RunningFTP, tmp_path: Path) -> None:
    ftp.faults.unsupported = {"EPSV"}
    data = served(ftp, "p.bin", 3 * MiB)
    urls = [ftp.url("p.bin")]
    result = (await aiodl.download_many(urls, tmp_path / "d", split=3, **FAST))[0]
    assert result.ok
    assert sha((tmp_path / "d" / "p.bin").read_bytes()) == sha(data)
    assert ftp.log.count("PASV") >= 3
    assert ftp.log.count("EPSV") == 1  # refused once, not asked again on this server


async def test_pasv_address_of_another_host_is_ignored(tmp_path: Path) -> None:
    """PASV replies name 127.0.0.2 (where the test listens on the same ports): data
    connections still go to the control connection's host, and nothing reaches the other."""
    root = tmp_path / "served"
    root.mkdir()
    data = random_bytes(2 * MiB)
    (root / "f.bin").write_bytes(data)
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    with running_ftp(root, masquerade="127.0.0.2") as ftp:
        ftp.faults.unsupported = {"EPSV"}
        result = await aiodl.download(ftp.url("f.bin"), tmp_path / "d", split=2, **FAST)
        assert ftp.trap is not None
        assert ftp.trap.hits == 0
        assert ftp.log.count("PASV") >= 1
    assert result.ok
    assert (tmp_path / "d" / "f.bin").read_bytes() == data


async def test_too_many_connections_lowers_the_limit_and_finishes(tmp_path: Path) -> None:
    """A server allowing 2 connections per address, asked for 8 at once: refusals lower
    the host's limit instead of failing, and every file arrives."""
    root = tmp_path / "served"
    root.mkdir()
    files = {f"f{i}.bin": random_bytes(200_000 + i) for i in range(12)} | {
        "big.bin": random_bytes(6 * MiB)
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    with running_ftp(root, max_per_ip=2) as ftp:
        urls = [ftp.url(name) for name in files]
        results = await aiodl.download_many(
            urls, tmp_path / "d", connections=8, per_host=8, split=4, **FAST
        )
        assert ftp.log.refused > 0
    assert [r.error for r in results] == [None] * len(files)
    for name, data in files.items():
        assert sha((tmp_path / "d" / name).read_bytes()) == sha(data)


async def test_server_closing_idle_connections_costs_no_retry(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A pooled connection the server closed meanwhile is replaced at once: no Retried
    event, no backoff, every file complete."""
    files = {f"f{i}.bin": random_bytes(1000 + i) for i in range(6)}
    for name, data in files.items():
        (ftp.root / name).write_bytes(data)
    ftp.faults.close_after_transfer = True
    events: list[aiodl.Event] = []
    urls = [ftp.url(name) for name in files]
    results = await aiodl.download_many(urls, tmp_path / "d", connections=1, progress=events.append)
    assert all(r.ok for r in results)
    assert not any(isinstance(event, aiodl.Retried) for event in events)
    assert ftp.log.count("USER") == len(files)


async def test_control_connection_stall_times_out(ftp: RunningFTP, tmp_path: Path) -> None:
    served(ftp, "slow.bin", 1000)
    ftp.faults.silent = {"RETR"}
    dest = tmp_path / "d"
    urls = [ftp.url("slow.bin")]
    result = (await aiodl.download_many(urls, dest, timeout=0.3, retries=1, **FAST))[0]
    assert isinstance(result.error, aiodl.DownloadTimeout)
    assert list(dest.iterdir()) == []


async def test_non_utf8_reply_is_read_not_fatal(ftp: RunningFTP, tmp_path: Path) -> None:
    """Reply text is for people: bytes that are not UTF-8 become U+FFFD, the code counts."""
    ftp.faults.raw_replies = {"RETR": b"550 \xff\xfe not here\r\n"}
    result = (await aiodl.download_many([ftp.url("x.bin")], tmp_path / "d", **FAST))[0]
    assert isinstance(result.error, aiodl.FTPError)
    assert "550 \ufffd\ufffd not here" in str(result.error)


async def test_garbage_on_the_control_connection_is_a_transfer_error(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    ftp.faults.raw_replies = {"SIZE": b"HTTP/1.1 400 Bad Request\r\n"}
    urls = [ftp.url("x.bin")]
    result = (await aiodl.download_many(urls, tmp_path / "d", retries=1, **FAST))[0]
    assert isinstance(result.error, aiodl.TransferError)
    assert "not an FTP reply" in str(result.error)


async def test_name_with_a_line_break_is_a_clear_error_and_leaks_nothing(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A listed name holding CR cannot be sent back as a command (it would smuggle a
    second command): that file fails with FTPError, its data connection is closed (the
    warnings filter turns a leaked socket into a failure), and the rest arrive."""
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "good.txt").write_bytes(b"good")
    ftp.faults.listings["/pub"] = ["type=file;size=3; bad\rname", "type=file;size=4; good.txt"]
    ftp.faults.unsupported = {"EPSV"}  # PASV: the command goes out after the data connect
    results = await aiodl.download_many([ftp.url("pub/")], tmp_path / "d", connections=1)
    assert isinstance(results[0].error, aiodl.FTPError)
    assert "line break" in str(results[0].error)
    assert results[1].ok
    assert not any("\r" in line for line in ftp.log.commands)
    del results  # the error's traceback holds the frames; a leaked socket warns when freed
    gc.collect()


async def test_every_connection_refused_with_421_gives_up_after_the_retries(
    tmp_path: Path,
) -> None:
    """One connection per address allowed, and the test holds it: every login attempt
    gets "421 too many connections". The limit drops to one and the file is retried, but
    a refusal that never ends fails after ``retries`` further tries instead of waiting
    forever."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "f.bin").write_bytes(b"x" * 1000)
    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    with (
        running_ftp(root, max_per_ip=1) as ftp,
        socket.create_connection(("127.0.0.1", ftp.port)) as hog,
    ):
        assert hog.recv(100).startswith(b"220")  # counted by the server from now on
        urls = [ftp.url("f.bin")]
        result = (await aiodl.download_many(urls, tmp_path / "d", retries=2, **FAST))[0]
        assert ftp.log.refused == 3
        assert ftp.log.commands == []
    assert isinstance(result.error, aiodl.ConnectionLimitError)
    assert "421" in str(result.error)
    assert list((tmp_path / "d").iterdir()) == []


async def test_wrong_login_is_tried_once_per_source_and_never_retried(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A 530 is permanent: each file (and the folder URL, whose listing needs the login)
    fails with a clear FTPError after one PASS, with the password masked everywhere."""
    for i in range(4):
        (ftp.root / f"f{i}.bin").write_bytes(b"x")
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "a.bin").write_bytes(b"a")
    urls = [ftp.url(f"f{i}.bin", user="alice:bad-pw") for i in range(4)]
    urls.append(ftp.url("pub/", user="alice:bad-pw"))
    results = await aiodl.download_many(urls, tmp_path / "d", retries=3, **FAST)
    assert len(results) == 5
    assert all(isinstance(r.error, aiodl.FTPError) for r in results)
    assert all("530" in str(r.error) and "bad-pw" not in str(r.error) for r in results)
    assert all("bad-pw" not in r.url for r in results)
    assert results[4].url.endswith("/pub/")
    assert ftp.log.count("PASS") == 5
    assert ftp.log.count("RETR") == ftp.log.count("MLSD") == 0
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.parametrize(
    "verb", ["USER", "PASS", "TYPE", "SIZE", "EPSV", "PASV", "REST", "MLSD", "LIST"]
)
async def test_a_command_never_answered_times_out(
    ftp: RunningFTP, tmp_path: Path, verb: str
) -> None:
    """The server reads the command and never replies (at login, while describing the
    file, opening the data connection, resuming a segment, or listing a folder): each try
    ends after ``timeout``, the file fails with DownloadTimeout after the retries, and
    nothing is left in dest."""
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "f.bin").write_bytes(random_bytes(2 * MiB))
    ftp.faults.silent = {verb}
    url = ftp.url("pub/" if verb in ("MLSD", "LIST") else "pub/f.bin")
    ftp.faults.unsupported = {"PASV": {"EPSV"}, "LIST": {"MLSD"}}.get(verb, set())
    began = time.monotonic()
    results = await aiodl.download_many(
        [url], tmp_path / "d", split=2, timeout=0.3, retries=1, **FAST
    )
    assert time.monotonic() - began < 5
    [result] = results
    assert isinstance(result.error, aiodl.DownloadTimeout)
    assert "timed out" in str(result.error)
    assert ftp.log.count(verb) == 2  # the try and one retry
    assert list((tmp_path / "d").iterdir()) == []


async def test_a_server_that_never_greets_times_out(tmp_path: Path) -> None:
    """A listener that accepts and stays silent (no 220 banner): each connection is given
    up after ``timeout``, and the file fails after the retries."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        urls = [f"ftp://127.0.0.1:{port}/f.bin"]
        results = await aiodl.download_many(urls, tmp_path / "d", timeout=0.2, retries=2, **FAST)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert isinstance(results[0].error, aiodl.DownloadTimeout)
    assert len(accepted) == 3
    assert list((tmp_path / "d").iterdir()) == []


def _listing_line(style: str, name: str, size: int) -> str:
    if style == "unix":
        return f"-rw-r--r--   1 owner group {size:>8} Nov 23 12:00 {name}"
    if style == "dos":
        return f"11-23-26  01:05PM  {size:>20} {name}"
    return f"type=file;size={size}; {name}"


@pytest.mark.parametrize("style", ["mlsd", "unix", "dos", "nlst"])
async def test_hostile_listing_names_never_leave_dest(
    ftp: RunningFTP, tmp_path: Path, style: str
) -> None:
    """Names with ``..``, an absolute path, ``/``, NUL, terminal escapes, backslashes,
    Windows device names, and two names that clean up to one, in each listing format:
    unsafe ones are refused (UnsafePathError, no RETR), the rest are saved under a
    cleaned name inside dest, byte for byte, and nothing appears outside dest. (NLST
    lists the server's real folder, where names with ``/`` or NUL cannot exist.)"""
    pub = ftp.root / "pub"
    pub.mkdir()
    outside = tmp_path / "outside"
    unsafe = ["../escape.txt", f"{outside}/abs.txt", "a/b.txt", "a\x00b.txt"]
    saved = {
        "..\\..\\evil.txt": "_.._evil.txt",
        "\x1b[2Jclear.txt": "_[2Jclear.txt",
        "CON": "_CON",
        "nul.txt": "_nul.txt",
        "x:y.txt": "x_y.txt",
        "good.txt": "good.txt",
    }
    collides = "x?y.txt"  # also x_y.txt once cleaned: the later name is refused
    for name in [*saved, collides]:
        (pub / name).write_bytes(name.encode())
    names = [*unsafe, *saved, collides] if style != "nlst" else [*saved, collides]
    ftp.faults.listings["/pub"] = [_listing_line(style, n, len(n.encode())) for n in names]
    if style == "nlst":
        ftp.faults.listings["/pub"] = ["?? not a LIST line"]
    if style != "mlsd":
        ftp.faults.unsupported = {"MLSD"}
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest)
    refused = [r for r in results if not r.ok]
    assert len(refused) == len(names) - len(saved)
    assert all(isinstance(r.error, aiodl.UnsafePathError) and r.path is None for r in refused)
    assert {r.path for r in results if r.ok} == {dest / local for local in saved.values()}
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == {
        local: name.encode() for name, local in saved.items()
    }
    assert sorted(ftp.log.args("RETR")) == sorted(f"pub/{name}" for name in saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "served"]
    assert ftp.log.count("NLST") == (1 if style == "nlst" else 0)


class _EndlessListing(dict[str, list[str]]):
    """Every folder below /pub holds a folder ``a``: a tree without end."""

    def get(self, key: str, default: list[str] | None = None) -> list[str] | None:  # type: ignore[override]
        return ["type=dir; a"] if key.startswith("/pub") else default


async def test_a_listing_without_end_is_cut_off_at_the_depth_limit(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A server whose every folder holds another folder: the walk stops 64 folders down
    with one refused entry instead of listing for ever, and writes nothing."""
    ftp.faults.listings = _EndlessListing()
    dest = tmp_path / "d"
    [result] = await aiodl.download_many([ftp.url("pub/")], dest)
    assert isinstance(result.error, aiodl.UnsafePathError)
    assert "deeper than 64" in str(result.error)
    assert ftp.log.count("MLSD") == 65  # pub and 64 folders below it
    assert list(dest.rglob("*")) == []
