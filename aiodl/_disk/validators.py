"""What proves a file already at a target the server's version of it, as wget's ``-N``
and curl's ``-R``/``--xattr`` keep it: the server's modification time given to the file,
and its strong ETag kept in a ``user.`` extended attribute, where the file system allows.

Blocking (a few metadata calls per file); the caller decides where they run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import PurePosixPath
from typing import NamedTuple

from .._exceptions import UnsafePathError
from .folders import Folder, Folders

_PEEK = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block

# The strong ETag a saved file was served with (curl's and wget's --xattr keep the URL in
# user.xdg.origin.url; the ETag is what proves a later copy the same).
ETAG_XATTR = "user.aiodl.etag"


class Validators(NamedTuple):
    """What tells the server's version of a file: its modification time (epoch seconds)
    and its strong ETag."""

    modified: float | None = None
    etag: str | None = None


NO_VALIDATORS = Validators()


def is_complete(
    folder: Folder, name: str, info: os.stat_result | None, size: int, version: Validators
) -> bool:
    """True for a regular file of ``size`` bytes that is provably the server's version:
    modified at ``version.modified`` (to the millisecond), or recorded with the ETag
    ``version.etag``; by size alone when the server told neither."""
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size != size:
        return False
    modified, etag = version
    if modified is None and etag is None:
        return True
    if modified is not None and abs(info.st_mtime_ns - _nanoseconds(modified)) < 1_000_000:
        return True
    return etag is not None and recorded_etag(folder, name) == etag


def recorded_etag(folder: Folder, name: str) -> str | None:
    """The ETag recorded with the file ``name`` (its extended attribute), if any."""
    try:
        fd = os.open(name, _PEEK, dir_fd=folder.fd)
    except OSError:
        return None
    try:
        return os.getxattr(fd, ETAG_XATTR).decode("ascii", "replace")
    except OSError:  # none recorded, or the file system keeps no extended attributes
        return None
    finally:
        os.close(fd)


class Copy(NamedTuple):
    """A regular file already at a target: its size, modification time (epoch seconds)
    and the ETag recorded with it."""

    size: int
    modified: float
    etag: str | None


def existing_copy(folders: Folders, relative: PurePosixPath) -> Copy | None:
    """The file already at ``relative``, if it is a regular one, for asking the server
    whether it changed. Creates no folder; a path through a symlink is none (its
    download refuses it)."""
    try:
        if not stat.S_ISREG(os.lstat(folders.dest.joinpath(*relative.parts)).st_mode):
            return None
        folder = folders.open(relative.parts[:-1])
    except (OSError, UnsafePathError):
        return None
    try:
        info = stat_at(folder, relative.name)
        if info is None or not stat.S_ISREG(info.st_mode):
            return None
        return Copy(info.st_size, info.st_mtime_ns / 1e9, recorded_etag(folder, relative.name))
    finally:
        folder.release()


def stamp(fd: int, version: Validators) -> None:
    """Give the file behind ``fd`` the server's time and record its ETag: what a later
    run compares against."""
    if version.modified is not None:
        os.utime(fd, ns=(_nanoseconds(version.modified),) * 2)
    if version.etag is not None:
        _record_etag(fd, version.etag)


def _record_etag(fd: int, etag: str) -> None:
    """Keep the ETag with the file, where the file system allows user attributes."""
    try:
        os.setxattr(fd, ETAG_XATTR, etag.encode("ascii", "replace"))
    except OSError as error:
        if error.errno not in (errno.ENOTSUP, errno.EPERM, errno.E2BIG, errno.ENOSPC):
            raise


def forget_etag(fd: int) -> None:
    """A part file left by an earlier run may carry an ETag of bytes no longer in it."""
    with contextlib.suppress(OSError):  # none there, or no extended attributes here
        os.removexattr(fd, ETAG_XATTR)


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def stat_at(folder: Folder, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
