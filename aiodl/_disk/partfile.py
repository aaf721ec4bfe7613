"""The one writer: a part file is preallocated, filled by positional writes, checked,
synced and atomically renamed; until then nothing exists at the final path.

The part file (``part_name``: ``.NAME.aiodl-part``) sits in the target's own folder, so
the rename stays on one file system, under a name no final name can take. Every call
goes through the folder's descriptor (``Folders``): a new part file is created with
``O_EXCL | O_NOFOLLOW``; one already there is reused only if it is a plain file with a
single link (a symlink or a hard link planted there could lead writes to a file outside
``dest``); and right before the rename, the name must still be the file whose bytes
were written and checked (same device and inode as the descriptor), or nothing is
installed.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from .._digests import Checksum
from .._exceptions import DownloadError, IntegrityError, LocalFileError, UnsafePathError
from .commit import finish
from .folders import Folder, Folders
from .hashing import file_digest
from .names import part_name
from .ranges import RangeSet
from .validators import NO_VALIDATORS, Validators, forget_etag, is_complete, stamp, stat_at

log = logging.getLogger("aiodl")
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REOPEN = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
# A download that has run this long since its last flush is flushed (and journaled) even
# when it is slow: a crash loses at most about this much time of a slow link's work.
CHECKPOINT_SECONDS = 1.0
# What has been written (flushed or not) is told this often: a killed process's rerun
# on the same boot resumes from there, losing at most this long of a fast link's work.
WRITTEN_SECONDS = 0.25
# pwritev takes at most IOV_MAX buffers per call.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def _holds(folder: Folder, name: str, expected: Checksum | None) -> bool:
    """Whether the file ``name`` hashes to ``expected`` (trivially, when no digest is
    known): a file of the right size is not the file until its digest says so."""
    if expected is None:
        return True
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder.fd)
    except OSError:
        return False  # gone or replaced meanwhile: fetch it
    try:
        same = file_digest(fd, expected.algorithm) == expected.hexdigest
    finally:
        os.close(fd)
    if not same:
        where, given_by = folder.path / name, expected.given_by
        log.warning("%s holds other bytes than %s says; downloading it again", where, given_by)
    return same


def open_part(
    folders: Folders,
    relative: PurePosixPath,
    size: int | None,
    *,
    overwrite: bool,
    version: Validators = NO_VALIDATORS,
    sync_every: int | None = None,
    keep: RangeSet | None = None,
    expected: Checksum | None = None,
) -> tuple[Path, PartFile | None]:
    """The target path and its opened part file; no part file if the target is complete
    (same size; the server's ``version``, its modification time or ETag, when it told
    one; and the digest ``expected`` when one is known). A symlink at the target is
    refused, never followed. ``keep`` resumes: see ``PartFile.open``.

    Blocking (folder creation, open, preallocation, hashing an existing file): a few
    metadata calls for a small file; the caller sends large ones to a worker thread.
    """
    folder = folders.open(relative.parts[:-1])
    try:
        name = relative.name
        existing = stat_at(folder, name)
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            raise UnsafePathError(f"{relative} is a symlink; refusing to write through it")
        proof = version if expected is None else NO_VALIDATORS  # a digest decides alone
        complete = size is not None and is_complete(folder, name, existing, size, proof)
        if not overwrite and complete and _holds(folder, name, expected):
            folder.release()
            return folder.path / name, None
    except BaseException:
        folder.release()
        raise
    part = PartFile(folder, name, sync_every)
    part.open(size, keep=keep)
    return part.target, part


class PartFile:
    """The in-progress file of one target, locked against a second writer. It holds its
    folder (``folder``, released when the file is closed) until it is installed.

    With ``sync_every`` set, an ``fdatasync`` starts in a worker thread every that many
    written bytes or every ``CHECKPOINT_SECONDS``, whichever comes first: the disk flushes
    while the network delivers, the final flush has only the tail left, and after each
    flush, and every ``WRITTEN_SECONDS`` of writing, ``on_checkpoint(durable, written)``
    learns which ranges are safely on disk (written before the last flush began) and
    which have been written at all, for the resume journal.
    """

    def __init__(self, folder: Folder, name: str, sync_every: int | None = None) -> None:
        self._folder: Folder | None = folder
        self._name = name
        self._part = part_name(name)
        self.target = folder.path / name
        self.path = folder.path / self._part
        self.on_checkpoint: Callable[[RangeSet, RangeSet], None] | None = None
        self.reused = RangeSet()
        self._fd = -1
        self._inode: tuple[int, int] | None = None
        self._sync_every = sync_every
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self._written = RangeSet()
        self._durable = RangeSet()
        self._noted_at = self._synced_at
        self._syncing: asyncio.Future[None] | None = None

    def open(self, size: int | None, *, keep: RangeSet | None = None) -> None:
        """Create the part file, lock it, and reserve ``size`` bytes.

        With ``keep`` (ranges a journal says are on disk), an existing part file of
        exactly ``size`` bytes is resumed: nothing is truncated and ``reused`` becomes
        ``keep``. Anything else starts from an empty file. On failure the part file is
        closed (and its folder released).
        """
        try:
            resumed = self._take(size, keep)
        except BaseException:
            self._close()
            raise
        if resumed is not None:
            self.reused, self._written = resumed.copy(), resumed.copy()
            return
        try:
            if size:
                _preallocate(self._fd, size)
        except OSError as error:  # a full disk: the file is ours (locked), so it goes
            self.discard()
            raise LocalFileError(
                f"reserving {size} bytes for {self.path} failed: {error.strerror}"
            ) from error

    def _take(self, size: int | None, keep: RangeSet | None) -> RangeSet | None:
        """Open and lock the part file: a new one, or the one already there if it is a
        plain file of ours; ``keep`` when that one is resumed as it is."""
        existing = self._open_fd(resume=keep is not None)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(f"{self.path} is being written by another process") from None
        if not existing:
            return None
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise UnsafePathError(
                f"{self.path} is not a plain file of its own (it has another name, a hard "
                "link); remove it and run again"
            )
        forget_etag(self._fd)
        if keep is not None and size is not None and info.st_size == size:
            return keep
        os.ftruncate(self._fd, 0)
        return None

    def _open_fd(self, *, resume: bool) -> bool:
        """Open the part file by name in its folder: created new (``O_EXCL``) unless
        resuming, else the one already there; True for an existing one."""
        assert self._folder is not None
        at = self._folder.fd
        try:
            if not resume:
                try:
                    self._fd = os.open(self._part, _CREATE, 0o644, dir_fd=at)
                    return False
                except FileExistsError:
                    pass  # left by an earlier run (or planted): checked before use
            try:
                self._fd = os.open(self._part, _REOPEN, dir_fd=at)
                return True
            except FileNotFoundError:
                self._fd = os.open(self._part, _CREATE, 0o644, dir_fd=at)
                return False
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafePathError(f"{self.path} is a symlink; not following it") from None
            raise

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
        if not self._sync_every:
            return
        now = time.monotonic()
        if self._unsynced >= self._sync_every or now - self._synced_at >= CHECKPOINT_SECONDS:
            self._start_sync()
        if self.on_checkpoint is not None and now - self._noted_at >= WRITTEN_SECONDS:
            self._noted_at = now
            self.on_checkpoint(self._durable, self._written)

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
        if done.cancelled() or done.exception() is not None:
            return
        self._durable = durable
        if self.on_checkpoint is not None:
            self.on_checkpoint(durable, self._written)

    async def settle(self) -> None:
        """Wait for a background flush; re-raises its error (a write-back error is reported
        once, so it must not be lost before the final fsync)."""
        if self._syncing is not None:
            await self._syncing

    def seal(self, size: int | None, version: Validators | None = None) -> None:
        """Check the length, give the file the server's modification time and record its
        strong ETag (``version``), on the descriptor: the final name never shows the file
        without them.

        Blocking (a worker thread's job, with ``install``); the committer flushes sealed
        files to disk, in groups, before installing them.
        """
        info = os.fstat(self._fd)
        self._inode = (info.st_dev, info.st_ino)
        if size is not None and info.st_size != size:
            raise IntegrityError(f"{self.path.name} holds {info.st_size} bytes, expected {size}")
        if version is not None:
            stamp(self._fd, version)

    def install(self) -> None:
        """Rename into place (atomic) and close, if the part file's name is still this
        file; the folder entry is synced later, once per folder (``sync_folders``): one
        folder fsync per batch instead of per file."""
        assert self._folder is not None
        if not self._still_named():
            raise UnsafePathError(
                f"{self.path} was replaced by another program during the download, so "
                f"nothing was saved at {self.target.name}; make sure nothing else writes "
                "there and run again"
            )
        at = self._folder.fd
        os.rename(self._part, self._name, src_dir_fd=at, dst_dir_fd=at)
        self._close()

    def _still_named(self) -> bool:
        """Whether the part file's name still names the file behind our descriptor."""
        assert self._folder is not None
        if self._inode is None:
            info = os.fstat(self._fd)
            self._inode = (info.st_dev, info.st_ino)
        named = stat_at(self._folder, self._part)
        return named is not None and (named.st_dev, named.st_ino) == self._inode

    def truncate(self, size: int) -> None:
        """Cut the file to ``size``: the length of a body whose size was not announced."""
        os.ftruncate(self._fd, size)

    def close(self) -> None:
        """Close and unlock, keeping the part file (and its bytes) for a later resume."""
        self._close()

    def discard(self) -> None:
        """Remove the part file (only if its name is still this file); used when its
        bytes cannot be trusted or reused."""
        if self._fd >= 0:
            assert self._folder is not None
            if self._still_named():
                os.unlink(self._part, dir_fd=self._folder.fd)
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._folder is not None:
            self._folder.release()
            self._folder = None


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


async def open_soon(
    opening: Callable[[], tuple[Path, PartFile | None]], size: int | None, *, inline: int
) -> tuple[Path, PartFile | None]:
    """Run ``opening`` (an ``open_part``) here for a file of at most ``inline`` bytes, in a
    worker thread for a larger or unknown one: a file system that emulates preallocation
    by writing zeros must not stall the transfers, while for a small file a thread hop
    costs more than the calls it moves."""
    if size is not None and size <= inline:
        return opening()
    future = asyncio.get_running_loop().run_in_executor(None, opening)
    try:
        return await finish(future)
    except asyncio.CancelledError:  # opened after all: nobody else will close it
        if not future.cancelled() and future.exception() is None:
            opened = future.result()[1]
            if opened is not None:
                opened.close()
        raise
