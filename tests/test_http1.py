"""HTTP/1.1 wire rules (aiodl._http1): pure, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import example, given
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


# Bytes rich in what a head is made of, so the fuzzing gets past the status line.
head_bytes = st.lists(
    st.sampled_from(
        [b"HTTP/1.1 ", b"HTTP/1.0 ", b"200", b"206", b"101", b" OK", b"\r\n", b"\r", b"\n",
         b":", b" ", b"\t", b"\x00", b"Content-Length", b"Transfer-Encoding", b"chunked",
         b"Connection", b"close", b"X-A", b"0", b"12", b"-", b",", b"\xff", b"\xc3\xa9"]
    )
    | st.binary(max_size=8),
    max_size=40,
).map(b"".join)  # fmt: skip


@given(head_bytes)
def test_any_head_parses_or_is_a_protocol_error(raw: bytes) -> None:
    """Whatever a server sends: a Head whose framing and keep-alive can be asked, or
    ProtocolError (which the driver turns into a TransferError), never another error."""
    try:
        head = parse_head(raw)
        kind, length = framing(head)
    except ProtocolError:
        return
    assert 100 <= head.status <= 999
    assert head.minor in (0, 1)
    assert kind in ("length", "chunked", "close", "empty")
    assert length is None or length >= 0
    keeps_alive(head)


@given(head_bytes, st.lists(st.integers(0, 400), max_size=6))
def test_head_parser_fed_in_pieces_parses_or_is_a_protocol_error(
    raw: bytes, cuts: list[int]
) -> None:
    wire = raw + b"\r\n\r\nbody"
    parser, last = HeadParser(), 0
    try:
        for cut in [*sorted(min(c, len(wire)) for c in cuts), len(wire)]:
            parsed = parser.feed(wire[last:cut])
            last = cut
            if parsed is not None:
                head, rest = parsed
                assert not 100 <= head.status < 200
                assert wire.endswith(rest)
                break
    except ProtocolError:
        return


tokens = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",
    min_size=1,
    max_size=20,
)
field_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
).map(str.strip)


@given(
    st.integers(200, 599),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    st.lists(st.tuples(tokens, field_values), max_size=10),
    st.sampled_from([0, 1]),
)
def test_well_formed_heads_round_trip(
    status: int, reason: str, fields: list[tuple[str, str]], minor: int
) -> None:
    raw = f"HTTP/1.{minor} {status} {reason}".encode("latin-1")
    raw += b"".join(f"\r\n{name}: {value}".encode("latin-1") for name, value in fields)
    head = parse_head(raw)
    assert (head.status, head.reason, head.minor) == (status, reason, minor)
    assert [(k.lower(), v) for k, v in head.headers.items()] == [
        (name.lower(), value) for name, value in fields
    ]


@given(
    st.lists(
        st.sampled_from(["0", "10", "007", " 5 ", "", "-1", "1e3", "0x10", "١٢", "+5", "5,5"]),
        max_size=3,
    ),
    st.lists(st.sampled_from(["chunked", "gzip", "identity", "chunked, chunked", ""]), max_size=2),
)
def test_framing_is_a_length_chunked_close_or_refused(
    lengths: list[str], encodings: list[str]
) -> None:
    """RFC 9112 6.3 with the smuggling signals refused: one agreed decimal length, exactly
    ``chunked`` and nothing beside it, or read to close; anything else is refused."""
    raw = "HTTP/1.1 200 OK" + "".join(f"\r\nContent-Length: {v}" for v in lengths)
    raw += "".join(f"\r\nTransfer-Encoding: {v}" for v in encodings)
    try:
        kind, length = framing(parse_head(raw.encode()))
    except ProtocolError:
        return
    if kind == "length":
        assert not encodings
        assert len({v.strip() for v in lengths}) == 1
        assert all(v.strip().isascii() and int(v) == length for v in lengths)
    elif kind == "chunked":
        assert not lengths
        assert ",".join(encodings).replace(" ", "") == "chunked"
    else:
        assert kind == "close"
        assert not lengths
        assert not encodings


@given(
    st.lists(
        st.sampled_from([b"0", b"5", b"ff", b"g", b";x=1", b"\r\n", b"hello", b"\r", b" "])
        | st.binary(max_size=6),
        max_size=30,
    ).map(b"".join),
    st.lists(st.integers(0, 200), max_size=5),
)
def test_chunked_decoder_decodes_or_is_a_protocol_error(wire: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes as a chunked body: body bytes out (never more than came in), or
    ProtocolError, never another error."""
    decoder, out, last = ChunkedDecoder(), [], 0
    try:
        for cut in [*sorted(min(c, len(wire)) for c in cuts), len(wire)]:
            out += decoder.feed(wire[last:cut])
            last = cut
    except ProtocolError:
        return
    assert len(b"".join(out)) <= len(wire)
    assert not decoder.clean or decoder.done


@given(st.integers(min_value=20, max_value=20_000))
@example(5000)  # found by fuzzing: int() raised ValueError, not ProtocolError
def test_a_huge_content_length_is_a_protocol_error(digits: int) -> None:
    """Past Python's 4300-digit int() limit a plain ValueError escaped the driver (which
    turns only ProtocolError into a TransferError) and aborted download_many."""
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * digits)
    with pytest.raises(ProtocolError):
        framing(head)
