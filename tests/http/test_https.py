"""https:// on aiodl's own transport (issue 20): the socket from ``Connector``, TLS from
the stdlib ``ssl`` on top, the same pool, parser and copy as http://."""

from __future__ import annotations

import asyncio
import ssl
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

import aiodl
from testing import random_bytes
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serving(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def https_server(ca: trustme.CA) -> AsyncIterator[FaultServer]:
    async with running(tls=serving(ca, "127.0.0.1")) as server:
        yield server


async def test_keep_alive_reuses_one_tls_connection(
    https_server: FaultServer, ca: trustme.CA, tmp_path: Path
) -> None:
    """Ten files one after another: one connection, one handshake."""
    urls = [https_server.add(f"f{i}.bin", random_bytes(1000 + i)) for i in range(10)]
    results = await aiodl.download_many(urls, tmp_path, connections=1, verify=trusting(ca))
    assert all(result.ok for result in results)
    assert len({seen.peer for seen in https_server.seen}) == 1


async def test_a_segmented_file_arrives_whole(
    https_server: FaultServer, ca: trustme.CA, tmp_path: Path
) -> None:
    """24 MiB over 4 TLS connections, decrypted into the buffer and written in place."""
    data = random_bytes(24 << 20)
    url = https_server.add("big.bin", data)
    result = await aiodl.download(
        url, tmp_path, split=4, min_segment_size=1 << 20, verify=trusting(ca)
    )
    assert result.path is not None
    assert result.path.read_bytes() == data
    assert len({seen.peer for seen in https_server.requests_for("big.bin")}) > 1


async def test_a_certificate_for_another_name_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    """The CA is trusted but the certificate names another host: the host name check
    refuses it, at once, saying what to do."""
    async with running(tls=serving(ca, "example.test")) as server:
        url = server.add("f.bin", b"x")
        [result] = await aiodl.download_many([url], tmp_path, retries=3, verify=trusting(ca))
        assert server.seen == []
    assert isinstance(result.error, aiodl.ConnectError)
    message = str(result.error)
    assert message.startswith(f"certificate verify failed for {url}: ")
    assert "127.0.0.1" in message
    assert message.endswith("use --cacert FILE to trust its CA, or --insecure")
    assert list(tmp_path.iterdir()) == []


async def test_sni_names_the_host(ca: trustme.CA, tmp_path: Path) -> None:
    """A name (resolved by ``resolve=`` to 127.0.0.1) is sent as SNI and checked against
    the certificate."""
    names: list[str | None] = []
    context = serving(ca, "files.test")
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with running(tls=context) as server:
        server.add("f.bin", b"named")
        url = f"https://files.test:{server.port}/f.bin"
        result = await aiodl.download(url, tmp_path, verify=trusting(ca), resolve=resolve)
    assert result.path is not None
    assert result.path.read_bytes() == b"named"
    assert names
    assert set(names) == {"files.test"}


async def test_an_https_run_does_not_import_aiohttp(
    https_server: FaultServer, tmp_path: Path
) -> None:
    """The transport is the stdlib's ssl over our sockets: aiohttp is not loaded."""
    url = https_server.add("f.bin", b"plain")
    code = (
        "import asyncio, sys, aiodl\n"
        f"result = asyncio.run(aiodl.download({url!r}, {str(tmp_path)!r}, verify=False))\n"
        "assert result.ok, result.error\n"
        "print('aiohttp' in sys.modules)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=PIPE, stderr=PIPE, cwd=Path(__file__).parents[2]
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "False"
