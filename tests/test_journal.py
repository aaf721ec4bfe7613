"""The resume journal (aiodl._journal) on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aiodl._driver import RemoteFile
from aiodl._journal import FOLDER, NAME, Checkpoint, Journal
from aiodl._ranges import RangeSet

INFO = RemoteFile("http://h/f", 100, True, etag='"e1"', last_modified="Mon, 23 Nov 2026")


def checkpoint(path: str = "f.bin", ranges: RangeSet | None = None) -> Checkpoint:
    return Checkpoint.of(path, "http://h/f", INFO, ranges or RangeSet([(0, 10), (50, 60)]))


def test_nothing_is_created_until_something_is_saved(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.find("http://h/f") is None
    journal.close()
    assert not (tmp_path / FOLDER).exists()


def test_saved_checkpoints_survive_a_restart(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.save(checkpoint())
    first.close()
    found = Journal(tmp_path).find("http://h/f")
    assert found == checkpoint()
    assert found is not None
    assert found.remote("http://h/f") == INFO


def test_find_checks_the_target_when_asked(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(checkpoint("a/f.bin"))
    assert journal.find("http://h/f", "a/f.bin") is not None
    assert journal.find("http://h/f", "b/f.bin") is None
    journal.close()


def test_saving_again_replaces_and_forget_removes(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(checkpoint(ranges=RangeSet([(0, 10)])))
    journal.save(checkpoint(ranges=RangeSet([(0, 90)])))
    journal.close()
    reloaded = Journal(tmp_path)
    found = reloaded.find("http://h/f")
    assert found is not None
    assert list(found.ranges) == [(0, 90)]
    reloaded.forget("f.bin")
    reloaded.close()
    assert Journal(tmp_path).find("http://h/f") is None


@pytest.mark.parametrize(
    "damage",
    ["UPDATE files SET ranges = 'not json'", "PRAGMA user_version = 99"],
    ids=["damaged row", "another schema version"],
)
def test_a_damaged_or_foreign_journal_is_only_a_lost_resume(tmp_path: Path, damage: str) -> None:
    journal = Journal(tmp_path)
    journal.save(checkpoint())
    journal.close()
    with sqlite3.connect(tmp_path / FOLDER / NAME) as db:
        db.execute(damage)
    assert Journal(tmp_path).find("http://h/f") is None


def test_matches_compares_known_validators_only() -> None:
    saved = checkpoint()
    assert saved.matches(RemoteFile("u", 100, True, etag='"e1"'))
    assert saved.matches(RemoteFile("u", 100, True))  # nothing said: nothing contradicts
    assert not saved.matches(RemoteFile("u", 101, True))
    assert not saved.matches(RemoteFile("u", 100, True, etag='"e2"'))
