"""The resume journal: which bytes of each unfinished file are safely on disk.

One SQLite database per destination folder, ``DEST/.aiodl/journal.sqlite`` (WAL mode).
One database rather than a sidecar per file: a tree walk of 20,000 files would otherwise
create and delete 20,000 sidecars next to the user's files; one database batches its
writes, survives a crash by itself (WAL), and is one thing to delete to forget
everything. Downloaded names never start with a dot, so ``.aiodl`` cannot collide.

A row holds two sets of ranges. ``ranges`` are durable: saved after each background
``fdatasync`` with what was written before that flush began (pwrite -> fdatasync ->
journal commit), so they survive a power cut. ``written`` are the ranges whose writes
have returned, saved a few times a second without waiting for a flush: after a killed
process they are in the page cache, so they are trusted when the machine has not
restarted since (the row's ``boot`` is this boot's id), and otherwise only ``ranges``
are. The journal may lag the file but never claims bytes it does not hold. Commits run
in a worker thread (``rowwriter``), never on the loop. The row goes when the file is
installed or thrown away.

Rows are read once, when the run starts, so a run with nothing to resume never opens
the database, and one that has something costs a dictionary lookup per file. A journal
left without rows at the end of a run is removed, and ``.aiodl`` with it when nothing
else is in it: destinations do not keep an empty journal each.

The journal is trusted no more than a server: a row's path is used only if it is already
in the form ``sanitize_relative`` gives (no ``..``, nothing absolute), and ``.aiodl``
must be a real folder (not a symlink) owned by the user and writable by nobody else,
or the run keeps no journal (a warning says so): a journal written through a planted
symlink, or rows planted by someone else, would lead writes outside ``dest``. SQLite
opens the database through the folder's descriptor (``/proc/self/fd``), so the folder
checked is the folder used.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .._exceptions import UnsafePathError
from .names import sanitize_relative
from .ranges import RangeSet
from .rowwriter import RowWriter

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger("aiodl")
FOLDER = ".aiodl"
NAME = "journal.sqlite"
_FILES = (NAME, f"{NAME}-wal", f"{NAME}-shm")  # what SQLite makes of it (WAL mode)
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BY_FD = os.path.isdir("/proc/self/fd")
_WHY: dict[int | None, str] = {errno.ELOOP: "it is a symlink", errno.ENOTDIR: "it is not a folder"}
_VERSION = 2
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,      -- the target, relative to the destination folder
    url TEXT NOT NULL,          -- the source, with any password masked
    size INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    modified REAL,              -- FTP: the time MLSD/MLST/MDTM gave
    ranges TEXT NOT NULL,       -- JSON [[start, end], ...] durably written
    updated REAL NOT NULL,
    written TEXT,               -- JSON ranges written (in the page cache) during boot
    boot TEXT                   -- the boot id when written was recorded
);
CREATE INDEX IF NOT EXISTS files_url ON files (url);
"""


class Version(Protocol):
    """What identifies one version of a remote file (a RemoteFile has these)."""

    @property
    def size(self) -> int | None: ...

    @property
    def etag(self) -> str | None: ...

    @property
    def last_modified(self) -> str | None: ...

    @property
    def modified(self) -> float | None: ...


@dataclass(frozen=True)
class Checkpoint:
    """What is known of an unfinished file: its version and its bytes on disk."""

    path: str
    url: str
    size: int
    etag: str | None
    last_modified: str | None
    modified: float | None
    ranges: RangeSet
    written: RangeSet | None = None  # also in the page cache (a superset of ranges)

    def matches(self, info: Version) -> bool:
        """Whether ``info`` can be the same version (no validator disagrees)."""
        pairs = (
            (self.size, info.size),
            (self.etag, info.etag),
            (self.last_modified, info.last_modified),
            (self.modified, info.modified),
        )
        return all(old is None or new is None or old == new for old, new in pairs)

    @classmethod
    def of(
        cls,
        path: str,
        url: str,
        info: Version,
        ranges: RangeSet,
        written: RangeSet | None = None,
    ) -> Checkpoint:
        assert info.size is not None
        return cls(
            path, url, info.size, info.etag, info.last_modified, info.modified,
            ranges.copy(), None if written is None else written.copy(),
        )  # fmt: skip


