"""Mirrors with a bandwidth cap per server, not per connection: a busy public mirror.

nginx's ``limit_rate`` caps each request and lets its first second through at full speed,
so a client that opens more requests gets more bandwidth and more bursts. Here every
response of one server draws from that server's token bucket (aiodl's own, the one its
tests prove), so one server never gives more than ``rate`` bytes per second however it
is asked. Served from a thread with its own event loop, beside the benchmark harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from aiodl._pacing.bucket import Throttle

CHUNK = 64 << 10
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def app(root: Path, rate: float) -> web.Application:
    """Serves the files under ``root`` (GET, HEAD, single byte ranges) at ``rate`` in all."""
    throttle = Throttle(rate)

    async def serve(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["tail"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(status=404)
        stat = path.stat()
        size, start, end = stat.st_size, 0, stat.st_size
        match = _RANGE.match(request.headers.get("Range", ""))
        response = web.StreamResponse(status=206 if match else 200)
        if match:
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["ETag"] = f'"{int(stat.st_mtime):x}-{size:x}"'  # same on every mirror
        response.content_length = end - start
        await response.prepare(request)
        if request.method == "GET":
            # A reset: the client had what it wanted (a tail stolen by a faster mirror).
            with contextlib.suppress(ConnectionResetError):
                await _send(response, path, start, end, throttle)
        return response

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", serve)
    return application


async def _send(
    response: web.StreamResponse, path: Path, start: int, end: int, throttle: Throttle
) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = start
        while offset < end:
            chunk = os.pread(fd, min(CHUNK, end - offset), offset)
            await throttle.spend(len(chunk))
            await response.write(chunk)
            offset += len(chunk)
    finally:
        os.close(fd)


@contextmanager
def serve(root: Path, rate: float, count: int) -> Iterator[list[str]]:
    """``count`` servers of ``root`` on loopback ports, each capped at ``rate`` bytes per
    second; yields their base URLs and stops them after the block."""
    loop, root = asyncio.new_event_loop(), root.resolve()
    runners: list[web.AppRunner] = []

    async def start() -> list[str]:
        bases = []
        for _ in range(count):
            runner = web.AppRunner(app(root, rate), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            bases.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        return bases

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    finally:
        for runner in runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
