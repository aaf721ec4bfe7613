"""An unreliable image host for ``flaky_images.py``: ``python flaky_server.py N SEED STALL``.

Serves N images of seeded random bytes (20-100 KB) at ``/images/imgNNNNN.jpg`` and their
true digests at ``/SHA256SUMS``, and misbehaves the way overloaded hosts do: some requests
get 503 with ``Retry-After``, some bodies end before their Content-Length, some stop
mid-body for STALL seconds. Each of those fires a limited number of times, so a client
that retries (from where it stopped) gets every image, except a few that always fail:
always 404, always cut short, or always the wrong bytes. Everything is chosen by SEED,
so ``catalog(N, SEED)`` tells the client what to expect. The port is printed on the first
line of stdout; the server runs until it is stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import sys
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Image:
    """One served file and the faults still to come; a count of -1 means forever."""

    data: bytes
    busy: int = 0  # requests still answered 503
    retry_after: str = "0"
    cut_at: int | None = None  # offset where the body ends early
    cuts: int = 0
    stall_at: int | None = None  # offset where the body stops for STALL seconds
    stalls: int = 0
    missing: bool = False  # always 404
    corrupt: bool = False  # always one byte wrong: SHA256SUMS disagrees

    @property
    def doomed(self) -> bool:
        """No number of retries gets this file right."""
        return self.missing or self.corrupt or self.cuts < 0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:16] + '"'


def catalog(count: int, seed: int) -> dict[str, Image]:
    """The images and their faults: the same for the same count and seed."""
    rng = random.Random(seed)
    images = {}
    for number in range(count):
        size = rng.randint(20_000, 100_000)
        image = Image(rng.randbytes(size))
        if rng.random() < 0.10:
            image.busy, image.retry_after = rng.randint(1, 2), rng.choice(["0", "1"])
        if rng.random() < 0.10:
            image.cut_at, image.cuts = rng.randrange(1, size), rng.randint(1, 2)
        if rng.random() < 0.03:
            image.stall_at, image.stalls = rng.randrange(1, size), 1
        images[f"img{number:05}.jpg"] = image
    doomed = rng.sample(sorted(images), 3 * max(1, count // 1000))
    for kind, name in enumerate(doomed):
        image = images[name]
        image.missing, image.corrupt = kind % 3 == 0, kind % 3 == 1
        if kind % 3 == 2:
            image.cut_at, image.cuts = len(image.data) // 2, -1
    return images


def sha256sums(images: dict[str, Image]) -> str:
    return "".join(f"{hashlib.sha256(i.data).hexdigest()}  {n}\n" for n, i in images.items())


def fire(count: int) -> tuple[bool, int]:
    """Whether a fault with ``count`` left fires now, and the count after it."""
    return count != 0, count - 1 if count > 0 else count


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a ``bytes=A-`` or ``bytes=A-B`` header, None for all."""
    if header is None:
        return None
    first, _, last = header.removeprefix("bytes=").partition("-")
    return int(first), min(size, int(last) + 1) if last else size


class FlakyHost:
    def __init__(self, images: dict[str, Image], stall: float) -> None:
        self.images = images
        self.stall = stall

    async def sums(self, request: web.Request) -> web.Response:
        return web.Response(text=sha256sums(self.images))

    async def image(self, request: web.Request) -> web.StreamResponse:
        image = self.images.get(request.match_info["name"])
        if image is None or image.missing:
            return web.Response(status=404, text="no such image")
        busy, image.busy = fire(image.busy)
        if busy:
            return web.Response(status=503, headers={"Retry-After": image.retry_after})
        data = bytearray(image.data)
        if image.corrupt:
            data[len(data) // 2] ^= 0xFF
        ranged = request.headers.get("If-Range", image.etag) == image.etag
        span = byte_range(request.headers.get("Range"), len(data)) if ranged else None
        start, end = span or (0, len(data))
        response = web.StreamResponse(status=206 if span else 200)
        response.headers["ETag"] = image.etag
        if span:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        response.content_length = end - start
        await response.prepare(request)
        return await self.send(request, response, image, memoryview(data)[start:end], start)

    async def send(
        self,
        request: web.Request,
        response: web.StreamResponse,
        image: Image,
        body: memoryview,
        start: int,
    ) -> web.StreamResponse:
        """The body, or the part of it before a cut or a stall, then a dropped connection."""
        cut = self.fault_offset(image, "cut_at", "cuts", start, len(body))
        stall = self.fault_offset(image, "stall_at", "stalls", start, len(body))
        stop = min(x - start for x in (cut, stall, start + len(body)) if x is not None)
        await response.write(body[:stop])
        if stop == len(body):
            await response.write_eof()
            return response
        if stall is not None and stall - start == stop:
            await asyncio.sleep(self.stall)
        if request.transport is not None:
            request.transport.close()
        return response

    @staticmethod
    def fault_offset(image: Image, at: str, times: str, start: int, length: int) -> int | None:
        """The absolute offset where fault ``at`` strikes this response, if it does."""
        offset = getattr(image, at)
        if offset is None or not start <= offset < start + length:
            return None
        strikes, left = fire(getattr(image, times))
        setattr(image, times, left)
        return offset if strikes else None


def main() -> None:
    count, seed, stall = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    host = FlakyHost(catalog(count, seed), stall)
    app = web.Application()
    app.router.add_get("/SHA256SUMS", host.sums)
    app.router.add_get("/images/{name}", host.image)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    web.run_app(app, sock=listener, print=None, access_log=None, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
