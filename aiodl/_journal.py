"""The resume journal: which bytes of each unfinished file are safely on disk.

One SQLite database per destination folder, ``DEST/.aiodl/journal.sqlite`` (WAL mode).
One database rather than a sidecar per file: a mirror of 20,000 files would otherwise
create and delete 20,000 sidecars next to the user's files; one database batches its
writes, survives a crash by itself (WAL), and is one thing to delete to forget
everything. Downloaded names never start with a dot, so ``.aiodl`` cannot collide.

A file gets a row only once some of its bytes are durable: the writer calls ``save``
after each background ``fdatasync`` with the ranges written before that flush began, so
the journal may lag the file but never claims bytes the file does not hold (pwrite ->
fdatasync -> journal commit). The row goes when the file is installed or thrown away.
Rows are read once, when the run starts, so a run with nothing to resume never opens
the database, and one that has something costs a dictionary lookup per file.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ._driver import RemoteFile
from ._ranges import RangeSet

if TYPE_CHECKING:
    import sqlite3

FOLDER = ".aiodl"
NAME = "journal.sqlite"
_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,      -- the target, relative to the destination folder
    url TEXT NOT NULL,          -- the source, with any password masked
    size INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    modified REAL,              -- FTP: the time MLSD/MLST/MDTM gave
    ranges TEXT NOT NULL,       -- JSON [[start, end], ...] durably written
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_url ON files (url);
"""


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

    def remote(self, url: str) -> RemoteFile:
        """The file as the journal knows it, for validating a resumed request."""
        return RemoteFile(
            url,
            self.size,
            True,
            etag=self.etag,
            last_modified=self.last_modified,
            modified=self.modified,
        )

    def matches(self, info: RemoteFile) -> bool:
        """Whether ``info`` can be the same version (no validator disagrees)."""
        pairs = (
            (self.size, info.size),
            (self.etag, info.etag),
            (self.last_modified, info.last_modified),
            (self.modified, info.modified),
        )
        return all(old is None or new is None or old == new for old, new in pairs)

    @classmethod
    def of(cls, path: str, url: str, info: RemoteFile, ranges: RangeSet) -> Checkpoint:
        assert info.size is not None
        return cls(
            path, url, info.size, info.etag, info.last_modified, info.modified, ranges.copy()
        )


class Journal:
    """The journal of one destination folder; opened lazily, closed by ``close``."""

    def __init__(self, dest: Path) -> None:
        self._file = dest / FOLDER / NAME
        self._db: sqlite3.Connection | None = None
        self._by_url: dict[str, Checkpoint] = {}
        self._url_of: dict[str, str] = {}  # path -> url
        if self._file.exists():
            self._load()

    def _load(self) -> None:
        db = self._connect()
        for row in db.execute(
            "SELECT path, url, size, etag, last_modified, modified, ranges FROM files"
        ):
            with contextlib.suppress(ValueError):  # a damaged row is only a lost resume
                path, url, size, etag, last_modified, modified, ranges = row
                checkpoint = Checkpoint(
                    path, url, size, etag, last_modified, modified, RangeSet.from_json(ranges)
                )
                self._by_url[checkpoint.url] = checkpoint
                self._url_of[checkpoint.path] = checkpoint.url

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            import sqlite3  # only runs that journal something pay for it

            self._file.parent.mkdir(exist_ok=True)
            db = sqlite3.connect(self._file, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns. NORMAL syncs the WAL only at its
            # checkpoints, so a power cut lost every row and a rerun began at byte 0 (a
            # loop-mounted disk image copied after SIGKILL showed it). A row is written
            # once a second at most per file, after an fdatasync anyway.
            db.execute("PRAGMA synchronous=FULL")
            if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                db.executescript("DROP TABLE IF EXISTS files;" + _SCHEMA)
                db.execute(f"PRAGMA user_version = {_VERSION}")
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
        """Record (or replace) the durable ranges of a file."""
        self._connect().execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                checkpoint.path,
                checkpoint.url,
                checkpoint.size,
                checkpoint.etag,
                checkpoint.last_modified,
                checkpoint.modified,
                checkpoint.ranges.to_json(),
                time.time(),
            ),
        )
        self.forget(checkpoint.path, keep_row=True)
        self._by_url[checkpoint.url] = replace(checkpoint, ranges=checkpoint.ranges.copy())
        self._url_of[checkpoint.path] = checkpoint.url

    def forget(self, path: str, *, keep_row: bool = False) -> None:
        """Drop what is known of ``path`` (installed, or its bytes thrown away)."""
        url = self._url_of.pop(path, None)
        if url is None:
            return
        if url in self._by_url and self._by_url[url].path == path:
            del self._by_url[url]
        if not keep_row:
            self._connect().execute("DELETE FROM files WHERE path = ?", (path,))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
