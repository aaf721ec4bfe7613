"""What the examples share: local servers on 127.0.0.1 started as subprocesses, and big
random files to serve. Nothing here talks to anything beyond this machine."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_http(root: Path) -> tuple[subprocess.Popen[str], int]:
    """``static_server.py`` serving ``root`` (Range requests, sendfile); returns its port."""
    script = Path(__file__).with_name("static_server.py")
    server = subprocess.Popen(
        [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def start_ftp(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """pyftpdlib's own command line server, anonymous read-only; returns its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(
        [*command, "-d", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the FTP server did not start")


def stop(server: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait()


def random_file(path: Path, mib: int) -> str:
    """A file of ``mib`` MiB of random bytes (kept between runs while the size fits);
    returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != mib << 20:
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
