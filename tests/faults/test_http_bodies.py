"""Faults in how a response body is framed and described, from a server scripted byte by
byte (testing/servers/rawhttp.py): Content-Length that lies or comes twice, bodies that end
when the connection does, enormous heads, and a huge body behind a small length. Each
test names a fault and asserts what aiodl did."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

import aiodl
from testing import FAST_SPLIT as FAST
from testing import MiB, assert_nothing_saved, assert_saved, random_bytes, sha, whole
from testing.servers.rawhttp import RawRequest, RawServer, Responder, head

pytestmark = pytest.mark.anyio
RETRY_ONCE = {**FAST, "retries": 1}


def ranged(
    data: bytes, length: Callable[[int], int | None] = lambda n: n, cut: int | None = None
) -> Responder:
    """Every range answered 206 with a true Content-Range and, for an n-byte range,
    ``Content-Length: length(n)`` (None: no length, the body ends with the connection).
    The first response stops after ``cut`` body bytes. The connection closes after each."""
    cuts = [] if cut is None else [cut]

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        first, _, last = request.headers["range"].removeprefix("bytes=").partition("-")
        start, end = int(first), int(last) + 1 if last else len(data)
        fields = [f"Content-Range: bytes {start}-{end - 1}/{len(data)}", 'ETag: "v1"']
        if (declared := length(end - start)) is not None:
            fields.append(f"Content-Length: {declared}")
        stop = start + cuts.pop() if cuts else end
        writer.write(head("206 Partial Content", *fields) + data[start:stop])
        return False

    return respond


async def test_content_length_larger_than_the_body_fails(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """200 with a Content-Length 500 bytes beyond the body, then the connection closes:
    the body ended early every time, so the file fails (TransferError) after its retry."""
    data = random_bytes(100_000)
    url = raw_server.add("long", whole(data, f"Content-Length: {len(data) + 500}"))
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert isinstance(result.error, aiodl.TransferError)
    assert "500 bytes" in str(result.error)
    assert len(raw_server.requests_for("long")) == 2
    assert_nothing_saved(tmp_path)


async def test_206_content_length_larger_than_its_range_is_refused(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A 206 whose Content-Length exceeds its Content-Range: which bytes are which is
    unknowable, so nothing is written (IntegrityError, not retried)."""
    data = random_bytes(100_000)
    url = raw_server.add("long", ranged(data, length=lambda n: n + 500))
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert "Content-Length" in str(result.error)
    assert len(raw_server.requests_for("long")) == 1
    assert_nothing_saved(tmp_path)


