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
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from ._exceptions import DownloadError, IntegrityError, LocalFileError, UnsafePathError
from ._names import part_name
from ._ranges import RangeSet

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
# A download that has run this long since its last flush is flushed (and journaled) even
# when it is slow: a crash loses at most about this much time of a slow link's work.
CHECKPOINT_SECONDS = 1.0
# pwritev takes at most IOV_MAX buffers per call.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def resolve_target(dest: Path, relative: PurePosixPath, checked: set[Path] | None = None) -> Path:
    """Create parent folders and return the final path, proven to stay inside ``dest``.

    ``dest`` is an absolute folder with symlinks resolved. Every folder below it must be a
    real folder, not a symlink: server-chosen names must never lead writes (or ``mkdir``)
    elsewhere. ``checked`` remembers folders already proven in this run, so a mirror of
    thousands of files in one folder checks that folder once.
    """
    folder = dest
    for name in relative.parts[:-1]:
        folder = folder / name
        if checked is not None and folder in checked:
            continue
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        if folder.is_symlink() or not folder.is_dir():
            raise UnsafePathError(f"{relative}: {name} is not a plain folder")
        if checked is not None:
            checked.add(folder)
    return folder / relative.parts[-1]


def _is_complete(info: os.stat_result | None, size: int, modified: float | None) -> bool:
    """True for a regular file of ``size`` bytes, modified at ``modified`` (to the
    millisecond) when that is known."""
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size != size:
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
    checked: set[Path] | None = None,
    keep: RangeSet | None = None,
) -> tuple[Path, PartFile | None]:
    """The target path and its opened part file; no part file if the target is complete
    (same size, and same modification time when the server told it). A symlink at the
    target is refused, never followed. ``keep`` resumes: see ``PartFile.open``.

    Blocking (folder creation, open, preallocation): a few metadata calls for a small
    file; the caller sends large ones to a worker thread.
    """
    target = resolve_target(dest, relative, checked)
    try:
        existing: os.stat_result | None = target.lstat()
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISLNK(existing.st_mode):
        raise UnsafePathError(f"{relative} is a symlink; refusing to write through it")
    if not overwrite and size is not None and _is_complete(existing, size, modified):
        return target, None
    part = PartFile(target, sync_every)
    part.open(size, keep=keep)
    return target, part


class PartFile:
    """The in-progress file of one target, locked against a second writer.

    With ``sync_every`` set, an ``fdatasync`` starts in a worker thread every that many
    written bytes or every ``CHECKPOINT_SECONDS``, whichever comes first: the disk flushes
    while the network delivers, the final flush has only the tail left, and after each
    flush ``on_durable`` learns which ranges are now safely on disk (the ranges written
    before the flush began), for the resume journal.
    """

    def __init__(self, target: Path, sync_every: int | None = None) -> None:
        self.target = target
        self.path = target.with_name(part_name(target.name))
        self.on_durable: Callable[[RangeSet], None] | None = None
        self.reused = RangeSet()
        self._fd = -1
        self._sync_every = sync_every
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self._written = RangeSet()
        self._syncing: asyncio.Future[None] | None = None

    def open(self, size: int | None, *, keep: RangeSet | None = None) -> None:
        """Create the part file, lock it, and reserve ``size`` bytes.

        With ``keep`` (ranges a journal says are on disk), an existing part file of
        exactly ``size`` bytes is resumed: nothing is truncated and ``reused`` becomes
        ``keep``. Anything else starts from an empty file.
        """
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
        try:
            if keep is not None and size is not None and os.fstat(self._fd).st_size == size:
                self.reused, self._written = keep.copy(), keep.copy()
                return
            os.ftruncate(self._fd, 0)
            if size:
                _preallocate(self._fd, size)
        except OSError as error:  # a full disk: the file is ours (locked), so it goes
            self.discard()
            raise LocalFileError(
                f"reserving {size} bytes for {self.path} failed: {error.strerror}"
            ) from error

    def write(self, offset: int, chunks: Sequence[bytes | memoryview]) -> None:
        """Write ``chunks`` back to back at ``offset`` (positional: no shared file cursor)."""
        buffers = list(chunks)
        while buffers:
            batch = buffers[:_IOV_MAX]
            try:
                written = os.pwritev(self._fd, batch, offset)
            except OSError as error:
                raise LocalFileError(f"writing {self.path} failed: {error.strerror}") from error
            self.written(offset, written)
            offset += written
            buffers = _drop_written(buffers, written)

    def fileno(self) -> int:
        """The descriptor, for writers that move bytes in directly (splice)."""
        return self._fd

    def written(self, offset: int, nbytes: int) -> None:
        """Note ``nbytes`` written at ``offset``; start a flush when one is due."""
        self._written.add(offset, offset + nbytes)
        self._unsynced += nbytes
        if self._sync_every and (
            self._unsynced >= self._sync_every
            or time.monotonic() - self._synced_at >= CHECKPOINT_SECONDS
        ):
            self._start_sync()

    def restart(self) -> None:
        """The file is being fetched again from byte 0 (same version): nothing is reused,
        though what was written stays true and durable."""
        self.reused = RangeSet()

    def _start_sync(self) -> None:
        """Flush written bytes in the background (on a duplicate descriptor, so closing
        ours never races the worker thread); at most one flush in flight. When it is
        done, the ranges written before it began are durable."""
        if self._syncing is not None and not self._syncing.done():
            return
        self._unsynced = 0
        self._synced_at = time.monotonic()
        durable = self._written.copy()
        loop = asyncio.get_running_loop()
        self._syncing = loop.run_in_executor(None, _datasync_and_close, os.dup(self._fd))
        self._syncing.add_done_callback(lambda done: self._flushed(done, durable))

    def _flushed(self, done: asyncio.Future[None], durable: RangeSet) -> None:
        if not done.cancelled() and done.exception() is None and self.on_durable is not None:
            self.on_durable(durable)

    async def settle(self) -> None:
        """Wait for a background flush; re-raises its error (a write-back error is reported
        once, so it must not be lost before the final fsync)."""
        if self._syncing is not None:
            await self._syncing

    def seal(self, size: int | None, modified: float | None = None) -> None:
        """Check the length and give the file the server's modification time.

        Blocking (a worker thread's job, with ``install``); the committer flushes sealed
        files to disk, in groups, before installing them.
        """
        actual = os.fstat(self._fd).st_size
        if size is not None and actual != size:
            raise IntegrityError(f"{self.path.name} holds {actual} bytes, expected {size}")
        if modified is not None:  # what a later mirror run compares against
            os.utime(self._fd, ns=(_nanoseconds(modified),) * 2)

    def install(self) -> None:
        """Rename into place (atomic) and close. The folder entry is synced later, once per
        folder (``sync_folders``): one folder fsync per batch instead of per file."""
        os.replace(self.path, self.target)
        self._close()

    def truncate(self, size: int) -> None:
        """Cut the file to ``size``: the length of a body whose size was not announced."""
        os.ftruncate(self._fd, size)

    def close(self) -> None:
        """Close and unlock, keeping the part file (and its bytes) for a later resume."""
        self._close()

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


def _drop_written(buffers: list[bytes | memoryview], written: int) -> list[bytes | memoryview]:
    """The part of ``buffers`` left after a (possibly short) write of ``written`` bytes."""
    while buffers and written >= len(buffers[0]):
        written -= len(buffers[0])
        buffers.pop(0)
    if buffers and written:
        buffers[0] = memoryview(buffers[0])[written:]
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
