"""Connecting as curl does (issue 17): IPv6 literals, every address of a name, failures
that are not worth a retry, and errors that read as sentences. Real servers on 127.0.0.1,
127.0.0.2 and ::1 only; names are answered by a fake resolver, never looked up."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import aiodl
from aiodl._exceptions import ConnectError, TransferError
from aiodl._models import Event, Retried
from aiodl._network.connect import Connector, failure
from aiodl._pacing.retry import RetryPolicy
from aiodl._pacing.retrying import _retry_delay
from aiodl._urls import authority
from testing import FAST, random_bytes
from testing.servers.connect import FakeResolver, black_hole, closed_port, lighttpd
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer, running
from testing.servers.rawhttp import RawRequest, head, reset, running_raw

pytestmark = pytest.mark.anyio
UNKNOWN = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def close_after(data: bytes) -> Any:
    """A responder answering 200 with ``data``, then closing: one connection a request."""

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", f"Content-Length: {len(data)}", "Connection: close") + data)
        return False

    return respond


def retries_of(events: list[Event]) -> list[Retried]:
    return [event for event in events if isinstance(event, Retried)]


def tls_error(reason: str) -> ssl.SSLError:
    """An SSLError as OpenSSL reports one: errno 1 (SSL_ERROR_SSL) and a reason code."""
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')}")
    error.reason = reason  # type: ignore[misc]
    return error


def assert_sentence(message: str) -> None:
    """One plain line: no errno, no exception class name, no traceback."""
    assert "\n" not in message
    assert "errno" not in message.lower()
    assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b", message), message
    assert "Traceback" not in message


# -- 1. IPv6 literals keep their brackets in Host --------------------------------------


async def test_ipv6_literal_keeps_its_brackets_in_the_host_header(tmp_path: Path) -> None:
    async with running_raw("::1") as server:
        server.add("f", close_after(b"six bytes"))
        url = f"http://[::1]:{server.port}/f"
        result = await aiodl.download(url, tmp_path)
    assert result.path is not None
    assert result.path.read_bytes() == b"six bytes"
    assert [seen.headers["host"] for seen in server.requests_for("f")] == [f"[::1]:{server.port}"]


async def test_lighttpd_serves_an_ipv6_literal_url(tmp_path: Path) -> None:
    """lighttpd answers 400 to ``Host: ::1:PORT``; with brackets it serves the file."""
    root = tmp_path / "www"
    root.mkdir()
    data = random_bytes(300_000)
    (root / "f.bin").write_bytes(data)
    with lighttpd(root) as port:
        result = await aiodl.download(f"http://[::1]:{port}/f.bin", tmp_path / "d", retries=0)
    assert result.path is not None
    assert result.path.read_bytes() == data


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("::1", 80, "[::1]"),
        ("::1", 8080, "[::1]:8080"),
        ("2001:db8::7", 80, "[2001:db8::7]"),
        ("127.0.0.1", 8080, "127.0.0.1:8080"),
        ("example.test", 80, "example.test"),
    ],
)
def test_host_header_brackets_ipv6_with_and_without_a_port(
    host: str, port: int, expected: str
) -> None:
    assert authority(host, port, default=80) == expected


# -- 2. Every address of a name, in order; the working one kept ------------------------


async def test_every_address_of_a_name_is_tried_and_the_working_one_reused(
    tmp_path: Path,
) -> None:
    """``dual.test`` is ::1 (nothing listens there) then 127.0.0.1 (the server): the
    files download, over three connections, after one lookup."""
    async with running_raw("127.0.0.1") as server:
        urls = [f"http://dual.test:{server.port}/{name}" for name in "abc"]
        for name in "abc":
            server.add(name, close_after(name.encode() * 100))
        resolve = FakeResolver(["::1", "127.0.0.1"])
        with closed_port("::1", server.port):
            results = await aiodl.download_many(
                urls, tmp_path, resolve=resolve, retries=0, connections=1, split=1
            )
    assert [r.ok for r in results] == [True, True, True], [str(r.error) for r in results]
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [n.encode() * 100 for n in "abc"]
    assert len({seen.peer for seen in server.seen}) == 3
    assert resolve.calls == [("dual.test", server.port)]


async def test_an_address_that_never_answers_is_left_after_the_stagger(
    tmp_path: Path,
) -> None:
    """::1 drops every SYN (a black hole), 127.0.0.1 serves: the second address starts
    250 ms after the first, so the file comes long before the 20 s connect timeout."""
    async with running_raw("127.0.0.1") as server:
        server.add("f", close_after(b"through the second address"))
        with black_hole("::1", server.port):
            began = time.monotonic()
            result = await aiodl.download(
                f"http://blackhole.test:{server.port}/f",
                tmp_path,
                resolve=FakeResolver(["::1", "127.0.0.1"]),
                timeout=20,
                retries=0,
            )
            took = time.monotonic() - began
    assert result.path is not None
    assert result.path.read_bytes() == b"through the second address"
    assert took < 10  # a generous guard: waiting out the timeout would take 20 s


async def test_a_cached_address_that_stops_working_is_forgotten() -> None:
    """The name moves from 127.0.0.1 to 127.0.0.2 (same port): while the first answers
    it is reused without a lookup; once it refuses, the name is resolved again."""
    first, second = socket.socket(), socket.socket()
    with first, second:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second.bind(("127.0.0.2", port))
        first.listen()
        second.listen()
        resolve = FakeResolver(["127.0.0.1"], ["127.0.0.2"])
        connector = Connector(resolve)
        peers = []
        for _ in range(2):
            with await connector.connect("moving.test", port) as sock:
                peers.append(sock.getpeername()[0])
        assert resolve.calls == [("moving.test", port)]
        first.close()
        with await connector.connect("moving.test", port) as sock:
            peers.append(sock.getpeername()[0])
    assert peers == ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
    assert resolve.calls == [("moving.test", port)] * 2


# -- 3. Failures that another try cannot mend ------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_server(ca: trustme.CA) -> AsyncIterator[FaultServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with running(tls=server_context) as server:
        yield server


async def test_an_untrusted_certificate_fails_at_once_saying_what_to_do(
    https_server: FaultServer, tmp_path: Path
) -> None:
    url = https_server.add("f.bin", b"secret")
    events: list[Event] = []
    [result] = await aiodl.download_many([url], tmp_path, retries=5, progress=events.append)
    assert isinstance(result.error, ConnectError)
    assert retries_of(events) == []
    message = str(result.error)
    assert message.startswith(f"certificate verify failed for {url}: ")
    assert message.endswith("use --cacert FILE to trust its CA, or --insecure")
    assert_sentence(message)
    assert list(tmp_path.iterdir()) == []


async def run_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_cli_cacert_trusts_the_servers_ca(
    https_server: FaultServer, ca: trustme.CA, tmp_path: Path
) -> None:
    url = https_server.add("f.bin", b"trusted")
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    code, err = await run_cli("--cacert", str(pem), "-d", str(tmp_path / "d"), url)
    assert code == 0, err
    assert (tmp_path / "d" / "f.bin").read_bytes() == b"trusted"


@pytest.mark.parametrize("flag", ["-k", "--insecure"])
async def test_cli_insecure_skips_the_check(
    https_server: FaultServer, tmp_path: Path, flag: str
) -> None:
    url = https_server.add("f.bin", b"unchecked")
    code, err = await run_cli(flag, "-d", str(tmp_path / "d"), url)
    assert code == 0, err
    assert (tmp_path / "d" / "f.bin").read_bytes() == b"unchecked"


async def test_cli_untrusted_certificate_fails_once_with_advice(
    https_server: FaultServer, tmp_path: Path
) -> None:
    url = https_server.add("f.bin", b"secret")
    code, err = await run_cli("-d", str(tmp_path / "d"), url)
    assert code == 1
    assert f"certificate verify failed for {url}" in err
    assert "--cacert FILE" in err
    assert "Traceback" not in err
    assert len(https_server.seen) == 0  # no request got through the failed handshake


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cacert", "/nonexistent/ca.pem"], "--cacert /nonexistent/ca.pem: no readable PEM"),
        (["--cacert", "PEM"], "--cacert PEM: no readable PEM CA certificate there"),
        (["--cacert", "PEM", "-k"], "use either --cacert or --insecure, not both"),
    ],
)
async def test_cli_cacert_misuse_is_a_usage_error(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not a certificate\n")
    args = [str(pem) if arg == "PEM" else arg for arg in args]
    code, err = await run_cli(*args, "https://127.0.0.1:9/x")
    assert code == 2
    assert expected.replace("PEM:", f"{pem}:") in err
    assert "Traceback" not in err


def default_port(scheme: str) -> int:
    return {"http": 80, "https": 443, "ftp": 21}[scheme]


@pytest.mark.parametrize("scheme", ["http", "https", "ftp"])
async def test_an_unknown_host_name_fails_at_once(tmp_path: Path, scheme: str) -> None:
    resolve = FakeResolver(UNKNOWN)
    events: list[Event] = []
    [result] = await aiodl.download_many(
        [f"{scheme}://nosuch.test/f"], tmp_path, resolve=resolve, progress=events.append
    )
    assert isinstance(result.error, ConnectError)
    assert retries_of(events) == []
    assert resolve.calls == [("nosuch.test", default_port(scheme))]
    message = str(result.error)
    assert message == "cannot resolve nosuch.test: name or service not known; check the host name"
    assert_sentence(message)


async def test_a_name_that_resolves_for_now_only_is_retried(tmp_path: Path) -> None:
    """EAI_AGAIN ("temporary failure") is a network blip: the retries apply."""
    resolve = FakeResolver(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"))
    events: list[Event] = []
    [result] = await aiodl.download_many(
        ["http://flaky.test/f"], tmp_path, resolve=resolve, retries=2,
        progress=events.append, **FAST,
    )  # fmt: skip
    assert isinstance(result.error, ConnectError)
    assert len(retries_of(events)) == 2
    assert len(resolve.calls) == 3


@pytest.mark.parametrize("scheme", ["http", "https", "ftp"])
async def test_a_refused_literal_address_is_retried_once(tmp_path: Path, scheme: str) -> None:
    events: list[Event] = []
    with closed_port("127.0.0.1") as port:
        [result] = await aiodl.download_many(
            [f"{scheme}://127.0.0.1:{port}/f"], tmp_path, retries=5,
            progress=events.append, **FAST,
        )  # fmt: skip
    assert isinstance(result.error, ConnectError)
    assert len(retries_of(events)) == 1
    message = str(result.error)
    assert message == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert_sentence(message)


async def test_a_refused_name_keeps_its_retries(tmp_path: Path) -> None:
    """A name may move to an address that works: its refusals are retried as before."""
    events: list[Event] = []
    with closed_port("127.0.0.1") as port:
        [result] = await aiodl.download_many(
            [f"http://moved.test:{port}/f"], tmp_path, retries=3,
            resolve=FakeResolver(["127.0.0.1"]), progress=events.append, **FAST,
        )  # fmt: skip
    assert isinstance(result.error, ConnectError)
    assert len(retries_of(events)) == 3
    assert str(result.error) == f"cannot connect to moved.test:{port}: connection refused"


@pytest.mark.parametrize(
    ("error", "retries", "expected"),
    [
        (ConnectError("x", retries=0), 0, [None]),
        (ConnectError("x", retries=1), 1, [0.01, None]),
        (ConnectError("x"), None, [0.01, 0.01, 0.01, None]),
        (TransferError("x"), None, [0.01, 0.01, 0.01, None]),
    ],
)
def test_the_retry_policy_caps_a_connect_error_at_its_retries(
    error: TransferError, retries: int | None, expected: list[float | None]
) -> None:
    policy = RetryPolicy(retries=3, base=0.01, cap=0.01)
    delays = [_retry_delay(policy, attempt, error) for attempt in range(len(expected))]
    assert [None if d is None else 0.01 for d in delays] == expected


# -- 4. Errors a person reads -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "url", "kind", "retries", "message"),
    [
        (
            ConnectionRefusedError(111, "Connect call failed ('::1', 8080, 0, 0)"),
            "http://[::1]:8080/f",
            ConnectError, 1, "cannot connect to [::1]:8080: connection refused",
        ),
        (
            ConnectionRefusedError(111, "Connect call failed"),
            "ftp://u:secret@files.test/f",
            ConnectError, None, "cannot connect to files.test:21: connection refused",
        ),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            "https://files.test/f",
            ConnectError, None, "cannot resolve files.test: temporary failure in name resolution",
        ),
        (
            ConnectionError("none of its addresses (::1, 127.0.0.1) accepted a connection"),
            "http://dual.test:81/f",
            TransferError, None,
            "connection to dual.test:81 failed: none of its addresses (::1, 127.0.0.1) "
            "accepted a connection",
        ),
        (
            OSError(101, "Network is unreachable"),
            "http://127.0.0.1/f",
            TransferError, None, "connection to 127.0.0.1:80 failed: network is unreachable",
        ),
        (
            tls_error("WRONG_VERSION_NUMBER"),
            "https://127.0.0.1:8443/f",
            TransferError, None,
            "connection to 127.0.0.1:8443 failed: TLS failed (wrong version number)",
        ),
    ],
)  # fmt: skip
def test_failure_words_and_classifies_socket_errors(
    error: OSError, url: str, kind: type[Exception], retries: int | None, message: str
) -> None:
    translated = failure(error, url)
    assert type(translated) is kind
    assert str(translated) == message
    assert getattr(translated, "retries", None) == retries
    assert translated.url is not None
    assert "secret" not in translated.url
    assert_sentence(message)


async def test_a_reset_http_connection_reads_as_a_sentence(tmp_path: Path) -> None:
    async def cut(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", "Content-Length: 100000") + b"x" * 10)
        await writer.drain()
        reset(writer.transport)  # type: ignore[arg-type]
        return False

    async with running_raw() as server:
        url = server.add("f", cut)
        [result] = await aiodl.download_many([url], tmp_path, retries=0)
    message = str(result.error)
    assert message == f"connection to 127.0.0.1:{server.port} failed: connection reset by peer"
    assert_sentence(message)
    assert result.error is not None
    assert result.error.url == url


async def test_a_reset_ftp_control_connection_reads_as_a_sentence(tmp_path: Path) -> None:
    """A server that greets, then resets the connection when it hears USER."""

    async def greet_then_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hello\r\n")
        await reader.readline()
        reset(writer.transport)  # type: ignore[arg-type]

    server = await asyncio.start_server(greet_then_reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"ftp://127.0.0.1:{port}/f"
        [result] = await aiodl.download_many([url], tmp_path, retries=0)
    finally:
        server.close()
        await server.wait_closed()
    message = str(result.error)
    assert message == f"connection to 127.0.0.1:{port} failed: connection reset by peer"
    assert_sentence(message)


async def test_an_ftp_timeout_reads_as_a_sentence(ftp: RunningFTP, tmp_path: Path) -> None:
    ftp.faults.silent.add("USER")
    url = ftp.url("f.bin")
    [result] = await aiodl.download_many([url], tmp_path, retries=0, timeout=0.3)
    message = str(result.error)
    assert message == f"timed out waiting for 127.0.0.1:{ftp.port}"
    assert_sentence(message)


async def test_an_https_server_that_hangs_up_reads_as_a_sentence(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """TLS is set up, the request read, and the connection closed without an answer:
    worded as over http:// (one transport for both)."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"https://127.0.0.1:{port}/f"
        [result] = await aiodl.download_many([url], tmp_path, retries=0, verify=trusting)
    finally:
        server.close()
        await server.wait_closed()
    message = str(result.error)
    assert message == f"connection to 127.0.0.1:{port} failed: the server closed the connection"
    assert_sentence(message)
