"""The resume journal (aiodl._disk.journal) on a real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from aiodl._disk.journal import FOLDER, NAME, Checkpoint, Journal
from aiodl._disk.ranges import RangeSet
from aiodl._protocols.driver import RemoteFile

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
    version = (found.size, found.etag, found.last_modified, found.modified)
    assert version == (INFO.size, INFO.etag, INFO.last_modified, INFO.modified)


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


PATHS = ["a.bin", "d/b.bin", "c.bin"]
URLS = ["http://h/1", "http://h/2", "ftp://h/3"]
small_ranges = st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), max_size=6)


class JournalMachine(RuleBasedStateMachine):
    """Checkpoints saved, replaced, forgotten and reloaded in any order, against a model of
    the rows the database must hold. A checkpoint found is always the latest one saved for
    its path, never another file's or a stale one; a URL only ever saved at one path is
    found exactly, in the same run and after a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.dest = Path(tempfile.mkdtemp(prefix="aiodl-journal-"))
        self.journal = Journal(self.dest)
        self.rows: dict[str, Checkpoint] = {}  # path -> what the database must hold
        self.paths_of: dict[str, set[str]] = {}  # url -> every path it was saved at

    @rule(
        path=st.sampled_from(PATHS),
        url=st.sampled_from(URLS),
        ranges=small_ranges,
        etag=st.none() | st.sampled_from(['"e1"', '"e2"']),
    )
    def save(self, path: str, url: str, ranges: list[tuple[int, int]], etag: str | None) -> None:
        written = RangeSet(ranges)
        info = RemoteFile(url, 100, True, etag=etag)
        checkpoint = Checkpoint.of(path, url, info, written)
        written.add(0, 100)  # Checkpoint.of took a copy: later writes do not leak in
        assert checkpoint.ranges == RangeSet(ranges)
        self.journal.save(checkpoint)
        checkpoint.ranges.add(0, 100)  # ...and so did save
        self.rows[path] = Checkpoint.of(path, url, info, RangeSet(ranges))
        self.paths_of.setdefault(url, set()).add(path)

    @rule(path=st.sampled_from(PATHS))
    def forget(self, path: str) -> None:
        self.journal.forget(path)
        self.rows.pop(path, None)

    @rule()
    def restart(self) -> None:
        self.journal.close()
        self.journal = Journal(self.dest)

    @invariant()
    def found_is_never_stale_or_foreign(self) -> None:
        for url in URLS:
            found = self.journal.find(url)
            if found is not None:
                assert found == self.rows.get(found.path)
            for path in PATHS:
                at = self.journal.find(url, path)
                assert at is None or at == self.rows.get(path)

    @invariant()
    def one_path_urls_are_found_exactly(self) -> None:
        for url, paths in self.paths_of.items():
            if len(paths) == 1:
                (path,) = paths
                row = self.rows.get(path)
                expected = row if row is not None and row.url == url else None
                assert self.journal.find(url, path) == expected
                assert self.journal.find(url) == expected

    def teardown(self) -> None:
        self.journal.close()
        shutil.rmtree(self.dest, ignore_errors=True)


JournalMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_journal_state_machine = JournalMachine.TestCase


validators = st.tuples(
    st.none() | st.integers(0, 3),
    st.none() | st.sampled_from(['"a"', '"b"']),
    st.none() | st.sampled_from(["Mon", "Tue"]),
    st.none() | st.sampled_from([1.0, 2.0]),
)


@given(validators, validators)
def test_matches_only_when_no_known_validator_disagrees(
    old: tuple[int | None, str | None, str | None, float | None],
    new: tuple[int | None, str | None, str | None, float | None],
) -> None:
    """A resume may go ahead only if size, ETag, Last-Modified and FTP time all agree where
    both sides know them: bytes of two versions are never mixed."""
    saved = Checkpoint("f", "u", old[0] or 0, old[1], old[2], old[3], RangeSet())
    size = new[0]
    info = RemoteFile("u", size, True, etag=new[1], last_modified=new[2], modified=new[3])
    olds = (old[0] or 0, *old[1:])
    disagree = any(
        a is not None and b is not None and a != b for a, b in zip(olds, new, strict=True)
    )
    assert saved.matches(info) is not disagree
    assert saved.matches(saved)  # a checkpoint is a version of itself


def test_a_journal_row_of_deep_nesting_is_only_a_lost_resume(tmp_path: Path) -> None:
    """Found by fuzzing RangeSet.from_json: a row nested 100,000 deep raised RecursionError
    out of Journal(), so every run into that folder failed until .aiodl was deleted."""
    journal = Journal(tmp_path)
    journal.save(checkpoint())
    journal.close()
    with sqlite3.connect(tmp_path / FOLDER / NAME) as db:
        db.execute("UPDATE files SET ranges = ?", ("[" * 100_000,))
    assert Journal(tmp_path).find("http://h/f") is None


def test_a_checkpoint_after_close_is_dropped_and_reopens_nothing(tmp_path: Path) -> None:
    """A background flush that ends after the run closed the journal reports its ranges
    late: the closed journal drops them (no writer thread starts again on a database
    being closed, which crashed the interpreter) and makes no ``.aiodl`` again."""
    journal = Journal(tmp_path)
    journal.save(checkpoint("a.bin"))
    journal.forget("a.bin")
    journal.close()
    assert not (tmp_path / FOLDER).exists()
    journal.save(checkpoint("late.bin"))
    journal.forget("late.bin")
    journal.close()
    assert not (tmp_path / FOLDER).exists()


def test_written_ranges_are_trusted_on_the_same_boot_only(tmp_path: Path) -> None:
    """Written (unflushed) ranges hold after a killed process, not after a reboot."""
    info = RemoteFile("http://h/f", 100, True, etag='"e"')
    flushed, written = RangeSet([(0, 10)]), RangeSet([(0, 60)])
    journal = Journal(tmp_path, boot="boot-1")
    journal.save(Checkpoint.of("f.bin", "http://h/f", info, flushed, written))
    journal.close()
    same, rebooted = Journal(tmp_path, boot="boot-1"), Journal(tmp_path, boot="boot-2")
    assert list(same.find("http://h/f").ranges) == [(0, 60)]  # type: ignore[union-attr]
    assert list(rebooted.find("http://h/f").ranges) == [(0, 10)]  # type: ignore[union-attr]
    same.close()
    rebooted.close()
