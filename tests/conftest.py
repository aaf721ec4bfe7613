"""Shared fixtures: the asyncio backend and live fault-injecting HTTP and FTP servers."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.servers.ftp import RunningFTP, running_ftp
from tests.servers.http import FaultServer, running
from tests.servers.rawhttp import RawServer, running_raw


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http_server() -> AsyncIterator[FaultServer]:
    async with running() as server:
        yield server


@pytest.fixture
async def other_server() -> AsyncIterator[FaultServer]:
    """A second server: another port is another origin."""
    async with running() as server:
        yield server


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """A server whose responses are scripted byte by byte (lying or missing lengths)."""
    async with running_raw() as server:
        yield server


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def write_tree(root: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    """Random files at relative paths below ``root``; returns path -> contents."""
    files = {}
    for name, size in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        files[name] = random_bytes(size)
        path.write_bytes(files[name])
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[RunningFTP]:
    """pyftpdlib serving ``tmp_path/served``; ``ftp.faults`` switches its misbehaviour."""
    root = tmp_path / "served"
    root.mkdir()
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    with running_ftp(root) as server:
        yield server
