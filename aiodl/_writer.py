"""The one writer: ``NAME.part`` is preallocated, filled by positional writes, checked,
synced and atomically renamed; until then nothing exists at the final path.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import anyio

from ._exceptions import DownloadError, IntegrityError, UnsafePathError
from ._names import part_name

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
# pwritev takes at most IOV_MAX buffers per call.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def resolve_target(dest: Path, relative: PurePosixPath) -> Path:
    """Create parent folders and return the final path, proven to stay inside ``dest``.

    A symlinked folder along the way that leads out of ``dest``, or a symlink at the target
    itself, raises UnsafePathError: server-chosen names must never write elsewhere.
    """
    root = dest.resolve()
    target = root.joinpath(*relative.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise UnsafePathError(f"{relative} resolves outside the destination folder")
    target = parent / target.name
    if target.is_symlink():
        raise UnsafePathError(f"{relative} is a symlink; refusing to write through it")
    return target


def existing_size(path: Path) -> int | None:
    """Size of a regular file at ``path``, or None if there is none."""
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return None
    return stat.st_size if os.path.isfile(path) and not path.is_symlink() else None


class PartFile:
    """The in-progress file of one target, locked against a second writer."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(part_name(target.name))
        self._fd = -1

    def open(self, size: int | None) -> None:
        """Create (or truncate) the part file, lock it, and reserve ``size`` bytes."""
        self._fd = os.open(self.path, _OPEN_FLAGS, 0o644)
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
            buffers = _drop_written(buffers, written)

    async def commit(self, size: int | None, *, sync: bool) -> None:
        """Check the length, sync, and rename into place; then sync the folder entry."""
        actual = os.fstat(self._fd).st_size
        if size is None:
            size = actual
        elif actual != size:
            raise IntegrityError(f"{self.path.name} holds {actual} bytes, expected {size}")
        if sync:
            await anyio.to_thread.run_sync(os.fsync, self._fd)
        os.replace(self.path, self.target)
        self._close()
        if sync:
            await anyio.to_thread.run_sync(_sync_folder, self.target.parent)

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


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
