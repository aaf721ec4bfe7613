"""One big file over HTTP in eight ranged segments, verified against a SHA256SUMS file.

The job of fetching an ISO image from a mirror: the server answers Range requests, so
eight connections each take a part (a connection that finishes early takes half of the
largest part left), the bytes land in place in one preallocated ``.part`` file, and the
file is checked against the mirror's ``SHA256SUMS`` before it is renamed into place.
Served from a local aiohttp static server this script starts on 127.0.0.1. (When
mirrors land, this becomes several mirrors of one file.)

    python examples/ranged_http.py              # 512 MiB
    AIODL_EXAMPLE_MIB=32 python examples/ranged_http.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

from _local import random_file, start_http, stop

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "ranged"
MIB = int(os.environ.get("AIODL_EXAMPLE_MIB", "512"))
NAME = "distro.iso"


def generate(folder: Path) -> None:
    """The image and its SHA256SUMS, as a mirror publishes them."""
    digest = random_file(folder / NAME, MIB)
    (folder / "SHA256SUMS").write_text(f"{digest}  {NAME}\n")


def main() -> int:
    served, dest = WORK / "served", WORK / "downloads"
    generate(served)
    shutil.rmtree(dest, ignore_errors=True)
    server, port = start_http(served)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        result = asyncio.run(
            aiodl.download(
                f"{base}/{NAME}",
                dest,
                split=8,
                checksums=f"{base}/SHA256SUMS",  # fetched first, then every file is checked
                progress=True,
            )
        )
        seconds = time.perf_counter() - started
    except aiodl.DownloadError as error:
        print(f"failed: {error}")
        return 1
    finally:
        stop(server)
    print(
        f"{NAME}: {result.size / (1 << 20):.0f} MiB in {seconds:.2f} s "
        f"({result.size / (1 << 20) / seconds:.0f} MiB/s), matches SHA256SUMS -> {result.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
