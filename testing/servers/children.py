"""What every real server run as our child needs: a free port, its log's last lines for
an error message, and a stop that cannot hang. Stdlib only (benchmarks use it too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """An unused loopback port, from the kernel (a tiny race with the server's bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log_tail(log: Path, lines: int = 5) -> str:
    """The last lines of a server's log, the only place most servers explain themselves."""
    return " | ".join(log.read_text().splitlines()[-lines:]) if log.exists() else "(no log)"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the process group if it has not ended in 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
