"""The journal's writes, off the event loop and batched.

A journal commit waits for the disk (``synchronous=FULL``: an fsync of the WAL), which
on the caller's loop held every transfer and the caller's own tasks for that long. Rows
are handed to one worker thread instead; what piles up while it commits is written in
its next transaction, and only the newest row of a file is kept: one fsync per batch,
however many files checkpoint meanwhile. The journal may lag the disk this way, which it
already may (rows follow the bytes), but never runs ahead of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

Row = tuple[object, ...]
# What one file's newest change is: its row to store, or None to delete it.
Pending = dict[str, Row | None]
_INSERT = "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class RowWriter:
    """Writes rows to the database ``connect`` opens (in the worker thread, on first
    use); ``put``/``delete`` return at once; ``close`` waits until all is written."""

    def __init__(self, connect: Callable[[], sqlite3.Connection | None]) -> None:
        self._connect = connect
        self._pending: Pending = {}
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def put(self, path: str, row: Row) -> None:
        self._queue(path, row)

    def delete(self, path: str) -> None:
        self._queue(path, None)

    def close(self) -> None:
        """Write what is pending and stop the thread (a no-op if it never started)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _queue(self, path: str, row: Row | None) -> None:
        """A row for the thread; dropped once ``close`` has begun (a flush that finishes
        after the run costs a resume at most, and the database is being closed)."""
        with self._wake:
            if self._closing:
                return
            self._pending[path] = row
            self._wake.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aiodl-journal", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._wake.wait()
                batch, self._pending = self._pending, {}
                last = self._closing
            if batch:
                self._write(batch)
            if last and not self._pending:
                return

    def _write(self, batch: Pending) -> None:
        """One transaction for the batch; a failure costs resumes, never the download."""
        try:
            db = self._connect()
            if db is None:
                return
            with db:  # BEGIN ... COMMIT (or ROLLBACK)
                db.execute("BEGIN")
                for path, row in batch.items():
                    if row is None:
                        db.execute("DELETE FROM files WHERE path = ?", (path,))
                    else:
                        db.execute(_INSERT, row)
        except Exception as error:  # kept for the journal to log once
            self.error = self.error or error
