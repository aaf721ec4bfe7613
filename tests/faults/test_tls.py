"""TLS over real sockets with a private CA (trustme): verification on by default."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

import aiodl
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_server(ca: trustme.CA) -> AsyncIterator[FaultServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with running(tls=server_context) as server:
        yield server


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_trusted_ca_downloads(
    https_server: FaultServer, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    url = https_server.add("secure.bin", b"secret bytes")
    result = await aiodl.download(url, tmp_path, verify=trusting)
    assert result.path is not None
    assert result.path.read_bytes() == b"secret bytes"


async def test_untrusted_certificate_is_refused_by_default(
    https_server: FaultServer, tmp_path: Path
) -> None:
    url = https_server.add("secure.bin", b"secret bytes")
    result = (await aiodl.download_many([url], tmp_path, retries=0))[0]
    assert not result.ok
    assert "certificate" in str(result.error).lower()
    assert list(tmp_path.iterdir()) == []


async def test_verify_false_is_an_explicit_opt_in(
    https_server: FaultServer, tmp_path: Path
) -> None:
    url = https_server.add("secure.bin", b"secret bytes")
    result = await aiodl.download(url, tmp_path, verify=False)
    assert result.ok


async def test_https_to_http_redirect_is_refused(
    https_server: FaultServer, http_server: FaultServer, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    plain = http_server.add("plain.bin", b"downgraded")
    url = https_server.add("moved.bin", b"", redirect_to=plain)
    result = (await aiodl.download_many([url], tmp_path, verify=trusting, auth=("u", "p")))[0]
    assert not result.ok
    assert "https to plain http" in str(result.error)
    assert http_server.requests_for("plain.bin") == []
    assert list(tmp_path.iterdir()) == []
