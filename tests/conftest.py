"""Shared fixtures: the asyncio backend and live fault-injecting HTTP and FTP servers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from testing.servers.ftp import RunningFTP, running_ftp
from testing.servers.http import FaultServer, running
from testing.servers.rawhttp import RawServer, running_raw


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


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[RunningFTP]:
    """pyftpdlib serving ``tmp_path/served``; ``ftp.faults`` switches its misbehaviour."""
    root = tmp_path / "served"
    root.mkdir()
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    with running_ftp(root) as server:
        yield server
