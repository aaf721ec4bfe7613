"""Hashing a saved file, to check it against the digest it must have.

The part file is read with ``pread`` in 1 MiB blocks; hashlib releases the GIL on blocks
that large, so a worker thread keeps the event loop free, and a process pool would add
processes for nothing (measured: docs/design.md). Hashing while downloading cannot help
segmented files: a digest needs bytes in order, and only the first segment arrives so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from functools import partial

from .._digests import Checksum
from .._exceptions import IntegrityError
from .commit import finish

log = logging.getLogger("aiodl")
BLOCK = 1 << 20


def file_digest(fd: int, algorithm: str) -> str:
    """The hex digest of everything in the open file ``fd``. Blocking."""
    hasher = hashlib.new(algorithm, usedforsecurity=False)  # a file check, not a secret
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    offset = 0
    while count := os.preadv(fd, [buffer], offset):
        hasher.update(view[:count])
        offset += count
    return hasher.hexdigest()


async def check_file(
    fd: int, size: int, expected: Checksum, name: str, detail: str = "", *, inline: int
) -> None:
    """Raise IntegrityError unless the open file hashes to ``expected``. A file of at most
    ``inline`` bytes is hashed right here, a larger one in a worker thread (hashlib lets
    go of the GIL on large blocks); ``detail`` ends the error message."""
    digest = partial(file_digest, fd, expected.algorithm)
    if size <= inline:
        actual = digest()
    else:
        actual = await finish(asyncio.get_running_loop().run_in_executor(None, digest))
    if actual != expected.hexdigest:
        raise IntegrityError(
            f"{name}: {expected.algorithm} is {actual}, but {expected.given_by} says "
            f"{expected.hexdigest}{detail}"
        )
    log.info("verified %s: %s matches %s", name, expected.algorithm, expected.given_by)
