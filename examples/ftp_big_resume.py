"""One big file from FTP in eight segments, interrupted halfway and resumed.

The job of someone pulling a multi-GiB archive from an FTP mirror over a link that drops:
the first run is cut off after two seconds (here by cancelling it, as Ctrl-C would; a
crash or kill -9 leaves the same state), the second run of the same call fetches only the
bytes that are missing and checks the result's sha256. Everything is served from a local
FTP server (pyftpdlib) this script starts on 127.0.0.1.

    python examples/ftp_big_resume.py            # 1 GiB
    AIODL_EXAMPLE_MIB=64 python examples/ftp_big_resume.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from _local import random_file, sha256_of, start_ftp, stop

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "ftp-big"
MIB = int(os.environ.get("AIODL_EXAMPLE_MIB", "1024"))
CUT_AFTER = 2.0  # seconds of the first run before it is interrupted


async def interrupted(url: str, dest: Path) -> None:
    """The first run, slowed to a quarter of the file a second and cut off after 2 s."""
    task = asyncio.create_task(
        aiodl.download_many([url], dest, split=8, progress=True, rate_limit=(MIB << 20) / 4)
    )
    await asyncio.sleep(CUT_AFTER)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> int:
    source = WORK / "served" / "archive.bin"
    dest = WORK / "downloads"
    digest = random_file(source, MIB)
    shutil.rmtree(dest, ignore_errors=True)
    server, port = start_ftp(source.parent)
    url = f"ftp://127.0.0.1:{port}/archive.bin"
    try:
        print(f"run 1: {MIB} MiB in 8 segments, interrupted after {CUT_AFTER:.0f} s")
        asyncio.run(interrupted(url, dest))
        part = dest / ".archive.bin.aiodl-part"  # hidden: no downloaded name starts with "."
        print(f"  left behind: {part.name} and {dest / '.aiodl' / 'journal.sqlite'}")
        print("run 2: the same call again")
        started = time.perf_counter()
        result = asyncio.run(aiodl.download(url, dest, split=8, progress=True))
        seconds = time.perf_counter() - started
    finally:
        stop(server)
    ok = sha256_of(dest / "archive.bin") == digest
    print(
        f"  resumed={result.resumed}, {MIB} MiB complete in {seconds:.2f} s, "
        f"sha256 {'verified' if ok else 'MISMATCH'}"
    )
    return 0 if ok and result.resumed else 1


if __name__ == "__main__":
    sys.exit(main())
