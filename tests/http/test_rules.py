"""Properties of the HTTP trust rules (aiodl._protocols.http.rules): ranges, redirects,
secret masking."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from aiodl._credentials import looks_secret, mask_url, redirect_headers
from aiodl._exceptions import DownloadError
from aiodl._protocols.http.rules import (
    ContentRange,
    parse_content_range,
    range_header,
    range_matches,
    redirect_url,
)
from aiodl._urls import origin

offsets = st.integers(min_value=0, max_value=2**63)
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
alnum = st.text(alphabet=ALNUM)


@given(offsets, st.integers(min_value=0, max_value=2**40), st.integers(min_value=1, max_value=9))
def test_content_range_round_trip(start: int, length: int, spare: int) -> None:
    last = start + length
    total = last + spare
    parsed = parse_content_range(f"bytes {start}-{last}/{total}")
    assert parsed == ContentRange(start, last, total)
    assert parse_content_range(f"  BYTES {start}-{last}/*  ") == ContentRange(start, last, None)
    assert range_matches(parsed, start, last + 1)
    assert not range_matches(parsed, start, last + 2)
    assert not range_matches(parsed, start + 1, last + 1)
    assert range_matches(parsed, start, None) == (spare == 1)


@pytest.mark.parametrize(
    "value",
    [None, "", "bytes */100", "bytes 5-4/100", "bytes 0-100/100", "bytes 0-9", "items 0-9/10",
     "bytes -1-9/10", "bytes 0-9/10/11", "bytes=0-9/10", "bytes 0 - 9/10", "bytes 0-9/abc"],
)  # fmt: skip
def test_content_range_malformed_is_none(value: str | None) -> None:
    assert parse_content_range(value) is None


@given(st.text())
def test_content_range_never_raises(value: str) -> None:
    parsed = parse_content_range(value)
    if parsed is not None:
        assert 0 <= parsed.start <= parsed.last
        assert parsed.total is None or parsed.last < parsed.total


def test_range_matches_examples() -> None:
    assert not range_matches(None, 0, 10)
    assert range_matches(ContentRange(0, 9, 10), 0, 10)
    assert range_matches(ContentRange(0, 9, 10), 0, None)
    assert range_matches(ContentRange(0, 9, None), 0, 10)
    assert not range_matches(ContentRange(0, 9, None), 0, None)  # open request, unknown end
    assert not range_matches(ContentRange(0, 99, 1000), 0, None)  # short of the file's end


@given(offsets, st.one_of(st.none(), st.integers(min_value=1, max_value=2**40)))
def test_range_header_round_trips(start: int, length: int | None) -> None:
    end = None if length is None else start + length
    header = range_header(start, end)
    assert header == (f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}")
    if end is not None:
        echoed = parse_content_range(header.replace("=", " ", 1) + f"/{end}")
        assert range_matches(echoed, start, end)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/x", ("http", "h", 80)),
        ("http://H:80/", ("http", "h", 80)),
        ("HTTPS://Example.COM/a?b", ("https", "example.com", 443)),
        ("https://u:p@h:8443/", ("https", "h", 8443)),
        ("ftp://h/f", ("ftp", "h", 21)),
        ("http://[::1]:8080/", ("http", "::1", 8080)),
    ],
)
def test_origin(url: str, expected: tuple[str, str, int]) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("https://a/dir/f", "other", "https://a/dir/other"),
        ("https://a/dir/f", "/root", "https://a/root"),
        ("https://a/dir/f", "//b/x", "https://b/x"),
        ("https://a/dir/f", "  ../up?q=1 ", "https://a/up?q=1"),
        ("http://a/", "https://b/", "https://b/"),
        ("http://a/", "http://b/", "http://b/"),
        ("https://a/", "https://b/", "https://b/"),
    ],
)
def test_redirect_url_resolves(current: str, location: str, expected: str) -> None:
    assert redirect_url(current, location) == expected


@pytest.mark.parametrize(
    ("current", "location"),
    [
        ("https://a/", "http://a/"),
        ("https://a/", "HTTP://b/x"),
        ("http://a/", "ftp://a/file"),
        ("http://a/", "file:///etc/passwd"),
        ("https://a/", "javascript:alert(1)"),
        ("https://a/", "data:text/plain,hi"),
    ],
)
def test_redirect_url_refuses(current: str, location: str) -> None:
    with pytest.raises(DownloadError):
        redirect_url(current, location)


@given(st.text())
@example("https://h:abc/")  # invalid port
@example("https://h:99999/")  # port out of range
@example("https://[x/")  # unbalanced IPv6 bracket
def test_redirect_location_is_followed_or_refused_as_download_error(location: str) -> None:
    # The engine turns DownloadError into a result; any other exception escapes the batch.
    try:
        target = redirect_url("https://a.example/dir/f", location)
        redirect_headers({"Authorization": "x"}, [], "https://a.example/dir/f", target)
    except DownloadError:
        return
    assert urlsplit(target).scheme.lower() == "https"


HEADERS = {"Authorization": "Bearer t", "cookie": "s=1", "Proxy-Authorization": "Basic x",
           "X-Api-Key": "k", "Accept": "*/*", "User-Agent": "aiodl"}  # fmt: skip


@pytest.mark.parametrize(
    ("current", "target"),
    [("http://h/a", "http://h/b"), ("http://h/a", "http://h:80/b"),
     ("https://h:443/a", "https://H/b"), ("https://u@h/a", "https://h/b")],
)  # fmt: skip
def test_redirect_headers_same_origin_keeps_all(current: str, target: str) -> None:
    assert redirect_headers(HEADERS, ["x-api-key"], current, target) == HEADERS


@pytest.mark.parametrize(
    ("current", "target"),
    [("http://h/a", "http://other/b"), ("http://h/a", "https://h/b"),
     ("http://h/a", "http://h:8080/b"), ("https://h/a", "https://sub.h/b")],
)  # fmt: skip
def test_redirect_headers_cross_origin_drops_credentials(current: str, target: str) -> None:
    kept = redirect_headers(HEADERS, ["X-API-KEY"], current, target)
    assert kept == {"Accept": "*/*", "User-Agent": "aiodl"}


@given(
    st.dictionaries(st.text(alphabet="abcdefgxyzXYZ-", min_size=1), st.text()),
    st.lists(st.text(alphabet="abcdefgxyzXYZ-", min_size=1)),
)
def test_redirect_headers_cross_origin_property(
    headers: dict[str, str], credentials: list[str]
) -> None:
    headers = {**headers, "AUTHORIZATION": "a", "Cookie": "c", "proxy-authorization": "p"}
    kept = redirect_headers(headers, credentials, "https://a/", "https://b/")
    secret = {name.lower() for name in credentials}
    assert all(name.lower() not in secret for name in kept)
    assert not {"authorization", "cookie", "proxy-authorization"} & {n.lower() for n in kept}
    for name, value in headers.items():
        if name.lower() not in secret | {"authorization", "cookie", "proxy-authorization"}:
            assert kept[name] == value


def test_looks_secret() -> None:
    for name in ["password", "X-Api-Key", "access_token", "Signature", "X-Amz-Credential"]:
        assert looks_secret(name), name
    for name in ["Accept", "User-Agent", "page", "format", "id", "x"]:
        assert not looks_secret(name), name


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:hunter2@h/p", "https://user:***@h/p"),
        ("https://user:hunter2@h:8443/p?a=1#f", "https://user:***@h:8443/p?a=1#f"),
        ("https://user@h/p", "https://***@h/p"),  # a lone user-info is often a token
        ("https://h/p?token=abc&page=2", "https://h/p?token=***&page=2"),
        ("https://h/p?api_key=abc", "https://h/p?api_key=***"),
        ("https://h/p?X-Amz-Signature=abc&X-Amz-Date=1", "https://h/p?X-Amz-Signature=***&X-Amz-Date=1"),
        ("https://h/p?page=2", "https://h/p?page=2"),
        ("https://h/p", "https://h/p"),
    ],
)  # fmt: skip
def test_mask_url_examples(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@given(
    st.sampled_from(["http", "https", "ftp"]),
    alnum.filter(bool),
    st.text(alphabet=ALNUM, min_size=4),
    st.sampled_from(["h", "example.com", "10.0.0.1:8080", "[::1]:9"]),
    alnum,
    st.lists(st.tuples(alnum, alnum), max_size=4),
)
def test_mask_url_hides_password(
    scheme: str, user: str, password: str, host: str, path: str, query: list[tuple[str, str]]
) -> None:
    rest = "&".join(f"{key}={value}" for key, value in query)
    url = f"{scheme}://{user}:{password}@{host}/{path}" + (f"?{rest}" if rest else "")
    assume(password not in url.replace(f":{password}@", ":***@"))
    masked = mask_url(url)
    assert password not in masked
    assert f"{user}:***@" in masked


@given(
    st.sampled_from(["token", "access_token", "api_key", "sig", "X-Amz-Signature", "password"]),
    st.text(alphabet=ALNUM, min_size=4),
    st.lists(st.tuples(st.sampled_from(["page", "id", "format"]), alnum), max_size=3),
)
def test_mask_url_hides_secret_query_values(
    key: str, value: str, others: list[tuple[str, str]]
) -> None:
    pairs = [*others, (key, value)]
    url = "https://h/f?" + "&".join(f"{k}={v}" for k, v in pairs)
    assume(value not in url.replace(f"{key}={value}", f"{key}=***"))
    masked = mask_url(url)
    assert value not in masked
    assert f"{key}=***" in masked


def test_mask_url_hides_percent_encoded_secret_names() -> None:
    # '%74oken' is 'token' to the server, so its value is just as secret
    assert "abcdefgh" not in mask_url("https://h/f?%74oken=abcdefgh")


@given(
    st.from_regex(
        r"\A\s{0,2}(bytes|BYTES|Bytes|items|byte)?\s{0,2}-?[0-9]{0,30}\s?-?\s?-?[0-9]{0,30}"
        r"(/([0-9]{0,30}|\*|-[0-9]{1,5}))?\s{0,2}\Z"
    )
)
@example("bytes 0-0/1")
@example("bytes 0-0/0")
@example("bytes 00-09/010")
@example("bytes \uff10-\uff19/\uff11\uff10")  # fullwidth digits are not digits here
def test_near_valid_content_ranges_parse_consistently(value: str) -> None:
    """Text shaped like a Content-Range: None, or a satisfiable range that prints back
    to a value parsing to itself."""
    parsed = parse_content_range(value)
    if parsed is None:
        return
    assert 0 <= parsed.start <= parsed.last
    assert parsed.total is None or parsed.last < parsed.total
    total = "*" if parsed.total is None else str(parsed.total)
    assert parse_content_range(f"bytes {parsed.start}-{parsed.last}/{total}") == parsed


@given(st.integers(min_value=20, max_value=6000), st.sampled_from(["start", "last", "total"]))
@example(5000, "last")  # found by fuzzing: int() refuses > 4300 digits with ValueError
def test_content_range_with_a_huge_number_is_none(digits: int, where: str) -> None:
    """A number past 2**63 (a 206's Content-Range with 5000 digits made download_many
    raise ValueError and abandon the whole batch) is malformed: None."""
    parts = {"start": "0", "last": "9", "total": "10"} | {where: "1" * digits}
    assert parse_content_range(f"bytes {parts['start']}-{parts['last']}/{parts['total']}") is None
