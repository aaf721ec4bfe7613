"""Test data for the benchmark: generated once, reused, hashed once per invocation.

Kept apart from run.py so the timing loop reads as a loop and the file juggling stays here.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
SMALL_SIZE = 64 * 1024
TINY_SIZE = 4 * 1024
CHUNK = 4 * MIB


@dataclass(frozen=True)
class Source:
    """One file served (nginx, vsftpd): its URL path below the data root, its path on disk and
    its sha256."""

    url_path: str
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        """The file name every tool is expected to save it under."""
        return self.path.name


def _write_random(path: Path, size: int) -> None:
    """Write `size` random bytes via a temp name, so an interrupted run never leaves a
    right-sized half file that a later run would mistake for finished data."""
    tmp = path.with_suffix(".tmp")
    rng = random.Random()
    with tmp.open("wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            f.write(rng.randbytes(n))
            left -= n
    tmp.replace(path)


def _ensure(path: Path, size: int) -> None:
    """Create the file unless one of the right size is already there (generation costs seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_file() and path.stat().st_size == size):
        _write_random(path, size)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file; hashlib.file_digest streams it without loading it into memory."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def big_source(root: Path, mib: int) -> Source:
    """The W1/W3 or W5b file, in a per-size folder so a --smoke run never clobbers the 1 GiB one."""
    sub = f"{mib}MiB"
    path = root / sub / "big.bin"
    _ensure(path, mib * MIB)
    return Source(f"/{sub}/big.bin", path, sha256_of(path))


def small_sources(root: Path, count: int, size: int = SMALL_SIZE) -> list[Source]:
    """The W2/W4 (64 KiB) or W5a (4 KiB) files f0000.bin ... (count-1), random bytes.

    A folder per count and size, like the big file's: W4 mirrors the whole folder, so it must
    hold exactly these files (a --smoke run's 50 must not sit among, or be, the 2000).
    """
    sub = f"{count}x{size // 1024}KiB"
    out: list[Source] = []
    for i in range(count):
        path = root / sub / f"f{i:04d}.bin"
        _ensure(path, size)
        out.append(Source(f"/{sub}/{path.name}", path, sha256_of(path)))
    return out


def fault_in_memory(scratch: Path, size: int) -> None:
    """Write then delete a scratch file as large as the coming download.

    This VM hands freed memory back to the host, and the first write into it afterwards costs
    1-2 s extra; paying that here keeps it out of whichever tool happens to run next.
    """
    block = bytes(CHUNK)
    with scratch.open("wb") as f:
        left = size
        while left:
            left -= f.write(block[: min(CHUNK, left)])
    scratch.unlink()


def warm_cache(sources: list[Source]) -> None:
    """Re-read the sources (like `cat > /dev/null`): idle page cache is evicted after about a
    minute here, and the server's sendfile from disk would otherwise be measured, not the tool."""
    buf = bytearray(CHUNK)
    for src in sources:
        with src.path.open("rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def verify(out: Path, sources: list[Source]) -> str | None:
    """Compare every expected output with its source; None when all match, else why not."""
    bad: list[str] = []
    for src in sources:
        got = out / src.name
        if not got.is_file():
            bad.append(f"{src.name} missing")
        elif sha256_of(got) != src.sha256:
            bad.append(f"{src.name} sha256 mismatch")
    if not bad:
        return None
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    return "; ".join(bad[:3]) + more
