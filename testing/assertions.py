"""What a finished run left on disk: the file and no part file, nothing at all, or how many
bytes its journal lists."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import aiodl
from aiodl._disk.names import part_name


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_saved(result: aiodl.Result, data: bytes) -> None:
    assert result.ok, result.error
    assert result.path is not None
    assert _sha(result.path.read_bytes()) == _sha(data)
    assert not result.path.with_name(part_name(result.path.name)).exists()


def assert_nothing_saved(dest: Path) -> None:
    """No file and no part file. Only the journal's folder may remain (a run slower than
    a second takes a checkpoint), and then without a row: nothing is kept to resume."""
    assert [p.name for p in dest.iterdir() if p.name != ".aiodl"] == []
    journal = dest / ".aiodl" / "journal.sqlite"
    if journal.exists():
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            assert db.execute("SELECT count(*) FROM files").fetchone() == (0,)


def journaled(dest: Path, column: str) -> int:
    """Bytes the journal in ``dest`` lists in ``column`` (``ranges``: flushed;
    ``written``: written, flushed or not)."""
    path = dest / ".aiodl" / "journal.sqlite"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            rows = db.execute(f"SELECT {column} FROM files").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return 0
    return sum(end - start for (value,) in rows if value for start, end in json.loads(value))
