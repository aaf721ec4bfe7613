"""``DEST/.aiodl/`` goes when it holds nothing to resume: a run that journaled files
and then installed them all leaves no empty journal behind. Only what aiodl made goes
(its database files, then the folder if nothing else is in it), and a journal that
still has rows stays."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import aiodl
from aiodl._disk.journal import _SCHEMA, _VERSION, FOLDER, NAME, Checkpoint, Journal
from aiodl._disk.ranges import RangeSet
from aiodl._protocols.driver import RemoteFile
from testing import MiB, random_bytes, sha
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio
INFO = RemoteFile("http://h/f", 100, True, etag='"e1"')


def checkpoint(path: str = "f.bin") -> Checkpoint:
    return Checkpoint.of(path, "http://h/f", INFO, RangeSet([(0, 10)]))


async def test_a_run_that_journaled_and_finished_leaves_no_journal(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """1.5 MiB at 1 MiB/s takes a checkpoint (its row is written after a second), then
    is installed: nothing is left to resume, so ``.aiodl`` is gone after the run."""
    data = random_bytes(3 * MiB // 2)
    url = http_server.add("slow.bin", data, rate=MiB)
    dest = tmp_path / "d"
    rows_seen: list[bool] = []

    def on_event(event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Finished):
            rows_seen.append((dest / FOLDER / NAME).exists())

    [result] = await aiodl.download_many([url], dest, split=1, progress=on_event)
    assert result.ok, result.error
    assert rows_seen == [True]  # the run did journal
    assert sha((dest / "slow.bin").read_bytes()) == sha(data)
    assert sorted(p.name for p in dest.iterdir()) == ["slow.bin"]


def test_an_emptied_journal_is_removed_when_closed(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(checkpoint())
    journal.forget("f.bin")
    journal.close()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_journal_left_by_an_earlier_run_goes_with_the_next(tmp_path: Path) -> None:
    """What earlier versions left in every destination: a journal without rows."""
    (tmp_path / FOLDER).mkdir()
    with closing(sqlite3.connect(tmp_path / FOLDER / NAME)) as db:
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {_VERSION}")
    journal = Journal(tmp_path)
    assert journal.find("http://h/f") is None
    journal.close()
    assert list(tmp_path.iterdir()) == []


def test_a_journal_with_rows_stays(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(checkpoint("a.bin"))
    journal.save(checkpoint("b.bin"))
    journal.forget("a.bin")
    journal.close()
    reloaded = Journal(tmp_path)
    assert reloaded.find("http://h/f", "b.bin") is not None
    reloaded.close()
    assert (tmp_path / FOLDER / NAME).exists()


def test_only_what_aiodl_made_is_removed(tmp_path: Path) -> None:
    """A file of the user's in ``.aiodl`` keeps the folder (and itself) in place."""
    journal = Journal(tmp_path)
    journal.save(checkpoint())
    (tmp_path / FOLDER / "notes.txt").write_text("mine")
    journal.forget("f.bin")
    journal.close()
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["notes.txt"]
