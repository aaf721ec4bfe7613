"""HTTP/1.1 wire rules (aiodl._http1): pure, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._http1 import (
    MAX_HEAD,
    ChunkedDecoder,
    HeadParser,
    ProtocolError,
    framing,
    keeps_alive,
    parse_head,
    request,
)

HEAD = b'HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nETag: "x"\r\n\r\n'


def test_request_bytes() -> None:
    wire = request("/a%20b?x=1", "h:8080", {"Range": "bytes=0-", "X-Key": "k"})
    assert wire == (
        b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h:8080\r\nRange: bytes=0-\r\nX-Key: k\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("target", "headers"),
    [("/x", {"Bad Name": "v"}), ("/x", {"X": "a\r\nInjected: 1"}), ("/x y", {}), ("/\r\n", {})],
)
def test_request_refuses_injection(target: str, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"header|target"):
        request(target, "h", headers)


@given(st.lists(st.integers(0, len(HEAD) + 5), max_size=5))
def test_head_parser_any_split(cuts: list[int]) -> None:
    wire = b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"body!"
    parser, last, parsed = HeadParser(), 0, None
    for cut in [*sorted(min(c, len(wire)) for c in cuts), len(wire)]:
        if parsed is None:
            parsed = parser.feed(wire[last:cut])
        last = cut
    assert parsed is not None
    head, rest = parsed
    assert (head.status, head.reason, head.headers["etag"]) == (206, "Partial Content", '"x"')
    assert wire.endswith(rest)
    assert rest.startswith(b"body!"[: len(rest)]) or rest == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK",
        b"ICY 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded",
        b"HTTP/1.1 200 OK\r\nBad Name: v",
        b"HTTP/1.1 200 OK\r\nX: a\x00b",
        b"HTTP/1.1 200 OK\r\nno colon",
    ],
)
def test_malformed_heads_are_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_head(raw)


def test_head_size_is_bounded() -> None:
    with pytest.raises(ProtocolError, match="larger"):
        HeadParser().feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("Content-Length: 10", ("length", 10)),
        ("Content-Length: 10\r\nContent-Length: 10", ("length", 10)),
        ("Transfer-Encoding: chunked", ("chunked", None)),
        ("X: y", ("close", None)),
    ],
)
def test_framing(fields: str, expected: tuple[str, int | None]) -> None:
    assert framing(parse_head(f"HTTP/1.1 200 OK\r\n{fields}".encode())) == expected


@pytest.mark.parametrize(
    "fields",
    [
        "Content-Length: 10\r\nContent-Length: 11",
        "Content-Length: 10\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked",
        "Content-Length: -1",
        "Content-Length: 1e3",
    ],
)
def test_framing_refuses_smuggling_signals(fields: str) -> None:
    with pytest.raises(ProtocolError):
        framing(parse_head(f"HTTP/1.1 200 OK\r\n{fields}".encode()))


@pytest.mark.parametrize(
    ("status", "fields", "alive"),
    [("HTTP/1.1", "", True), ("HTTP/1.1", "\r\nConnection: close", False),
     ("HTTP/1.0", "", False), ("HTTP/1.0", "\r\nConnection: Keep-Alive", True)],
)  # fmt: skip
def test_keeps_alive(status: str, fields: str, alive: bool) -> None:
    assert keeps_alive(parse_head(f"{status} 200 OK{fields}".encode())) is alive


def chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in pieces if p)
    return body + b"0\r\nTrailer: x\r\n\r\n"


@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(0, 4000), max_size=6))
def test_chunked_decoder_any_split(pieces: list[bytes], cuts: list[int]) -> None:
    wire = chunked(pieces)
    decoder, out, last = ChunkedDecoder(), [], 0
    for cut in [*sorted(min(c, len(wire)) for c in cuts), len(wire)]:
        out += decoder.feed(wire[last:cut])
        last = cut
    assert b"".join(out) == b"".join(pieces)
    assert decoder.done
    assert decoder.clean


@pytest.mark.parametrize("wire", [b"zz\r\n", b"5\r\nabcdefg\r\n", b"1" * 2000])
def test_chunked_decoder_refuses_garbage(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(wire)
