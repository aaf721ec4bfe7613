"""The run's cookie jar (aiodl._protocols.http.cookies): the cookie rules, and Netscape
cookie files in curl's format, both ways (issue 21)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from aiodl._protocols.http.cookies import Cookies


def set_cookie(*values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict([("Set-Cookie", value) for value in values]))


def sent(jar: Cookies, url: str) -> str | None:
    headers: dict[str, str] = {}
    jar.add_to(url, headers)
    return headers.get("Cookie")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://data.test:9999/x", "host=1; dom=2"),  # ports do not count
        ("https://data.test/secure/f", "sec=3; host=1; dom=2"),
        ("http://data.test/secure/f", "host=1; dom=2"),  # Secure: https only
        ("http://sub.data.test/", "dom=2"),  # host-only stays on its host (RFC 6265)
        ("http://other.test/", None),
        ("http://evildata.test/", None),
    ],
)
def test_domain_path_and_secure_rules(url: str, expected: str | None) -> None:
    jar = Cookies()
    jar.store(
        "http://user:pw@data.test:8080/login",
        set_cookie("host=1; Path=/", "dom=2; Domain=data.test; Path=/",
                   "sec=3; Path=/secure; Secure", "bad=4; Domain=other.test"),
    )  # fmt: skip
    assert sent(jar, url) == expected


def test_expired_and_caller_set_cookies() -> None:
    jar = Cookies()
    jar.store("http://data.test/", set_cookie("gone=1; Max-Age=0", "kept=2"))
    assert sent(jar, "http://data.test/") == "kept=2"
    own = {"cookie": "mine=1"}
    jar.add_to("http://data.test/", own)
    assert own == {"cookie": "mine=1"}  # the caller's own Cookie header wins


names = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
values = st.text("abcdefghijklmnopqrstuvwxyzABCDEF0123456789-._~", max_size=20)


@given(cookies=st.dictionaries(names, values, min_size=1, max_size=5), secure=st.booleans())
def test_netscape_file_round_trip(
    tmp_path_factory: pytest.TempPathFactory, cookies: dict[str, str], secure: bool
) -> None:
    """Session cookies and HttpOnly ones survive a save and a load."""
    path = tmp_path_factory.mktemp("jar") / "cookies.txt"
    jar = Cookies()
    flags = "; Secure" if secure else ""
    jar.store(
        "https://data.test/", set_cookie(*(f"{k}={v}; HttpOnly{flags}" for k, v in cookies.items()))
    )
    jar.save(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.read_text().count("#HttpOnly_data.test") == len(cookies)
    loaded = Cookies()
    loaded.load(path)
    assert sent(loaded, "https://data.test/") == sent(jar, "https://data.test/")
    assert (sent(loaded, "http://data.test/") is None) == secure


def test_a_file_curl_wrote_is_read_and_curl_reads_ours(tmp_path: Path) -> None:
    """curl's own cookie file (session cookies with expiry 0, #HttpOnly_ lines) loads,
    and the file we write is one curl accepts."""
    theirs = tmp_path / "curl.txt"
    theirs.write_text(
        "# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n\n"
        "#HttpOnly_data.test\tFALSE\t/\tFALSE\t0\tsession\tabc\n"
        ".data.test\tTRUE\t/\tFALSE\t4102444800\tlong\txyz\n"
        "data.test\tFALSE\t/\tFALSE\t1\told\tgone\n"
    )
    jar = Cookies()
    jar.load(theirs)
    assert sent(jar, "http://data.test/") == "session=abc; long=xyz"
    ours = tmp_path / "ours.txt"
    jar.save(ours)
    shown = subprocess.run(
        ["curl", "-s", "-b", str(ours), "-c", "-", "--connect-to", "::127.0.0.1:9",
         "http://data.test/"], capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert "session\tabc" in shown
    assert "long\txyz" in shown


def test_a_missing_or_foreign_file_is_an_invalid_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cookie file not found"):
        Cookies().load(tmp_path / "none.txt")
    (tmp_path / "x.txt").write_text("session=abc\n")
    with pytest.raises(ValueError, match="not in Netscape format"):
        Cookies().load(tmp_path / "x.txt")
