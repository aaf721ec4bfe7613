"""A real HTTP server on 127.0.0.1 whose files can be told to misbehave.

Each served file has a ``Faults`` record: switches for the ways servers break downloads.
Every request is recorded (method, path, headers, time) so tests assert what the client
actually sent, not what it meant to send.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web import ContentCoding

from testing.servers.rawhttp import reset

CHUNK = 64 * 1024


@dataclass
class Faults:
    """Switches for one file. Counters (``*_times``) count down per GET; -1 means always."""

    ignore_range: bool = False  # answer 200 + full body to every range request
    ignore_range_from: int | None = None  # ... to every range starting at or after this
    wrong_range_after: int | None = None  # 206 for start > this, with a shifted Content-Range
    truncate_at: int | None = None  # close the connection at this absolute byte offset
    truncate_times: int = -1
    reset: bool = False  # cut (truncate_at) with a TCP RST instead of an orderly close
    statuses: list[int] = field(default_factory=list)  # served (one per GET) before the file
    retry_after: str | None = None  # sent with those statuses
    head_status: int | None = None  # answer HEAD with this status
    head_size: int | None = None  # answer HEAD 200 with this Content-Length (a lie)
    stall_at: int | None = None  # stop sending at this absolute offset and hang
    stall_times: int = -1
    content_disposition: str | None = None
    redirect_to: str | None = None  # 302 to this URL instead of serving
    redirect_cycle: list[str] = field(default_factory=list)  # 302 to each in turn, per GET
    range_416_times: int = 0  # answer this many range requests 416 (bytes */size)
    range_cap: int | None = None  # a 206 holds at most this many bytes (said in Content-Range)
    gzip: bool = False  # gzip every body whatever Accept-Encoding says (after slicing ranges)
    chunked: bool = False  # no Content-Length: chunked transfer encoding
    etag: str | None = ""  # "" is computed from the bytes; None sends no ETag
    last_modified: str | None = None
    conditional: bool = False  # 304 to a matching If-None-Match / exact If-Modified-Since
    rate: int | None = None  # bytes per second per response (a slow server)
    slow_from: int | None = None  # a response for a range starting here is sent at...
    slow_rate: int = 50_000  # ...this many bytes per second (one slow connection)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every file response
    authorization: str | None = None  # the Authorization header required, else 401
    fail_after: int | None = None  # body bytes sent in all before every response is cut
    # and every later request answered 503 (a mirror that breaks down halfway)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float
    peer: tuple[str, int] | None = None  # the client's address: one per connection

    @property
    def range_start(self) -> int | None:
        value = self.headers.get("Range")
        if value is None:
            return None
        return int(value.removeprefix("bytes=").split("-")[0])


def _take(counter: int) -> tuple[bool, int]:
    """Whether a fault with this countdown fires now, and the counter after it."""
    if counter == 0:
        return False, 0
    return True, counter - 1 if counter > 0 else -1


class FaultServer:
    """Serves ``files`` under ``/NAME``; ``faults[NAME]`` decides how badly."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, Faults] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.sent: dict[str, int] = {}  # body bytes sent per file name
        self.max_in_flight = 0
        self.port = 0
        self.scheme = "http"
        self._closing = asyncio.Event()
        self.stalled = asyncio.Event()  # set when a response starts hanging (stall_at)

    def add(self, name: str, data: bytes, **faults: object) -> str:
        """Serve ``data`` at ``/name`` with the given fault switches; returns its URL."""
        self.files[name] = data
        self.faults[name] = Faults(**faults)  # type: ignore[arg-type]
        if self.faults[name].etag == "":
            self.faults[name].etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def requests_for(self, name: str, method: str = "GET") -> list[Seen]:
        return [s for s in self.seen if s.path == f"/{name}" and s.method == method]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(request.method, request.path, dict(request.headers), time.monotonic(), peer)
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.path.lstrip("/")
        if name not in self.files:
            return web.Response(status=404, text="no such file")
        faults = self.faults[name]
        if faults.authorization and request.headers.get("Authorization") != faults.authorization:
            return web.Response(status=401, headers={"WWW-Authenticate": "Basic"})
        if request.method == "HEAD" and faults.head_status is not None:
            return web.Response(status=faults.head_status)
        if request.method == "HEAD" and faults.head_size is not None:
            lie = web.StreamResponse(headers={"Accept-Ranges": "bytes"})
            lie.content_length = faults.head_size
            await lie.prepare(request)
            return lie
        if faults.fail_after is not None and self.sent.get(name, 0) >= faults.fail_after:
            return web.Response(status=503, text="broken")
        if faults.statuses:
            status = faults.statuses.pop(0)
            headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            return web.Response(status=status, headers=headers, text="try later")
        if faults.redirect_to is not None:
            raise web.HTTPFound(faults.redirect_to)
        if faults.redirect_cycle:
            faults.redirect_cycle.append(faults.redirect_cycle.pop(0))
            raise web.HTTPFound(faults.redirect_cycle[-1])
        return await self._serve(request, name, faults)

    async def _serve(self, request: web.Request, name: str, faults: Faults) -> web.StreamResponse:
        data = self.files[name]
        if faults.conditional and _not_modified(request, faults):
            validators = {"ETag": faults.etag, "Last-Modified": faults.last_modified}
            return web.Response(status=304, headers={k: v for k, v in validators.items() if v})
        byte_range = request.headers.get("Range")
        if not _if_range_holds(request.headers.get("If-Range"), faults):
            byte_range = None  # RFC 9110: a failed If-Range means "send the whole file"
        start, end, partial = _parse_range(byte_range, len(data), faults)
        if start is None or (partial and self._refuse(faults)):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        if partial and faults.range_cap is not None:
            end = min(end, start + faults.range_cap)
        response = web.StreamResponse(status=206 if partial else 200)
        response.headers["Accept-Ranges"] = "none" if faults.ignore_range else "bytes"
        if faults.etag:
            response.headers["ETag"] = faults.etag
        if faults.last_modified:
            response.headers["Last-Modified"] = faults.last_modified
        response.headers.update(faults.headers)
        if faults.content_disposition:
            response.headers["Content-Disposition"] = faults.content_disposition
        if partial:
            shown = start + 1 if _wrong(faults, start) else start
            response.headers["Content-Range"] = (
                f"bytes {shown}-{shown + end - start - 1}/{len(data)}"
            )
        if faults.gzip:
            response.enable_compression(ContentCoding.gzip)  # chunked, no Content-Length
        elif faults.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = end - start
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        await self._send(request, response, name, start, end)
        return response

    async def _send(
        self, request: web.Request, response: web.StreamResponse, name: str, start: int, end: int
    ) -> None:
        data, faults = self.files[name], self.faults[name]
        cut = self._cut(faults, start, end)
        stall = self._stall(faults, start, end)
        stop = min(x for x in (cut, stall, end) if x is not None)
        began = time.monotonic()
        rate = faults.slow_rate if start == faults.slow_from else faults.rate
        for offset in range(start, stop, CHUNK):
            if faults.fail_after is not None and self.sent.get(name, 0) >= faults.fail_after:
                stop = offset  # broken down: cut this response here
                break
            await response.write(data[offset : min(offset + CHUNK, stop)])
            self.sent[name] = self.sent.get(name, 0) + min(CHUNK, stop - offset)
            if rate:  # keep to the rate: wait until the bytes sent are due
                due = began + (offset + CHUNK - start) / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        if stall is not None and stall == stop:
            self.stalled.set()
            await asyncio.wait_for(self._closing.wait(), timeout=60)
        if stop < end:
            assert request.transport is not None
            if faults.reset:
                reset(request.transport)
            else:
                request.transport.close()
            return
        await response.write_eof()

    def _cut(self, faults: Faults, start: int, end: int) -> int | None:
        if faults.truncate_at is None or not start <= faults.truncate_at < end:
            return None
        fire, faults.truncate_times = _take(faults.truncate_times)
        return faults.truncate_at if fire else None

    def _refuse(self, faults: Faults) -> bool:
        fire, faults.range_416_times = _take(faults.range_416_times)
        return fire

    def _stall(self, faults: Faults, start: int, end: int) -> int | None:
        if faults.stall_at is None or not start <= faults.stall_at < end:
            return None
        fire, faults.stall_times = _take(faults.stall_times)
        return faults.stall_at if fire else None

    def close(self) -> None:
        self._closing.set()