async def test_body_beyond_content_length_is_not_written(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """200 with a Content-Length smaller than what follows: the file is the announced
    bytes; the 64 KiB the server sends beyond them are not written."""
    data = random_bytes(200_000)
    junk = random_bytes(64 * 1024)
    url = raw_server.add("short", whole(data, f"Content-Length: {len(data)}", extra=junk))
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert result.size == len(data)


async def test_206_content_length_smaller_than_its_range_is_refused(
    raw_server: RawServer, tmp_path: Path
) -> None:
    data = random_bytes(100_000)
    url = raw_server.add("short", ranged(data, length=lambda n: n - 500))
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert "Content-Length" in str(result.error)
    assert_nothing_saved(tmp_path)


async def test_close_delimited_body_is_saved_whole(raw_server: RawServer, tmp_path: Path) -> None:
    """No Content-Length, no chunking: the body ends when the server closes, and all of
    it is the file."""
    data = random_bytes(MiB + 3)
    url = raw_server.add("open", whole(data))
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert result.size == len(data)


async def test_close_delimited_body_cut_short_fails_its_checksum(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A close-delimited body that stops at 60 %: its length cannot tell, but the
    checksum can; the file fails (IntegrityError) and nothing is kept."""
    data = random_bytes(MiB)
    url = raw_server.add("cut", whole(data[: len(data) * 6 // 10]))
    request = aiodl.Request(url, checksum=f"sha256:{sha(data)}")
    result = (await aiodl.download_many([request], tmp_path, **FAST))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert_nothing_saved(tmp_path)


async def test_close_delimited_206_cut_short_is_resumed(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A 206 without Content-Length that stops after 300 KB: Content-Range tells the size,
    so the early close is a short body, and the rest is asked for from byte 300000."""
    data = random_bytes(MiB)
    url = raw_server.add("cut206", ranged(data, length=lambda n: None, cut=300_000))
    result = await aiodl.download(url, tmp_path, **{**FAST, "split": 1})
    assert_saved(result, data)
    assert [seen.range_start for seen in raw_server.requests_for("cut206")] == [0, 300_000]


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize("fault", ["two lengths", "length and chunked"])
async def test_conflicting_content_lengths_are_refused(
    raw_server: RawServer, tmp_path: Path, fault: str
) -> None:
    """Two different Content-Length fields, or one beside Transfer-Encoding: chunked (the
    request-smuggling signals): nothing is written, the error names Content-Length."""
    data = random_bytes(10_000)
    if fault == "two lengths":
        respond = whole(data, f"Content-Length: {len(data)}", f"Content-Length: {len(data) + 1}")
    else:
        fields = [f"Content-Length: {len(data)}", "Transfer-Encoding: chunked"]
        respond = whole(_chunked(data), *fields)
    url = raw_server.add("both", respond)
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert result.error is not None
    assert "Content-Length" in str(result.error)
    assert_nothing_saved(tmp_path)


async def test_identical_duplicate_content_lengths_are_one(
    raw_server: RawServer, tmp_path: Path
) -> None:
    data = random_bytes(10_000)
    length = f"Content-Length: {len(data)}"
    url = raw_server.add("twice", whole(data, length, length))
    result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)


async def test_content_length_list_is_saved_right_or_refused(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """``Content-Length: N, N`` (one field, a list): RFC 9110 lets a recipient accept it as
    N or reject it; either way the file is never wrong."""
    data = random_bytes(10_000)
    url = raw_server.add("list", whole(data, f"Content-Length: {len(data)}, {len(data)}"))
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    if result.ok:
        assert_saved(result, data)
    else:
        assert "Content-Length" in str(result.error)
        assert_nothing_saved(tmp_path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["X-Big: " + "a" * 100_000], "larger than 64 KiB"),
        ([f"X-Field-{i}: 1" for i in range(200)], "more than 128 header fields"),
    ],
    ids=["one 100 KB field", "200 fields"],
)
async def test_enormous_response_head_is_refused(
    raw_server: RawServer, tmp_path: Path, fields: list[str], message: str
) -> None:
    """A response head of 100 KB, or of 200 fields: refused unread past its bound, as a
    malformed response (IntegrityError: not retried), nothing written."""
    url = raw_server.add("big", whole(b"abc", *fields, "Content-Length: 3"))
    result = (await aiodl.download_many([url], tmp_path, **RETRY_ONCE))[0]
    assert isinstance(result.error, aiodl.IntegrityError)
    assert len(raw_server.requests_for("big")) == 1
    assert message in str(result.error)
    assert_nothing_saved(tmp_path)


async def test_huge_body_behind_a_small_content_length_is_not_read(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """Content-Length 1000, then 8 MiB more on a connection the server keeps open: the
    file is the 1000 announced bytes, saved without waiting for (or reading) the rest."""
    data = random_bytes(1000)

    async def flood(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", "Content-Length: 1000") + data + random_bytes(8 * MiB))
        await writer.drain()  # returns when the client has read it all, or raises
        return True

    url = raw_server.add("flood", flood)
    async with asyncio.timeout(10):  # a client reading on would wait forever here
        result = await aiodl.download(url, tmp_path, **FAST)
    assert_saved(result, data)
    assert result.size == 1000


async def test_bytes_beyond_content_length_never_answer_the_next_request(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """Response desync: file a's response carries, after its Content-Length bytes, a
    complete second response (``EVIL!...``). A pooled connection is peeked before it
    carries a request; one with unread bytes (or at its end) is closed, so b comes on a
    new connection and equals its source."""
    a_data, b_data = random_bytes(200_000), random_bytes(1000)
    evil = b"EVIL!" * 10
    smuggled = head("200 OK", f"Content-Length: {len(evil)}") + evil

    async def a(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", f"Content-Length: {len(a_data)}") + a_data + smuggled)
        return True

    async def b(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("200 OK", f"Content-Length: {len(b_data)}") + b_data)
        return True

    urls = [raw_server.add("a", a), raw_server.add("b", b)]
    results = await aiodl.download_many(urls, tmp_path, connections=1, **FAST)
    assert_saved(results[0], a_data)
    assert_saved(results[1], b_data)
