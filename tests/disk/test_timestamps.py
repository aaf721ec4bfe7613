"""A saved file carries the server's version: its Last-Modified as the file's time (curl
-R, wget's default) and its strong ETag in the ``user.aiodl.etag`` attribute, both set
on the part file before the rename."""

from __future__ import annotations

import os
import time
from email.utils import formatdate
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio
WHEN = 1_445_412_480  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize("size", [3000, 3 << 20], ids=["small", "segmented"])
async def test_the_saved_file_has_the_servers_last_modified(
    http_server: FaultServer, tmp_path: Path, size: int
) -> None:
    url = http_server.add("f.bin", random_bytes(size), last_modified=formatdate(WHEN, usegmt=True))
    result = await aiodl.download(url, tmp_path)
    assert result.ok, result.error
    assert os.stat(tmp_path / "f.bin").st_mtime == WHEN, f"{url}: mtime is not Last-Modified"


@pytest.mark.parametrize("value", ["not a date", formatdate(time.time() + 86400, usegmt=True)])
async def test_a_malformed_or_future_last_modified_is_ignored(
    http_server: FaultServer, tmp_path: Path, value: str
) -> None:
    url = http_server.add("f.bin", random_bytes(3000), last_modified=value)
    before = time.time()
    result = await aiodl.download(url, tmp_path)
    assert result.ok, result.error
    assert before - 5 < os.stat(tmp_path / "f.bin").st_mtime <= time.time()


async def test_the_strong_etag_is_kept_in_an_extended_attribute(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("f.bin", random_bytes(3000), etag='"v1"')
    weak = http_server.add("w.bin", random_bytes(3000), etag='W/"v1"')
    results = await aiodl.download_many([url, weak], tmp_path)
    assert all(r.ok for r in results)
    assert os.getxattr(tmp_path / "f.bin", "user.aiodl.etag") == b'"v1"'
    assert "user.aiodl.etag" not in os.listxattr(tmp_path / "w.bin")  # weak: proves no bytes
