"""The destination folder held open: files are opened, checked, renamed and removed
relative to a descriptor of their folder, never by a path a second writer could redirect.

A path is looked up again at every call, so a folder swapped for a symlink after it was
checked would send the next write outside ``dest``. A descriptor is the folder itself:
a name opened relative to it with ``O_NOFOLLOW`` cannot leave it. Folders below ``dest``
are created (``mkdir``) and opened (``O_DIRECTORY | O_NOFOLLOW``) one component at a
time, each relative to its parent, so no symlink on the way is ever followed.

A bounded number of folder descriptors stays open (a mirror may have thousands of
folders, and the process must never run out of descriptors): the least recently used
go first, never one a part file still holds for its rename. Each time a file goes into
a folder kept open, the folder's name is checked to still be that folder (one
``fstatat`` per level), so a folder swapped meanwhile is looked up afresh and a symlink
in its place refused: the file lands where its Result says. Files straight in ``dest``
pay for none of this.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from .._exceptions import UnsafePathError

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _kept_open() -> int:
    """How many folder descriptors stay open: an eighth of the descriptor limit, at most
    128 (sockets and part files need the rest)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 128 if soft == resource.RLIM_INFINITY else max(8, min(128, soft // 8))


class Folder:
    """One open folder: its descriptor, its path (for messages and Results), and how
    many part files use it."""

    __slots__ = ("_owner", "fd", "gone", "identity", "key", "path", "users")

    def __init__(self, owner: Folders, fd: int, path: Path, key: tuple[str, ...]) -> None:
        self._owner = owner
        self.fd = fd
        self.path = path
        self.key = key
        info = os.fstat(fd)
        self.identity = (info.st_dev, info.st_ino)
        self.users = 0
        self.gone = False  # no longer kept open: closed when its last user is done

    def release(self) -> None:
        """One user is done with it (every ``Folders.open`` is paired with this)."""
        self._owner.release(self)


class Folders:
    """``dest`` and the folders below it that one run writes into; thread-safe (large
    files are opened in worker threads)."""

    def __init__(self, dest: Path, keep: int | None = None) -> None:
        self.dest = dest
        self._keep = _kept_open() if keep is None else keep
        self._lock = threading.Lock()
        self._root: Folder | None = None
        self._open: OrderedDict[tuple[str, ...], Folder] = OrderedDict()

    def open(self, parts: tuple[str, ...]) -> Folder:
        """The folder ``dest/parts...``, created as needed; release it when done.

        Raises UnsafePathError when a component is a symlink or not a folder.
        """
        with self._lock:
            folder = self._root_folder()
            for depth in range(1, len(parts) + 1):
                folder = self._child(folder, parts[:depth])
            folder.users += 1
            self._trim()
            return folder

    def release(self, folder: Folder) -> None:
        with self._lock:
            folder.users -= 1
            if folder.gone and folder.users == 0:
                os.close(folder.fd)

    def close(self) -> None:
        """Close every descriptor; the run is over."""
        with self._lock:
            for folder in self._open.values():
                os.close(folder.fd)
            self._open.clear()
            if self._root is not None:
                os.close(self._root.fd)
                self._root = None

    def _root_folder(self) -> Folder:
        if self._root is None:
            fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._root = Folder(self, fd, self.dest, ())
        return self._root

    def _child(self, parent: Folder, key: tuple[str, ...]) -> Folder:
        """The folder ``key`` inside ``parent``: the one kept open if its name still
        names it, else looked up (and created) afresh."""
        kept = self._open.get(key)
        if kept is not None:
            if _identity_at(parent.fd, key[-1]) == kept.identity:
                self._open.move_to_end(key)
                return kept
            self._let_go(kept)
        folder = Folder(self, _open_folder(parent.fd, key), parent.path / key[-1], key)
        self._open[key] = folder
        return folder

    def _trim(self) -> None:
        """Close the least recently used folders beyond the bound that nothing uses."""
        excess = len(self._open) - self._keep
        for folder in list(self._open.values()):
            if excess <= 0:
                return
            if folder.users == 0:
                self._let_go(folder)
                excess -= 1

    def _let_go(self, folder: Folder) -> None:
        del self._open[folder.key]
        folder.gone = True
        if folder.users == 0:
            os.close(folder.fd)


def _identity_at(folder: int, name: str) -> tuple[int, int] | None:
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _open_folder(parent: int, key: tuple[str, ...]) -> int:
    """Open (creating it if missing) the folder ``key[-1]`` inside ``parent``, refusing
    a symlink or anything else that is not a plain folder."""
    name = key[-1]
    try:
        try:
            return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):  # made meanwhile: open it
                os.mkdir(name, dir_fd=parent)
            return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        where = "/".join(key)
        raise UnsafePathError(
            f"{where} in the destination is a symlink or a file, not a folder; "
            "move it away or choose another destination"
        ) from None
