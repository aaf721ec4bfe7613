"""The first hour of a new user (issue 17): the CLI and API as a newcomer meets them,
against live local servers."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest

import aiodl

from aiodl._manifest import Manifest
from tests.servers.http import FaultServer
from tests.test_cli import run_cli

pytestmark = pytest.mark.anyio


def sums_line(name: str, data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


async def test_checksums_url_is_fetched_on_its_own_terms(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """--checksums URL with --shard and --manifest: the sums file is neither sharded,
    recorded, nor counted; the file it lists is verified."""
    data = b"payload" * 1000
    url = http_server.add("a.bin", data)
    sums = http_server.add("SHA256SUMS", sums_line("a.bin", data))
    manifest = tmp_path / "job.sqlite"
    code, _, err = await run_cli(
        "-d", str(tmp_path / "dl"), "--shard", "2", "--manifest", str(manifest),
        "--checksums", sums, url,
    )  # fmt: skip
    assert code == 0, err
    assert "1 ok, 0 failed, 0 skipped" in err
    [saved] = (tmp_path / "dl").rglob("a.bin")
    assert saved.read_bytes() == data
    assert not list((tmp_path / "dl").rglob("sums"))
    book = Manifest(manifest)
    try:
        assert book.counts() == {"done": 1, "failed": 0, "pending": 0}
        assert [entry.url for entry in book.entries("done")] == [url]
    finally:
        book.close()


@pytest.mark.parametrize("lone", ["http://127.0.0.1:9/f", b"http://127.0.0.1:9/f"])
async def test_a_lone_url_as_sources_is_a_type_error(
    lone: str | bytes, tmp_path: Path
) -> None:
    """A string is iterable: without the check it is read letter by letter."""
    with pytest.raises(TypeError, match=r"pass a list of URLs, or use aiodl\.download"):
        await aiodl.download_many(lone, tmp_path / "never")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass a list of URLs, or use aiodl\.download"):
        async with contextlib.aclosing(aiodl.stream(lone, tmp_path / "never")) as results:  # type: ignore[arg-type]
            async for _ in results:
                pass
    assert not (tmp_path / "never").exists()
