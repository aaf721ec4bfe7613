"""The FTP driver against a real pyftpdlib server on 127.0.0.1: single files and segments."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import aiodl
from aiodl._disk.names import part_name
from testing import MiB, random_bytes, sha
from testing.servers.ftp import RunningFTP

pytestmark = pytest.mark.anyio


async def test_segmented_64_mib_download_is_identical(ftp: RunningFTP, tmp_path: Path) -> None:
    data = random_bytes(64 * MiB + 5)
    (ftp.root / "big.bin").write_bytes(data)
    dest = tmp_path / "dest"
    result = await aiodl.download(ftp.url("big.bin"), dest, split=8)
    assert result.ok
    assert sha((dest / "big.bin").read_bytes()) == sha(data)
    assert ftp.log.count("REST") >= 2
    assert not (dest / part_name("big.bin")).exists()


async def test_nested_path_and_login(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "a" / "b").mkdir(parents=True)
    (ftp.root / "a" / "b" / "f.txt").write_bytes(b"nested")
    url = ftp.url("a/b/f.txt", user="alice:wonder")
    result = await aiodl.download(url, tmp_path / "dest")
    assert result.path is not None
    assert result.path.read_bytes() == b"nested"
    assert "USER alice" in ftp.log.commands
    assert "wonder" not in result.url


async def test_credentials_from_auth_option(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "f.txt").write_bytes(b"mine")
    result = await aiodl.download(ftp.url("f.txt"), tmp_path / "d", auth=("alice", "wonder"))
    assert result.ok
    assert "USER alice" in ftp.log.commands
    assert "anonymous" not in " ".join(ftp.log.commands)


async def test_paths_are_sent_relative_to_the_login_folder(ftp: RunningFTP, tmp_path: Path) -> None:
    """RFC 1738: ``ftp://host/a/f`` is ``a/f`` below the login folder, as curl reads it."""
    (ftp.root / "a").mkdir()
    (ftp.root / "a" / "f.txt").write_bytes(b"relative")
    result = await aiodl.download(ftp.url("a/f.txt"), tmp_path / "d")
    assert result.ok
    assert ftp.log.args("RETR") == ["a/f.txt"]


async def test_login_failure_is_a_clear_ftp_error_without_retries(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "f.txt").write_bytes(b"x")
    url = ftp.url("f.txt", user="alice:wrong")
    result = (await aiodl.download_many([url], tmp_path / "dest", backoff=0.01))[0]
    assert isinstance(result.error, aiodl.FTPError)
    assert "530" in str(result.error)
    assert "wrong" not in str(result.error)
    assert "wrong" not in result.url
    assert ftp.log.count("PASS") == 1


async def test_missing_file_is_not_retried(ftp: RunningFTP, tmp_path: Path) -> None:
    result = (await aiodl.download_many([ftp.url("nope.bin")], tmp_path / "d", backoff=0.01))[0]
    assert isinstance(result.error, aiodl.FTPError)
    assert ftp.log.count("RETR") == 1
    assert list((tmp_path / "d").iterdir()) == []


async def test_many_small_files_reuse_connections(ftp: RunningFTP, tmp_path: Path) -> None:
    files = {f"f{i}.bin": random_bytes(10_000 + i) for i in range(20)}
    for name, data in files.items():
        (ftp.root / name).write_bytes(data)
    urls = [ftp.url(name) for name in files]
    results = await aiodl.download_many(urls, tmp_path / "d", connections=4)
    assert all(r.ok for r in results)
    for name, data in files.items():
        assert (tmp_path / "d" / name).read_bytes() == data
    assert ftp.log.count("USER") <= 4
    assert ftp.log.count("TYPE") == ftp.log.count("USER")  # binary mode once per login


async def test_complete_file_is_skipped(ftp: RunningFTP, tmp_path: Path) -> None:
    data = random_bytes(5000)
    (ftp.root / "same.bin").write_bytes(data)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "same.bin").write_bytes(data)
    served = int((ftp.root / "same.bin").stat().st_mtime)  # MDTM tells whole seconds
    os.utime(tmp_path / "d" / "same.bin", (served, served))  # the server's time: the same
    result = await aiodl.download(ftp.url("same.bin"), tmp_path / "d")
    assert result.skipped
    assert (tmp_path / "d" / "same.bin").read_bytes() == data


async def test_empty_file(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "empty").write_bytes(b"")
    result = await aiodl.download(ftp.url("empty"), tmp_path / "d")
    assert result.ok
    assert (tmp_path / "d" / "empty").read_bytes() == b""


async def test_login_from_a_netrc_file(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "f.txt").write_bytes(b"netrc")
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login alice password wonder\n")
    rc.chmod(0o600)
    result = await aiodl.download(ftp.url("f.txt"), tmp_path / "d", netrc=rc)
    assert result.ok
    assert "USER alice" in ftp.log.commands


async def test_url_credentials_win_over_netrc(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "f.txt").write_bytes(b"x")
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login nobody password nothing\n")
    rc.chmod(0o600)
    url = ftp.url("f.txt", user="alice:wonder")
    assert (await aiodl.download(url, tmp_path / "d", netrc=str(rc))).ok
    assert ftp.log.count("USER") == 1
    assert "USER alice" in ftp.log.commands


async def test_missing_netrc_file_is_an_invalid_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="netrc"):
        await aiodl.download_many(["ftp://127.0.0.1/x"], tmp_path, netrc=tmp_path / "none")


async def test_password_never_in_logs(
    ftp: RunningFTP, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (ftp.root / "pub").mkdir()
    ftp.faults.listings["/pub"] = ["type=file;size=4; ../x"]
    urls = [ftp.url("f.txt", user="alice:s3cr3t"), ftp.url("pub/", user="alice:wonder2")]
    with caplog.at_level(logging.DEBUG):
        await aiodl.download_many(urls, tmp_path / "d", retries=1, backoff=0.01)
    assert caplog.records
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "s3cr3t" not in text
    assert "wonder2" not in text


async def test_size_unsupported_falls_back_to_mlst(ftp: RunningFTP, tmp_path: Path) -> None:
    """Without SIZE the size (and time) come from MLST, so the file is still segmented."""
    data = random_bytes(3 * MiB)
    (ftp.root / "m.bin").write_bytes(data)
    os.utime(ftp.root / "m.bin", (1_500_000_000, 1_500_000_000))
    ftp.faults.unsupported = {"SIZE"}
    result = await aiodl.download(ftp.url("m.bin"), tmp_path / "d", split=3, min_segment_size=MiB)
    assert result.ok
    assert sha((tmp_path / "d" / "m.bin").read_bytes()) == sha(data)
    assert ftp.log.count("SIZE") == 1  # refused once, not asked again on this server
    assert ftp.log.count("MLST") == ftp.log.count("RETR")  # each request checks the version
    assert ftp.log.count("REST") >= 1
    assert (tmp_path / "d" / "m.bin").stat().st_mtime == 1_500_000_000
