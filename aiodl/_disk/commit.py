"""Group commit: finished part files are flushed to disk together, then renamed into place.

Every file must be on disk before its rename, or a power cut could leave a short file at
the final path. One ``fsync`` per file is one device flush per file; ``syncfs`` writes
every dirty page of the file system and flushes the device once (the figures are in
docs/design.md, "Writing"). Files that finish while a group is being flushed form the next group,
so groups grow with the rate files finish at, and a lone file still gets a plain fsync.

A flush runs to its end even when the task awaiting it is cancelled: its worker thread
uses the file's descriptor until then, and the caller's cleanup must not close it under it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the writer hashes with _checksum, which uses ``finish`` from here
    from .partfile import PartFile
    from .validators import Validators

T = TypeVar("T")


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return function


_SYNCFS = _load_syncfs()


@dataclass
class _Pending:
    part: PartFile
    done: asyncio.Future[None]


class Committer:
    """Seals, flushes (when ``sync``) and installs part files; the flush, a group at a time.

    Sealing (a length check and the file's time) and installing (the rename) are a few
    quick calls, made on the loop; only the flush goes to a worker thread, one hop per
    group: a thread hop per file cost more in GIL hand-offs than the calls it moved.
    """

    def __init__(self, sync: bool) -> None:
        self._sync = sync
        self._waiting: list[_Pending] = []
        self._running = False

    async def commit(
        self, part: PartFile, size: int | None, version: Validators | None = None
    ) -> None:
        """Check ``part`` (and give it the server's ``version``: its time and ETag), put
        it on disk and rename it into place; raises its error."""
        part.seal(size, version)
        if self._sync:
            await self._flushed(part)
        part.install()

    async def _flushed(self, part: PartFile) -> None:
        loop = asyncio.get_running_loop()
        pending = _Pending(part, loop.create_future())
        self._waiting.append(pending)
        if not self._running:
            self._start(loop)
        await finish(pending.done)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._waiting = self._waiting, []
        self._running = True
        job = loop.run_in_executor(None, _flush, [pending.part for pending in group])
        job.add_done_callback(lambda done: self._finished(loop, group, done))

    def _finished(
        self, loop: asyncio.AbstractEventLoop, group: list[_Pending], job: asyncio.Future[None]
    ) -> None:
        self._running = False
        error = job.exception()
        for pending in group:
            if error is None:
                pending.done.set_result(None)
            else:
                pending.done.set_exception(error)
        if self._waiting:
            self._start(loop)


def _flush(parts: list[PartFile]) -> None:
    """Everything written to ``parts`` onto the disk: fsync for one, syncfs per device for
    several (a group on one file system is one flush)."""
    if len(parts) == 1 or _SYNCFS is None:
        for part in parts:
            os.fsync(part.fileno())
        return
    devices = {os.fstat(part.fileno()).st_dev: part.fileno() for part in parts}
    for fd in devices.values():
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))


async def finish(future: asyncio.Future[T]) -> T:
    """Await ``future`` to its end even if the awaiting task is cancelled meanwhile; the
    cancellation is raised afterwards (the future's own error is then dropped)."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller gets
        raise
