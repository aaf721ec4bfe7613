"""Properties of FTP reply and path rules (aiodl._ftprules): pure, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._ftprules import (
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
