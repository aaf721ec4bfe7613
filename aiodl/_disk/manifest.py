"""The manifest: what became of every source of a big job, kept across runs.

One SQLite file the user names (``manifest=``/``--manifest``), one row per file: pending
(drawn, not finished), done (where it went, its size and sha256) or failed (the last
reason and how many runs tried it). A rerun asks the manifest before the network: a done
file that is still there is reported skipped without a request, a failed one is tried
again until it has had ``max_attempts`` runs.

Writes are queued and committed in batches (WAL, synchronous=NORMAL): one transaction per
thousand rows or per second, whichever comes first, so a million files cost a thousand
commits, not a million. A crash loses at most the last batch of records, never data: a
file recorded pending or missing from the manifest is simply asked for again, and the
engine skips a complete copy at its target.

Rows hold the URL as given (a token in it is what fetching it again needs), like
``--failed-list``; the file is created readable by its owner only.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .._credentials import mask_url
from .._exceptions import DownloadError, UnsafePathError
from .._models import Request, Result
from .commit import finish
from .hashing import file_digest
from .names import sanitize_relative

_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    url TEXT NOT NULL,          -- as given, unmasked: a rerun needs its token
    path TEXT NOT NULL,         -- the requested target ('' when the server names it)
    mirrors TEXT NOT NULL,      -- more URLs of the same file, TAB-separated
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    saved TEXT,                 -- done: where the file is, relative to dest
    size INTEGER,
    digest TEXT,                -- done: sha256:HEX of the saved file
    reason TEXT,                -- failed: the last error
    attempts INTEGER NOT NULL DEFAULT 0,  -- runs that failed it
    updated REAL NOT NULL,
    PRIMARY KEY (url, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sources_state ON sources (state);
"""
_PENDING = """INSERT OR IGNORE INTO sources (url, path, mirrors, state, updated)
VALUES (?, ?, ?, 'pending', ?)"""
_DONE = """INSERT INTO sources (url, path, mirrors, state, saved, size, digest, updated)
VALUES (?, ?, ?, 'done', ?, ?, ?, ?) ON CONFLICT (url, path) DO UPDATE SET state = 'done',
saved = excluded.saved, size = excluded.size, digest = excluded.digest, reason = NULL,
updated = excluded.updated"""
_FAILED = """INSERT INTO sources (url, path, mirrors, state, reason, attempts, updated)
VALUES (?, ?, ?, 'failed', ?, 1, ?) ON CONFLICT (url, path) DO UPDATE SET state = 'failed',
reason = excluded.reason, attempts = attempts + 1, updated = excluded.updated"""
BATCH_ROWS = 1000
BATCH_SECONDS = 1.0
INLINE_HASH = 1 << 20  # files up to this size are hashed on the event loop


@dataclass(frozen=True, slots=True)
class Record:
    """One file's record."""

    url: str
    path: str
    mirrors: tuple[str, ...]
    state: str
    saved: str | None = None
    size: int | None = None
    digest: str | None = None
    reason: str | None = None
    attempts: int = 0

    def request(self) -> Request:
        """The Request that fetches this file again."""
        return Request(self.url, self.path or None, mirrors=self.mirrors)


class Manifest:
    """An open manifest file. Not thread-safe: one run's event loop uses it."""

    def __init__(self, file: str | os.PathLike[str]) -> None:
        self.file = Path(file)
        self._queue: list[tuple[str, tuple[object, ...]]] = []  # in order: a file's
        # failure and its later success may share a batch
        self._flushed = time.monotonic()
        self._db = _connect(self.file)

    def lookup(self, request: Request) -> Record | None:
        """What is recorded of ``request``, committed or not yet."""
        row = self._db.execute(
            "SELECT url, path, mirrors, state, saved, size, digest, reason, attempts "
            "FROM sources WHERE url = ? AND path = ?",
            (request.url, request.path or ""),
        ).fetchone()
        return None if row is None else _record(row)

    def pending(self, request: Request) -> None:
        """``request`` was drawn; a row that already exists is left as it is."""
        self._add(_PENDING, (*_key(request), time.time()))

    def done(self, request: Request, saved: str, size: int, digest: str) -> None:
        self._add(_DONE, (*_key(request), saved, size, digest, time.time()))

    def failed(self, request: Request, reason: str) -> None:
        self._add(_FAILED, (*_key(request), reason, time.time()))

    def settle(self, request: Request, outcome: Outcome) -> None:
        """Record how ``request`` ended."""
        if outcome.saved is not None and outcome.size is not None and outcome.digest:
            self.done(request, outcome.saved, outcome.size, outcome.digest)
        else:
            self.failed(request, outcome.reason or "unknown")

    def entries(self, state: str) -> Iterator[Record]:
        """Every committed row in ``state``, in no particular order, read lazily."""
        self.flush()
        cursor = self._db.execute(
            "SELECT url, path, mirrors, state, saved, size, digest, reason, attempts "
            "FROM sources WHERE state = ?",
            (state,),
        )
        return (_record(row) for row in cursor)

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        self.flush()
        found = dict(self._db.execute("SELECT state, count(*) FROM sources GROUP BY state"))
        return {state: found.get(state, 0) for state in ("done", "failed", "pending")}

    def flush(self) -> None:
        """Commit every queued record in one transaction, in the order they came."""
        if not self._queue:
            return
        with self._db:
            for statement, run in itertools.groupby(self._queue, key=lambda item: item[0]):
                self._db.executemany(statement, (row for _, row in run))
        self._queue.clear()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _add(self, statement: str, row: tuple[object, ...]) -> None:
        self._queue.append((statement, row))
        if len(self._queue) >= BATCH_ROWS or time.monotonic() - self._flushed >= BATCH_SECONDS:
            self.flush()


