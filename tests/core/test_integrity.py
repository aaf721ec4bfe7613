"""Checksums verified before the rename, against a real local HTTP server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest

import aiodl
from testing import MiB, random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512", "blake2b"])
async def test_matching_checksum_is_accepted(
    http_server: FaultServer, tmp_path: Path, algorithm: str
) -> None:
    data = random_bytes(3 * MiB)
    url = http_server.add("ok.bin", data)
    request = aiodl.Request(url, checksum=digest(data, algorithm))
    result = await aiodl.download(request, tmp_path, min_segment_size=MiB)
    assert result.ok
    assert (tmp_path / "ok.bin").read_bytes() == data


@pytest.mark.parametrize("size", [1000, 3 * MiB], ids=["small", "segmented"])
async def test_mismatch_leaves_nothing_behind(
    http_server: FaultServer, tmp_path: Path, size: int
) -> None:
    url = http_server.add("bad.bin", random_bytes(size))
    request = aiodl.Request(url, checksum=digest(b"something else"))
    [result] = await aiodl.download_many([request], tmp_path, min_segment_size=MiB)
    assert isinstance(result.error, aiodl.IntegrityError)
    assert "the request says" in str(result.error)
    assert list(tmp_path.iterdir()) == []  # no final file, no .part, no journal


async def test_malformed_checksum_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="checksum"):
        aiodl.Request("http://127.0.0.1/x", checksum="sha256:nothex")


@pytest.mark.parametrize("where", ["path", "url"])
async def test_sums_file_checks_the_files_it_lists(
    http_server: FaultServer, tmp_path: Path, where: str
) -> None:
    good, bad, unlisted = random_bytes(5000), random_bytes(6000), random_bytes(7000)
    urls = [
        http_server.add("good.iso", good),
        http_server.add("bad.iso", bad),
        http_server.add("unlisted.iso", unlisted),
    ]
    sums = f"{digest(good)[7:]}  good.iso\n{digest(b'other')[7:]} *bad.iso\n"
    if where == "url":
        source = http_server.add("SHA256SUMS", sums.encode())
    else:
        source = str(tmp_path / "SHA256SUMS")
        Path(source).write_text(sums)
    results = await aiodl.download_many(urls, tmp_path / "d", checksums=source)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, aiodl.IntegrityError)
    assert "SHA256SUMS" in str(results[1].error)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["good.iso", "unlisted.iso"]


async def test_missing_sums_file_is_an_invalid_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checksums file"):
        await aiodl.download_many(["http://127.0.0.1/x"], tmp_path, checksums=tmp_path / "no")


@pytest.mark.parametrize("header", ["Repr-Digest", "Digest"])
async def test_server_digest_header_is_checked(
    http_server: FaultServer, tmp_path: Path, header: str
) -> None:
    data = random_bytes(3 * MiB)
    right = base64.b64encode(hashlib.sha256(data).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    value = {"Repr-Digest": "sha-256=:{}:", "Digest": "SHA-256={}"}[header]
    ok = http_server.add("ok.bin", data, headers={header: value.format(right)})
    lying = http_server.add("lying.bin", data, headers={header: value.format(wrong)})
    results = await aiodl.download_many([ok, lying], tmp_path, min_segment_size=MiB)
    assert results[0].ok
    assert isinstance(results[1].error, aiodl.IntegrityError)
    assert header in str(results[1].error)
    assert not (tmp_path / "lying.bin").exists()


async def test_the_loop_stays_responsive_while_256_mib_are_verified(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Hashing runs in a worker thread: from the last byte received to the file's rename,
    the caller's loop never stalls for 0.2 s. (md5, the slowest here: hashed on the loop,
    256 MiB would stall it for about 0.35 s.)"""
    data = random_bytes(256 * MiB)
    url = http_server.add("big.bin", data)
    request = aiodl.Request(url, checksum=digest(data, "md5"))
    loop = asyncio.get_running_loop()
    received, lags = 0, []
    verifying = asyncio.Event()

    def on_event(event: aiodl.Event) -> None:
        nonlocal received
        if isinstance(event, aiodl.Advanced):
            received += event.nbytes
            if received == len(data):
                verifying.set()  # every byte is in: what follows is verify and commit

    async def watch() -> None:
        await verifying.wait()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    watcher = asyncio.create_task(watch())
    result = await aiodl.download(request, tmp_path, progress=on_event)
    watcher.cancel()
    assert result.ok
    assert max(lags) < 0.2
    assert len(lags) > 10  # the watch did span the verification
