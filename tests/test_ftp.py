"""The FTP driver against a real pyftpdlib server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiodl
from tests.conftest import random_bytes
from tests.servers.ftp import RunningFTP, running_ftp

pytestmark = pytest.mark.anyio

MiB = 1 << 20


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[RunningFTP]:
    root = tmp_path / "served"
    root.mkdir()
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    with running_ftp(root) as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_segmented_ftp_download_is_identical(ftp: RunningFTP, tmp_path: Path) -> None:
    data = random_bytes(8 * MiB + 5)
    (ftp.root / "big.bin").write_bytes(data)
    dest = tmp_path / "dest"
    result = await aiodl.download(ftp.url("big.bin"), dest, split=4, min_segment_size=MiB)
    assert result.ok
    assert sha((dest / "big.bin").read_bytes()) == sha(data)
    assert ftp.log.count("REST") >= 2
    assert not (dest / "big.bin.part").exists()


async def test_rest_refused_falls_back_to_one_stream(ftp: RunningFTP, tmp_path: Path) -> None:
    data = random_bytes(4 * MiB)
    (ftp.root / "norest.bin").write_bytes(data)
    ftp.log.refuse_rest = True
    dest = tmp_path / "dest"
    result = await aiodl.download(ftp.url("norest.bin"), dest, split=4, min_segment_size=MiB)
    assert result.ok
    assert sha((dest / "norest.bin").read_bytes()) == sha(data)


async def test_nested_path_and_login(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "a" / "b").mkdir(parents=True)
    (ftp.root / "a" / "b" / "f.txt").write_bytes(b"nested")
    url = ftp.url("a/b/f.txt", user="alice:wonder")
    result = await aiodl.download(url, tmp_path / "dest")
    assert result.path is not None
    assert result.path.read_bytes() == b"nested"
    assert "USER alice" in ftp.log.commands
    assert "wonder" not in result.url


async def test_login_failure_is_a_clear_ftp_error_without_retries(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "f.txt").write_bytes(b"x")
    url = ftp.url("f.txt", user="alice:wrong")
    result = (await aiodl.download_many([url], tmp_path / "dest", backoff=0.01))[0]
    assert isinstance(result.error, aiodl.FTPError)
    assert "wrong" not in str(result.error)
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
