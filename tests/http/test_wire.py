"""HTTP/1.1 wire rules (aiodl._protocols.http.wire): pure, no sockets."""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._protocols.http.wire import (
    MAX_FIELDS,
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
        b"HTTP/1.1 200 OK\r\n folded: before any field",
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
    ProtocolError (which the driver turns into a malformed-response IntegrityError), never
    another error."""
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
    """RFC 9112 6.3 with the smuggling signals refused: one agreed decimal length (fields
    and comma lists that agree, zeros allowed), or ``chunked`` last and alone but for
    ``identity`` (a no-op) and no length beside it, or read to close; anything else is
    refused."""
    raw = "HTTP/1.1 200 OK" + "".join(f"\r\nContent-Length: {v}" for v in lengths)
    raw += "".join(f"\r\nTransfer-Encoding: {v}" for v in encodings)
    try:
        kind, length = framing(parse_head(raw.encode()))
    except ProtocolError:
        return
    tokens = [t.strip() for v in encodings for t in v.split(",") if t.strip()]
    applied = [t for t in tokens if t != "identity"]
    values = [part.strip() for v in lengths for part in v.split(",")]
    if kind == "length":
        assert not applied
        assert all(v.isascii() and v.isdigit() and int(v) == length for v in values)
    elif kind == "chunked":
        assert not lengths
        assert applied == ["chunked"]
        assert tokens[-1] == "chunked"
    else:
        assert kind == "close"
        assert not lengths
        assert not applied


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
    turns only ProtocolError into a DownloadError) and aborted download_many."""
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * digits)
    with pytest.raises(ProtocolError):
        framing(head)


# Issue 16: lenient where RFC 9112 lets a client be, strict where smuggling lives.

LF_HEAD = b'HTTP/1.1 206 Partial Content\nContent-Length: 5\r\nETag: "x"\n\n'


@given(st.lists(st.integers(0, len(LF_HEAD) + 5), max_size=5), st.sampled_from([b"", b"\r\n\n"]))
def test_bare_lf_heads_parse_in_any_split(cuts: list[int], blank: bytes) -> None:
    """A bare LF ends a line, a CR before it is dropped (RFC 9112 2.2), and empty lines
    before the status line are skipped (as llhttp and curl do)."""
    wire = blank + b"HTTP/1.1 100 Continue\n\n" + LF_HEAD + b"body!"
    parser, last, parsed = HeadParser(), 0, None
    for cut in [*sorted(min(c, len(wire)) for c in cuts), len(wire)]:
        if parsed is None:
            parsed = parser.feed(wire[last:cut])
        last = cut
    assert parsed is not None
    head, rest = parsed
    assert (head.status, head.headers["etag"], head.headers["content-length"]) == (206, '"x"', "5")
    assert wire.endswith(rest)


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"X-A: a\r\n  b", "a b"), (b"X-A: a \r\n\tb \r\n c", "a b c"), (b"X-A:\r\n 11", "11")],
)
def test_obsolete_line_folding_is_one_space(raw: bytes, value: str) -> None:
    """RFC 9112 5.2: a user agent replaces each obs-fold with a space."""
    assert parse_head(b"HTTP/1.1 200 OK\r\n" + raw).headers["x-a"] == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"X-A: a\rb", "bare CR"),
        (b"X-A: ab\r\r", "bare CR"),
        (b"X-A: a\x00b", "NUL"),
        (b"X-A : b", "malformed header field"),
        (b" X-A: b", "whitespace before the first header field"),
    ],
)
def test_what_a_field_may_not_hold_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_head(b"HTTP/1.1 200 OK\r\n" + raw)


def test_empty_lines_before_a_head_are_bounded() -> None:
    with pytest.raises(ProtocolError, match="larger"):
        HeadParser().feed(b"\r\n" * MAX_HEAD)