def _if_range_holds(value: str | None, faults: Faults) -> bool:
    """An If-Range holds when absent or equal to the current ETag or Last-Modified."""
    return value is None or value in (faults.etag, faults.last_modified)


def _not_modified(request: web.Request, faults: Faults) -> bool:
    """As nginx decides: If-None-Match first, else If-Modified-Since equal to the time."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return faults.etag is not None and faults.etag in (t.strip() for t in tags.split(","))
    since = request.headers.get("If-Modified-Since")
    return since is not None and since == faults.last_modified


def _wrong(faults: Faults, start: int) -> bool:
    return faults.wrong_range_after is not None and start > faults.wrong_range_after


def _parse_range(header: str | None, size: int, faults: Faults) -> tuple[int | None, int, bool]:
    """(start, end exclusive, partial?) for a single ``bytes=a-b`` / ``bytes=a-`` range."""
    if header is None or faults.ignore_range:
        return 0, size, False
    first, _, last = header.removeprefix("bytes=").partition("-")
    start = int(first)
    if faults.ignore_range_from is not None and start >= faults.ignore_range_from:
        return 0, size, False
    end = min(size, int(last) + 1) if last else size
    if start >= size:
        return None, 0, False
    return start, end, True


@asynccontextmanager
async def running(
    server: FaultServer | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[FaultServer]:
    """Run ``server`` on a free port of 127.0.0.1 (HTTPS when ``tls`` is given)."""
    server = server or FaultServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server.port = runner.addresses[0][1]
    server.scheme = "https" if tls else "http"
    try:
        yield server
    finally:
        server.close()
        await runner.cleanup()
