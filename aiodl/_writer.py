"""The one writer: ``NAME.part`` is preallocated, filled by positional writes, checked,
synced and atomically renamed; until then nothing exists at the final path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from ._exceptions import DownloadError, IntegrityError, UnsafePathError
from ._names import part_name

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
# pwritev takes at most IOV_MAX buffers per call.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def resolve_target(dest: Path, relative: PurePosixPath) -> Path:
    """Create parent folders and return the final path, proven to stay inside ``dest``.

    Every folder below ``dest`` must be a real folder, not a symlink, and the target must
    not be a symlink: server-chosen names must never lead writes (or ``mkdir``) elsewhere.
    """
    folder = dest.resolve()
    for name in relative.parts[:-1]:
        folder = folder / name
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        if folder.is_symlink() or not folder.is_dir():
            raise UnsafePathError(f"{relative}: {name} is not a plain folder")
    target = folder / relative.parts[-1]
    if target.is_symlink():
        raise UnsafePathError(f"{relative} is a symlink; refusing to write through it")
    return target


def is_complete(path: Path, size: int, modified: float | None) -> bool:
    """True when a regular file (symlinks not followed) of ``size`` bytes is at ``path``,
    modified at ``modified`` (to the millisecond) when that is known."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        return False
    return modified is None or abs(info.st_mtime_ns - _nanoseconds(modified)) < 1_000_000


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def open_part(
    dest: Path,
    relative: PurePosixPath,
    size: int | None,
    *,
    overwrite: bool,
    modified: float | None = None,
    sync_every: int | None = None,
) -> tuple[Path, PartFile | None]:
    """The target path and its opened part file; no part file if the target is complete
    (same size, and same modification time when the server told it).

    Blocking (folder creation, open, preallocation): run it in a worker thread, where a
    slow file system cannot stall the event loop's transfers.
    """
    target = resolve_target(dest, relative)
    if not overwrite and size is not None and is_complete(target, size, modified):
        return target, None
    part = PartFile(target, sync_every)
    part.open(size)
    return target, part


class PartFile:
    """The in-progress file of one target, locked against a second writer.

    With ``sync_every`` set, every that many written bytes an ``fdatasync`` starts in a
    worker thread, so the disk flushes while the network delivers and the final fsync
    before the rename only has the tail left to write.
    """

    def __init__(self, target: Path, sync_every: int | None = None) -> None:
        self.target = target
        self.path = target.with_name(part_name(target.name))
        self._fd = -1
        self._sync_every = sync_every
        self._unsynced = 0
        self._syncing: asyncio.Future[None] | None = None

    def open(self, size: int | None) -> None:
        """Create (or truncate) the part file, lock it, and reserve ``size`` bytes."""
        try:
            self._fd = os.open(self.path, _OPEN_FLAGS, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafePathError(f"{self.path} is a symlink; not following it") from None
            raise
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._close()
            raise DownloadError(f"{self.path} is being written by another process") from None
        os.ftruncate(self._fd, 0)
        if size:
            _preallocate(self._fd, size)

    def write(self, offset: int, chunks: Sequence[bytes]) -> None:
        """Write ``chunks`` back to back at ``offset`` (positional: no shared file cursor)."""
        buffers = list(chunks)
        while buffers:
            batch = buffers[:_IOV_MAX]
            written = os.pwritev(self._fd, batch, offset)
            offset += written
            self._unsynced += written
            buffers = _drop_written(buffers, written)
        if self._sync_every and self._unsynced >= self._sync_every:
            self._start_sync()

    def _start_sync(self) -> None:
        """Flush written bytes in the background (on a duplicate descriptor, so closing
        ours never races the worker thread); at most one flush in flight."""
        if self._syncing is not None and not self._syncing.done():
            return
        self._unsynced = 0
        loop = asyncio.get_running_loop()
        self._syncing = loop.run_in_executor(None, _datasync_and_close, os.dup(self._fd))

    async def settle(self) -> None:
        """Wait for a background flush; re-raises its error (a write-back error is reported
        once, so it must not be lost before the final fsync)."""
        if self._syncing is not None:
            await self._syncing

    def commit(self, size: int | None, *, sync: bool, modified: float | None = None) -> None:
        """Check the length, give it the server's modification time, fsync, and rename.

        The folder entry is synced later, once per folder (``sync_folders``): the rename is
        atomic either way, and one folder fsync per batch instead of per file halves the
        cost of many small files. Blocking (fsync): run it in a worker thread.
        """
        actual = os.fstat(self._fd).st_size
        if size is None:
            size = actual
        elif actual != size:
            raise IntegrityError(f"{self.path.name} holds {actual} bytes, expected {size}")
        if modified is not None:  # what a later mirror run compares against
            os.utime(self._fd, ns=(_nanoseconds(modified),) * 2)
        if sync:
            os.fsync(self._fd)
        os.replace(self.path, self.target)
        self._close()

    def truncate(self, size: int) -> None:
        """Cut the file to ``size``: the length of a body whose size was not announced."""
        os.ftruncate(self._fd, size)

    def discard(self) -> None:
        """Remove the part file; used when its bytes cannot be trusted or reused."""
        if self._fd >= 0:
            self._close()
            self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _preallocate(fd: int, size: int) -> None:
    """Reserve the blocks now, so a full disk fails at the start, not at 99 %."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        os.ftruncate(fd, size)


def _drop_written(buffers: list[bytes], written: int) -> list[bytes]:
    """The part of ``buffers`` left after a (possibly short) write of ``written`` bytes."""
    while buffers and written >= len(buffers[0]):
        written -= len(buffers[0])
        buffers.pop(0)
    if buffers and written:
        buffers[0] = memoryview(buffers[0])[written:].tobytes()
    return buffers


def _datasync_and_close(fd: int) -> None:
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def sync_folders(folders: Iterable[Path]) -> None:
    """fsync folders so the renames into them survive a power loss. Blocking."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