@pytest.mark.parametrize(
    ("fields", "length"),
    [
        ("Content-Length: 1024, 1024", 1024),
        ("Content-Length: 1024,1024\r\nContent-Length: 01024", 1024),
        ("Content-Length: " + "0" * 5000 + "7", 7),
        (f"Content-Length: {2**63 - 1}", 2**63 - 1),
        ("Transfer-Encoding: identity\r\nContent-Length: 3", 3),
    ],
)
def test_lengths_that_agree_are_one(fields: str, length: int) -> None:
    """RFC 9110 8.6 lets a recipient take ``42, 42`` as 42; zeros only pad the number
    (its value is bounded, not its digits); ``identity`` is no coding at all."""
    assert framing(parse_head(f"HTTP/1.1 200 OK\r\n{fields}".encode())) == ("length", length)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("Content-Length: 1024, 1025", "disagreeing"),
        ("Content-Length: 1024,", "invalid Content-Length"),
        (f"Content-Length: {2**63}", "beyond any file size"),
        ("Transfer-Encoding: chunked, identity", "unsupported transfer coding"),
        ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "unsupported transfer coding"),
        ("Transfer-Encoding: identity, chunked\r\nContent-Length: 3", "beside"),
    ],
)
def test_framing_that_cannot_be_trusted_is_refused(fields: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        framing(parse_head(f"HTTP/1.1 200 OK\r\n{fields}".encode()))


def decode(wire: bytes) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    return b"".join(decoder.feed(wire)), decoder


@pytest.mark.parametrize(
    "wire",
    [
        b"0" * 900 + b"5\r\nhello\r\n0\r\n\r\n",
        b"5 \t;a=b;c\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: 1\nY: 2\r\n\n",
    ],
    ids=["zero-padded size", "spaces and extensions", "LF after data", "LF-ended trailers"],
)
def test_chunked_bodies_a_client_may_accept(wire: bytes) -> None:
    body, decoder = decode(wire)
    assert body == b"hello"
    assert decoder.clean


def test_a_64_bit_chunk_size_is_a_size_and_more_is_refused() -> None:
    """``ffffffffffffffff`` is a (huge) size: the body is still due, so a close there is
    a cut, not an end; a seventeenth significant digit is no size."""
    body, decoder = decode(b"ffffffffffffffff\r\nhello")
    assert (body, decoder.done) == (b"hello", False)
    with pytest.raises(ProtocolError, match="beyond 64 bits"):
        decode(b"1" + b"0" * 16 + b"\r\nhello")


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"5\nhello\r\n0\r\n\r\n", "invalid chunk size line"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size line"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "invalid chunk size line"),
        (b"5\r\nhello\rX", "longer than its size"),
        (b"0\r\n" + b"X: y\r\n" * (MAX_FIELDS + 1), "trailer fields"),
        (b"0\r\n" + b"X: y\r\n" * 20_000, "trailer"),
    ],
)
def test_chunked_framing_that_cannot_be_trusted_is_refused(wire: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode(wire)


def fed_until_refused(decoder: ChunkedDecoder, piece: bytes, most: int) -> int:
    """How many ``piece``s the decoder took before it refused one (``most`` if none)."""
    for count in range(most):
        try:
            decoder.feed(piece)
        except ProtocolError:
            return count
    return most


@pytest.mark.parametrize("piece", [1 << 10, 1 << 20])
def test_an_endless_trailer_line_is_refused_past_the_head_bound(piece: int) -> None:
    """Fed a KiB or a MiB at a time, a trailer line that never ends is refused with the
    piece that takes it past the head bound: it never holds more than that."""
    decoder, line_start = ChunkedDecoder(), b"X-Trailer: "
    decoder.feed(b"5\r\nhello\r\n0\r\n" + line_start)
    taken = fed_until_refused(decoder, b"a" * piece, most=(16 << 20) // piece)
    assert len(line_start) + taken * piece <= MAX_HEAD < len(line_start) + (taken + 1) * piece
    assert len(decoder._buffer) <= MAX_HEAD + piece
    with pytest.raises(ProtocolError, match="trailer section larger than 64 KiB"):
        decoder.feed(b"a")


def test_chunked_decoding_is_linear() -> None:
    """200,000 one-byte chunks in one feed: re-slicing the buffer per line took ~20 s of
    CPU here; linear decoding takes well under a second (a generous guard of 5 s)."""
    started = time.process_time()
    body, decoder = decode(b"1\r\nx\r\n" * 200_000 + b"0\r\n\r\n")
    assert time.process_time() - started < 5
    assert body == b"x" * 200_000
    assert decoder.clean
