"""``make demo``: a real download of several files from a local server, with progress.

Generates a 256 MiB file and a few smaller ones, serves them from a local HTTP server in a
subprocess, downloads them all with aiodl (segmented, progress bars on the terminal),
checks every sha256 and prints a summary. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path

from _local import start_http, stop

import aiodl

MiB = 1 << 20
WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo"))
FILES = {"ubuntu-like.iso": 256 * MiB, "dataset.tar": 48 * MiB} | {
    f"images/img{i:03}.jpg": 200_000 + i * 1000 for i in range(40)
}


def generate(root: Path) -> dict[str, str]:
    """Create the served files (once) and return their sha256 digests."""
    digests = {}
    for name, size in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size != size:
            with path.open("wb") as out:
                for start in range(0, size, 16 * MiB):
                    out.write(os.urandom(min(16 * MiB, size - start)))
        digests[name] = hashlib.file_digest(path.open("rb"), "sha256").hexdigest()
    return digests


async def download(port: int, dest: Path) -> list[aiodl.Result]:
    requests = [aiodl.Request(f"http://127.0.0.1:{port}/{name}", name) for name in FILES]
    return await aiodl.download_many(requests, dest, split=8, connections=16, progress=True)


def verify(results: list[aiodl.Result], digests: dict[str, str], dest: Path) -> int:
    bad = 0
    for name, digest in digests.items():
        path = dest / name
        if (
            not path.exists()
            or hashlib.file_digest(path.open("rb"), "sha256").hexdigest() != digest
        ):
            print(f"MISMATCH {name}")
            bad += 1
    bad += sum(not r.ok for r in results)
    return bad


def main() -> int:
    source, dest = WORK / "served", WORK / "downloaded"
    print(f"generating {len(FILES)} files ({sum(FILES.values()) / MiB:.0f} MiB) in {source}")
    digests = generate(source)
    server, port = start_http(source)
    try:
        for stale in dest.rglob("*"):
            if stale.is_file():
                stale.unlink()
        started = time.perf_counter()
        results = asyncio.run(download(port, dest))
        seconds = time.perf_counter() - started
    finally:
        stop(server)
    bad = verify(results, digests, dest)
    total = sum(r.size or 0 for r in results)
    print(
        f"{len(results) - bad} of {len(results)} files verified (sha256), "
        f"{total / MiB:.0f} MiB in {seconds:.2f} s ({total / MiB / seconds:.0f} MiB/s) -> {dest}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