def boot_id() -> str:
    """This boot's id (Linux), or "" where there is none: then written ranges are never
    trusted after the process ends, only durable ones."""
    try:
        with open(_BOOT_ID, encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return ""


class Journal:
    """The journal of one destination folder; opened lazily, closed by ``close``."""

    def __init__(self, dest: Path, boot: str | None = None) -> None:
        self._boot = boot_id() if boot is None else boot
        self._folder = dest / FOLDER
        self._fd = -1  # the folder's descriptor, once checked
        self._refused = False
        self._db: sqlite3.Connection | None = None
        self._by_url: dict[str, Checkpoint] = {}
        self._url_of: dict[str, str] = {}  # path -> url
        self._rows = RowWriter(self._connect)
        self._closed = False  # a flush that ends after the run must not reopen it
        if self._open_folder(create=False) and self._has_file():
            self._load()

    def _open_folder(self, *, create: bool) -> bool:
        """Open ``.aiodl`` (made owner-only when ``create``) and check it is a real folder
        of the user's that nobody else can write to; False when it is missing or
        refused."""
        if self._fd >= 0 or self._refused:
            return self._fd >= 0
        try:
            fd = self._open_fd(create)
        except FileNotFoundError:
            return False
        except OSError as error:
            return self._refuse(_WHY.get(error.errno, "it cannot be opened"))
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.close(fd)
            return self._refuse("it is not a folder of yours that only you can write to")
        self._fd = fd
        return True

    def _open_fd(self, create: bool) -> int:
        try:
            return os.open(self._folder, _FOLDER_FLAGS)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(self._folder, 0o700)
            return os.open(self._folder, _FOLDER_FLAGS)

    def _refuse(self, why: str) -> bool:
        self._refused = True
        log.warning(
            "keeping no resume journal in this run: %s is refused (%s); remove it, or "
            "make it a folder of yours only, to resume interrupted downloads",
            self._folder, why,
        )  # fmt: skip
        return False

    def _has_file(self) -> bool:
        try:
            info = os.stat(NAME, dir_fd=self._fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode) or self._refuse(f"{NAME} is not a plain file")

    def _load(self) -> None:
        db = self._connect()
        if db is None:
            return
        for row in db.execute(
            "SELECT path, url, size, etag, last_modified, modified, ranges, written, boot "
            "FROM files"
        ):
            with contextlib.suppress(ValueError, UnsafePathError):  # a lost resume only
                path, url, size, etag, last_modified, modified, ranges, written, boot = row
                _check_path(path)
                trusted = written if written and self._boot and boot == self._boot else ranges
                checkpoint = Checkpoint(
                    path, url, size, etag, last_modified, modified, RangeSet.from_json(trusted)
                )
                self._by_url[checkpoint.url] = checkpoint
                self._url_of[checkpoint.path] = checkpoint.url

    def _connect(self) -> sqlite3.Connection | None:
        """The database (created on first use), or None when ``.aiodl`` is refused."""
        if self._db is None:
            import sqlite3  # only runs that journal something pay for it

            if not self._open_folder(create=True):
                return None
            where = f"/proc/self/fd/{self._fd}/{NAME}" if _BY_FD else self._folder / NAME
            # Opened here or in the row writer's thread, used by one at a time.
            db = sqlite3.connect(where, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns. NORMAL syncs the WAL only at its
            # checkpoints, so a power cut lost every row and a rerun began at byte 0 (a
            # loop-mounted disk image copied after SIGKILL showed it). A row is written
            # once a second at most per file, after an fdatasync anyway.
            db.execute("PRAGMA synchronous=FULL")
            _upgrade(db)
            self._db = db
        return self._db

    def __len__(self) -> int:
        """Files with journaled bytes: the partial files a rerun resumes."""
        return len(self._url_of)

    def find(self, url: str, path: str | None = None) -> Checkpoint | None:
        """The checkpoint of the file fetched from ``url`` (at ``path``, when given)."""
        checkpoint = self._by_url.get(url)
        if checkpoint is None or (path is not None and checkpoint.path != path):
            return None
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Record (or replace) what is on disk of a file; committed in the background
        (nothing, with no journal)."""
        if self._closed or not self._open_folder(create=True):  # a few calls, once a run
            return
        written = checkpoint.written
        self._rows.put(
            checkpoint.path,
            (
                checkpoint.path,
                checkpoint.url,
                checkpoint.size,
                checkpoint.etag,
                checkpoint.last_modified,
                checkpoint.modified,
                checkpoint.ranges.to_json(),
                time.time(),
                None if written is None else written.to_json(),
                self._boot if written is not None else None,
            ),
        )
        self.forget(checkpoint.path, keep_row=True)
        # This process wrote them: what it wrote is on disk for itself, flushed or not.
        trusted = checkpoint.ranges if written is None else written
        self._by_url[checkpoint.url] = replace(checkpoint, ranges=trusted.copy(), written=None)
        self._url_of[checkpoint.path] = checkpoint.url

    def forget(self, path: str, *, keep_row: bool = False) -> None:
        """Drop what is known of ``path`` (installed, or its bytes thrown away)."""
        url = self._url_of.pop(path, None)
        if url is None:
            return
        if url in self._by_url and self._by_url[url].path == path:
            del self._by_url[url]
        if not keep_row:
            self._rows.delete(path)

    def close(self) -> None:
        """Close the database; one without rows is removed, with ``.aiodl`` if that is
        left empty (never anything else in it, and never through a symlink). Blocking:
        pending rows are written first."""
        self._closed = True
        self._rows.close()
        if self._rows.error is not None:
            log.warning("the resume journal could not be written: %s", self._rows.error)
        if self._db is not None:
            empty = self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM files)").fetchone()[0]
            self._db.close()  # the last connection: SQLite removes its -wal and -shm
            self._db = None
            if empty:
                for name in _FILES:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=self._fd)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):  # not empty: rows, or something else's
                os.rmdir(self._folder)


def _check_path(path: object) -> None:
    """Refuse a row's path unless it is one aiodl could have written: already in the
    form ``sanitize_relative`` gives (no ``..``, nothing absolute)."""
    if not isinstance(path, str) or sanitize_relative(path).as_posix() != path:
        raise ValueError(f"journal path {path!r} is not a sanitised one")


def _upgrade(db: sqlite3.Connection) -> None:
    """Make the table this version's: version 1 lacked ``written`` and ``boot``."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == _VERSION:
        return
    if version == 1:
        db.execute("ALTER TABLE files ADD COLUMN written TEXT")
        db.execute("ALTER TABLE files ADD COLUMN boot TEXT")
    else:
        db.executescript("DROP TABLE IF EXISTS files;" + _SCHEMA)
    db.execute(f"PRAGMA user_version = {_VERSION}")
