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
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "ftp-big"
MIB = int(os.environ.get("AIODL_EXAMPLE_MIB", "1024"))
CUT_AFTER = 2.0  # seconds of the first run before it is interrupted


def generate(path: Path) -> str:
    """The served file (kept between runs when its size is right); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != MIB << 20:
        with path.open("wb") as out:
            for _ in range(MIB):
                out.write(os.urandom(1 << 20))
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """pyftpdlib's own command line server, anonymous read-only, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen([*command, "-d", str(root)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the FTP server did not start")


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
    digest = generate(source)
    shutil.rmtree(dest, ignore_errors=True)
    server, port = start_server(source.parent)
    url = f"ftp://127.0.0.1:{port}/archive.bin"
    try:
        print(f"run 1: {MIB} MiB in 8 segments, interrupted after {CUT_AFTER:.0f} s")
        asyncio.run(interrupted(url, dest))
        part = dest / "archive.bin.part"
        print(f"  left behind: {part.name} and {dest / '.aiodl' / 'journal.sqlite'}")
        print("run 2: the same call again")
        started = time.perf_counter()
        result = asyncio.run(aiodl.download(url, dest, split=8, progress=True))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    with (dest / "archive.bin").open("rb") as file:
        ok = hashlib.file_digest(file, "sha256").hexdigest() == digest
    print(
        f"  resumed={result.resumed}, {MIB} MiB complete in {seconds:.2f} s, "
        f"sha256 {'verified' if ok else 'MISMATCH'}"
    )
    return 0 if ok and result.resumed else 1


if __name__ == "__main__":
    sys.exit(main())
