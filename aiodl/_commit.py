"""Group commit: finished part files are flushed to disk together, then renamed into place.

Every file must be on disk before its rename, or a power cut could leave a short file at
the final path. One ``fsync`` per file is one device flush per file; ``syncfs`` writes
every dirty page of the file system and flushes the device once. Measured on this VM's
ext4 with 64 KiB files: fsync 150 us per file, one syncfs for 16 files 48 us per file,
for 64 files 38 us. Files that finish while a group is being flushed form the next group,
so groups grow with the rate files finish at, and a lone file still gets a plain fsync.

A commit runs to its end even when the task awaiting it is cancelled: its worker thread
owns the file until then, and the caller's cleanup must not close the descriptor under it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ._writer import PartFile

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
    size: int | None
    modified: float | None
    done: asyncio.Future[None]
    error: BaseException | None = field(default=None)


class Committer:
    """Seals, flushes (when ``sync``) and installs part files, a group at a time."""

    def __init__(self, sync: bool) -> None:
        self._sync = sync
        self._waiting: list[_Pending] = []
        self._running = False

    async def commit(self, part: PartFile, size: int | None, modified: float | None) -> None:
        """Check ``part``, put it on disk and rename it into place; raises its error."""
        loop = asyncio.get_running_loop()
        pending = _Pending(part, size, modified, loop.create_future())
        self._waiting.append(pending)
        if not self._running:
            self._start(loop)
        await finish(pending.done)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._waiting = self._waiting, []
        self._running = True
        job = loop.run_in_executor(None, self._commit_group, group)
        job.add_done_callback(lambda _: self._finished(loop, group))

    def _finished(self, loop: asyncio.AbstractEventLoop, group: list[_Pending]) -> None:
        self._running = False
        for pending in group:
            if pending.error is None:
                pending.done.set_result(None)
            else:
                pending.done.set_exception(pending.error)
        if self._waiting:
            self._start(loop)

    def _commit_group(self, group: list[_Pending]) -> None:
        """In a worker thread: seal each file, flush them all, install each."""
        sealed = [pending for pending in group if _try(pending, _seal)]
        if self._sync and sealed:
            try:
                _flush([pending.part for pending in sealed])
            except OSError as error:
                for pending in sealed:
                    pending.error = error
                return
        for pending in sealed:
            _try(pending, lambda p: p.part.install())


def _seal(pending: _Pending) -> None:
    pending.part.seal(pending.size, pending.modified)


def _try(pending: _Pending, step: Callable[[_Pending], None]) -> bool:
    try:
        step(pending)
    except Exception as error:  # handed to the file's own task, which raises it
        pending.error = error
        return False
    return True


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
