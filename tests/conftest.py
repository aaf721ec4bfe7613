"""Shared fixtures: the asyncio backend and a live fault-injecting HTTP server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.servers.http import FaultServer, running


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


def random_bytes(size: int) -> bytes:
    return os.urandom(size)