class Ledger:
    """A run's use of the manifest: answers files it already knows, records the rest."""

    def __init__(self, manifest: Manifest, dest: Path, max_attempts: int) -> None:
        self.manifest = manifest
        self._dest = dest
        self._max_attempts = max_attempts

    def known(self, request: Request) -> Result | None:
        """The Result of a file settled by earlier runs (done and still there, or failed
        ``max_attempts`` times), or None when it must be fetched (it is recorded pending)."""
        entry = self.manifest.lookup(request)
        if entry is None:
            self.manifest.pending(request)
            return None
        url = mask_url(request.url)
        if entry.state == "done" and entry.saved is not None:
            path = self._saved(entry.saved)
            if path is not None and _has_size(path, entry.size):
                return Result(url, path, ok=True, size=entry.size, skipped=True)
        if entry.state == "failed" and entry.attempts >= self._max_attempts:
            reason = f"failed in {entry.attempts} runs, last: {entry.reason}"
            return Result(url, None, ok=False, error=DownloadError(reason, url=url))
        return None

    def _saved(self, saved: str) -> Path | None:
        """Where a done row says its file is, if that is a path aiodl could have saved:
        the manifest is trusted no more than a server's name (no ``..``, nothing
        absolute), so a forged row never makes a file outside ``dest`` count as done."""
        try:
            relative = sanitize_relative(saved)
        except UnsafePathError:
            return None
        return self._dest / relative if relative.as_posix() == saved else None

    async def record(self, request: Request, result: Result) -> None:
        """Write down how a file ended."""
        self.manifest.settle(request, await outcome(result, self._dest))

    def close(self) -> None:
        self.manifest.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one file ended, small enough to send from a cluster worker: done (where,
    size, sha256) or failed (why)."""

    saved: str | None = None
    size: int | None = None
    digest: str | None = None
    reason: str | None = None


async def outcome(result: Result, dest: Path) -> Outcome:
    """The Outcome of ``result``: a saved file is measured and hashed where it lies."""
    if not result.ok or result.path is None:
        return Outcome(reason=str(result.error))
    try:
        size, digest = await _sha256(result.path)
    except OSError as error:  # removed or replaced meanwhile: not known to be done
        return Outcome(reason=f"saved, then unreadable for its digest: {error.strerror}")
    return Outcome(result.path.relative_to(dest).as_posix(), size, digest)


async def _sha256(path: Path) -> tuple[int, str]:
    """The size and ``sha256:HEX`` of a saved file; a large one is hashed in a thread."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        digest = partial(file_digest, fd, "sha256")
        if size > INLINE_HASH:
            hexdigest = await finish(asyncio.get_running_loop().run_in_executor(None, digest))
        else:
            hexdigest = digest()
    finally:
        os.close(fd)
    return size, f"sha256:{hexdigest}"


def _has_size(path: Path, size: int | None) -> bool:
    """A plain file (not a symlink to one) of ``size`` bytes is at ``path``."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size


def _connect(file: Path) -> sqlite3.Connection:
    """Open (or create, owner-only) the manifest; a file that is not one is a ValueError."""
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
    db = sqlite3.connect(file, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost commit only asks for files again
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _VERSION):
            raise ValueError(f"{file}: manifest version {version}, this aiodl reads {_VERSION}")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {_VERSION}")
        db.isolation_level = "DEFERRED"  # ``with db`` then wraps a batch in one transaction
    except sqlite3.DatabaseError as error:
        db.close()
        raise ValueError(f"{file} is not an aiodl manifest: {error}") from None
    return db


def _key(request: Request) -> tuple[str, str, str]:
    return request.url, request.path or "", "\t".join(request.mirrors)


def _record(row: tuple[Any, ...]) -> Record:
    url, path, mirrors, *rest = row
    return Record(url, path, tuple(mirrors.split("\t")) if mirrors else (), *rest)
