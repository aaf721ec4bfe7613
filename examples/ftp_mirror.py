"""Mirror a nested FTP tree with include patterns, the way satellite archives are fetched.

Generates a tree shaped like ``hsd/YYYYMM/DD/HH/*.bz2`` (plus files nobody wants), serves
it from a local FTP server it starts (pyftpdlib, in a subprocess, on 127.0.0.1), mirrors
only the ``*.bz2`` files with aiodl, checks every sha256, then runs the same mirror again
to show that complete files are skipped without a single transfer.

    python examples/ftp_mirror.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from _local import start_ftp, stop

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "ftp"
HOURS = [f"hsd/202611/{day:02}/{hour:02}" for day in (22, 23) for hour in range(0, 24, 3)]


def generate(root: Path) -> dict[str, str]:
    """The served tree; returns sha256 of every ``.bz2`` file by relative path."""
    shutil.rmtree(root, ignore_errors=True)
    digests = {}
    for folder in HOURS:
        (root / folder).mkdir(parents=True)
        for band in range(1, 5):
            data = os.urandom(50_000 + band * 1000)
            name = f"{folder}/HS_B{band:02}.DAT.bz2"
            (root / name).write_bytes(data)
            digests[name] = hashlib.sha256(data).hexdigest()
        (root / folder / "README.txt").write_text("not wanted\n")
    return digests


async def mirror(port: int, dest: Path) -> list[aiodl.Result]:
    return await aiodl.download_many(
        [f"ftp://127.0.0.1:{port}/hsd/"],
        dest,
        include=["*.bz2"],
        connections=8,
        per_host=8,
        progress=True,
    )


def check(digests: dict[str, str], dest: Path) -> int:
    """Files wrong or missing, plus files that should not be there."""
    bad = 0
    for name, digest in digests.items():
        path = dest / name.removeprefix("hsd/")
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            print(f"MISMATCH {name}")
            bad += 1
    unwanted = list(dest.rglob("README.txt"))
    return bad + len(unwanted)


def main() -> int:
    source, dest = WORK / "served", WORK / "mirror"
    digests = generate(source)
    shutil.rmtree(dest, ignore_errors=True)
    print(f"serving {len(HOURS)} hour folders, {len(digests)} .bz2 files, from {source}")
    server, port = start_ftp(source)
    try:
        started = time.perf_counter()
        first = asyncio.run(mirror(port, dest))
        seconds = time.perf_counter() - started
        again = asyncio.run(mirror(port, dest))
    finally:
        stop(server)
    bad = check(digests, dest) + sum(not r.ok for r in first + again)
    skipped = sum(r.skipped for r in again)
    print(
        f"mirrored {sum(r.ok for r in first)} files in {seconds:.2f} s, "
        f"{len(digests) - bad} verified (sha256) -> {dest}\n"
        f"second run: {skipped} of {len(again)} files already complete, none transferred"
    )
    return 1 if bad or skipped != len(again) else 0


if __name__ == "__main__":
    sys.exit(main())
