"""What the tests and the benchmarks share: sizes, random files, quick-retry options, the
checks that a file was (or was not) saved, and the CLI as a child process. The servers
live in ``testing.servers``; hypothesis strategies for names in ``testing.names``.

Tests import from here, never from another test module or from conftest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from testing.assertions import assert_nothing_saved, assert_saved, journaled
from testing.processes import cli, read_terminal, require_vsftpd, run_cli, run_example
from testing.responders import whole

__all__ = [
    "FAST",
    "FAST_SPLIT",
    "KiB",
    "MiB",
    "assert_nothing_saved",
    "assert_saved",
    "cli",
    "journaled",
    "random_bytes",
    "read_terminal",
    "require_vsftpd",
    "run_cli",
    "run_example",
    "sha",
    "whole",
    "write_tree",
]

KiB, MiB = 1 << 10, 1 << 20
# Quick backoff keeps retrying tests fast; files that need more add their own keys to it.
FAST: dict[str, Any] = {"backoff": 0.01}
# Small segments too, so a few MiB still use several segments.
FAST_SPLIT: dict[str, Any] = {"min_segment_size": 256 * KiB, "backoff": 0.01, "split": 4}


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def write_tree(root: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    """Random files at relative paths below ``root``; returns path -> contents."""
    files = {}
    for name, size in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        files[name] = random_bytes(size)
        path.write_bytes(files[name])
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
