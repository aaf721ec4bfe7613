"""Thousands of small images from a flaky server, each verified or reported failed.

The job of scraping a dataset of images from an overloaded host: some requests get 503
with ``Retry-After``, some bodies end early, some connections go silent mid-file, and a
few files are simply broken (404, always cut short, or bytes that do not match the
published ``SHA256SUMS``). One ``download_many`` call with 16 connections, a short
timeout and quick retries gets everything that can be had; the rest come back as failed
Results with a reason. The point checked at the end: every final path holds exactly the
published bytes, and every file not there was reported failed. The server
(``flaky_server.py``) runs in a subprocess on 127.0.0.1.

    python examples/flaky_images.py                      # 2000 images
    AIODL_EXAMPLE_FILES=200 python examples/flaky_images.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from flaky_server import Image, catalog

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "flaky"
COUNT = int(os.environ.get("AIODL_EXAMPLE_FILES", "2000"))
SEED = int(os.environ.get("AIODL_EXAMPLE_SEED", "2026"))
TIMEOUT = float(os.environ.get("AIODL_EXAMPLE_TIMEOUT", "1.0"))  # a stall lasts 3x this


def start_server() -> tuple[subprocess.Popen[str], int]:
    script = Path(__file__).with_name("flaky_server.py")
    command = [sys.executable, str(script), str(COUNT), str(SEED), str(3 * TIMEOUT)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def describe(images: dict[str, Image]) -> str:
    values = images.values()
    busy = sum(i.busy > 0 for i in values)
    cut = sum(i.cuts > 0 for i in values)
    stall = sum(i.stalls > 0 for i in values)
    doomed = sum(i.doomed for i in values)
    size = sum(len(i.data) for i in values)
    return (
        f"serving {len(images)} images ({size / 1e6:.1f} MB): {busy} answer 503 first, "
        f"{cut} are cut short, {stall} stall past the {TIMEOUT:g} s timeout, {doomed} always fail"
    )


async def fetch(base: str, names: list[str], dest: Path) -> tuple[list[aiodl.Result], Counter[int]]:
    """One call for the lot; the progress callable only counts retries per file."""
    retries: Counter[int] = Counter()

    def progress(event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Retried):
            retries[event.index] += 1

    results = await aiodl.download_many(
        [f"{base}/images/{name}" for name in names],
        dest,
        connections=16,
        per_host=16,  # one host: without this the per-host default (8) is the bound
        retries=4,
        timeout=TIMEOUT,
        backoff=0.05,
        checksums=f"{base}/SHA256SUMS",
        progress=progress,
    )
    return results, retries


def report(results: list[aiodl.Result], retries: Counter[int], seconds: float) -> None:
    ok = [i for i, r in enumerate(results) if r.ok]
    retried = sum(1 for i in ok if retries[i])
    failed = Counter(type(r.error).__name__ for r in results if not r.ok)
    print(
        f"done in {seconds:.2f} s: {len(ok)} ok ({len(ok) - retried} at the first try, "
        f"{retried} after retries; {retries.total()} retries in all), "
        f"{len(results) - len(ok)} failed {dict(failed)}"
    )
    for result in results:
        if not result.ok:
            print(f"  failed {result.url}: {result.error}")


def wrong_files(images: dict[str, Image], results: list[aiodl.Result], dest: Path) -> list[str]:
    """Files breaking the promise: ok means the published sha256 at the final path, and
    a failure leaves nothing there (``.part`` files may stay for a later resume)."""
    wrong = []
    for (name, image), result in zip(images.items(), results, strict=True):
        path = dest / name
        if result.ok:
            digest = hashlib.sha256(path.read_bytes()) if path.is_file() else None
            good = digest is not None and digest.digest() == hashlib.sha256(image.data).digest()
        else:
            good = not path.exists()
        if not good:
            wrong.append(f"{name} (reported {'ok' if result.ok else 'failed'})")
    return wrong


def main() -> int:
    images = catalog(COUNT, SEED)
    print(describe(images))
    dest = WORK / "images"
    shutil.rmtree(dest, ignore_errors=True)
    server, port = start_server()
    try:
        started = time.perf_counter()
        results, retries = asyncio.run(fetch(f"http://127.0.0.1:{port}", list(images), dest))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    report(results, retries, seconds)
    wrong = wrong_files(images, results, dest)
    for name in wrong:
        print(f"WRONG {name}")
    doomed = {name for name, image in images.items() if image.doomed}
    failed = {name for name, result in zip(images, results, strict=True) if not result.ok}
    print(
        f"{len(results) - len(failed)} reported ok, {len(failed)} reported failed, "
        f"{len(wrong)} wrong at a final path (sha256 checked); the failed are "
        f"{'exactly' if failed == doomed else 'NOT'} the files the server always breaks"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
