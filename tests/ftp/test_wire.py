"""Properties of FTP reply and path rules (aiodl._protocols.ftp.wire): pure, no sockets."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._protocols.ftp.wire import (
    Reply,
    ReplyParser,
    Target,
    is_connection_limit,
    is_unsupported,
    parse_epsv_port,
    parse_pasv_port,
    parse_size,
    parse_target,
)

ports = st.integers(min_value=1, max_value=65535)
octets = st.integers(min_value=0, max_value=255)


@pytest.mark.parametrize(
    ("url", "auth", "expected"),
    [
        ("ftp://h/pub/x.bin", None, Target("h", 21, "anonymous", "anonymous@", "pub/x.bin")),
        ("ftp://h:2121/x", ("u", "p"), Target("h", 2121, "u", "p", "x")),
        ("ftp://al%40ce:p%3Ass@h/x", ("u", "p"), Target("h", 21, "al@ce", "p:ss", "x")),
        ("ftp://bob@h/x", None, Target("h", 21, "bob", "", "x")),
        ("ftp://h//srv/abs", None, Target("h", 21, "anonymous", "anonymous@", "/srv/abs")),
        ("ftp://h/pub/dir/", None, Target("h", 21, "anonymous", "anonymous@", "pub/dir")),
        ("ftp://h/", None, Target("h", 21, "anonymous", "anonymous@", "")),
        ("ftp://h//", None, Target("h", 21, "anonymous", "anonymous@", "/")),
        ("ftp://h/a%20b/%C3%A9", None, Target("h", 21, "anonymous", "anonymous@", "a b/é")),
    ],
)  # fmt: skip
def test_parse_target(url: str, auth: tuple[str, str] | None, expected: Target) -> None:
    assert parse_target(url, auth) == expected


def test_pooled_logins_differ_by_password() -> None:
    assert parse_target("ftp://u:a@h/x", None).login != parse_target("ftp://u:b@h/x", None).login


@given(ports)
def test_epsv_port(port: int) -> None:
    assert parse_epsv_port(f"Entering Extended Passive Mode (|||{port}|)") == port
    assert parse_epsv_port(f"EPSV ok (!!!{port}!)") == port


@given(octets, octets, octets, octets, ports)
def test_pasv_gives_only_the_port(a: int, b: int, c: int, d: int, port: int) -> None:
    """Whatever address a PASV reply names, only its port is taken."""
    reply = f"Entering Passive Mode ({a},{b},{c},{d},{port >> 8},{port & 255})."
    assert parse_pasv_port(reply) == port


@pytest.mark.parametrize(
    "reply", ["no numbers", "(1,2,3,4,256,1)", "(1,2,3,4,0,0)", "(|||0|)", "(|||70000|)"]
)
def test_malformed_passive_replies(reply: str) -> None:
    assert parse_pasv_port(reply) is None
    assert parse_epsv_port(reply) is None


@given(st.text())
def test_reply_parsers_never_raise(reply: str) -> None:
    parse_pasv_port(reply)
    parse_epsv_port(reply)
    parse_size(reply)


def test_parse_size() -> None:
    assert parse_size(" 1234") == 1234
    assert parse_size("1234 bytes") is None
    assert parse_size("-5") is None


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("421", "Too many connections from the same IP address.", True),
        ("421", "Service not available", True),
        ("530", "Sorry, the maximum number of clients (5) from your host are connected", True),
        ("530", "Login incorrect.", False),
        ("550", "too many files", False),
    ],
)  # fmt: skip
def test_is_connection_limit(code: str, text: str, expected: bool) -> None:
    assert is_connection_limit(code, text) is expected


def test_is_unsupported() -> None:
    assert [is_unsupported(code) for code in ("500", "502", "504", "501", "550")] == [
        True, True, True, False, False,
    ]  # fmt: skip


REPLIES = [
    (b"220 ready\r\n", [Reply("220", "ready")]),
    (b"230\r\n", [Reply("230", "")]),
    (b"211-Features:\r\n MDTM\r\n REST STREAM\r\n211 End\r\n",
     [Reply("211", "Features:\n MDTM\n REST STREAM\nEnd")]),
    (b"150 go\n226 done\n", [Reply("150", "go"), Reply("226", "done")]),
    (b"250-a\r\n250-b\r\n25 x\r\n250 end\r\n", [Reply("250", "a\n250-b\n25 x\nend")]),
    (b"550 \xff name\r\n", [Reply("550", "\ufffd name")]),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), REPLIES)
def test_reply_parser_examples(data: bytes, expected: list[Reply]) -> None:
    assert ReplyParser().feed(data) == expected


@given(st.sampled_from(REPLIES), st.lists(st.integers(0, 200), max_size=6))
def test_reply_parser_any_split_gives_the_same_replies(
    case: tuple[bytes, list[Reply]], cuts: list[int]
) -> None:
    """TCP delivers bytes in arbitrary pieces; the replies must not depend on them."""
    data, expected = case
    parser, got, last = ReplyParser(), [], 0
    for cut in sorted(min(c, len(data)) for c in cuts):
        got += parser.feed(data[last:cut])
        last = cut
    got += parser.feed(data[last:])
    assert got == expected


@pytest.mark.parametrize(
    "data", [b"HTTP/1.1 200 OK\r\n", b"22 short\r\n", b"abc\r\n", b"2200x\r\n"]
)
def test_reply_parser_refuses_what_is_not_ftp(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an FTP reply"):
        ReplyParser().feed(data)


def test_reply_parser_bounds_memory() -> None:
    with pytest.raises(ValueError, match="too long"):
        ReplyParser().feed(b"2" * (ReplyParser.MAX_LINE + 1))
    endless = b"211-start\r\n" + (b"x" * 999 + b"\n") * (ReplyParser.MAX_REPLY // 1000 + 2)
    with pytest.raises(ValueError, match="too long"):
        ReplyParser().feed(endless)


@given(st.binary())
def test_reply_parser_never_fails_otherwise(data: bytes) -> None:
    """Any bytes give replies or ValueError, never another exception."""
    with contextlib.suppress(ValueError):
        ReplyParser().feed(data)


@given(st.integers(min_value=20, max_value=8000))
@example(5000)  # found by fuzzing: int() raised ValueError (the driver made it an FTPError)
def test_size_reply_with_a_huge_number_is_no_size(digits: int) -> None:
    assert parse_size("1" * digits) is None


def test_reply_parser_counts_empty_lines_against_its_limits() -> None:
    """Empty lines carry no text but cost a line each: a reply of nothing but them is cut
    off by the line count, long before the byte limit."""
    empty = b"220-welcome\r\n" + b"\r\n" * ReplyParser.MAX_LINES
    assert len(empty) < ReplyParser.MAX_REPLY
    with pytest.raises(ValueError, match="reply too long"):
        ReplyParser().feed(empty)
