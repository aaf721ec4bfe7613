"""The rich progress bars (aiodl._progress), fed events directly."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from aiodl import Advanced, Finished, Result, Started
from aiodl._progress import ProgressBars


def test_files_finished_without_starting_still_count() -> None:
    """Skipped files finish without a Started event; done/total must still add up."""
    console = Console(file=io.StringIO(), width=100)
    with ProgressBars(console) as bars:
        bars.handle(Started(0, "u0", Path("a"), 10))
        bars.handle(Advanced(0, 10))
        bars.handle(Finished(0, Result("u0", Path("a"), ok=True, size=10)))
        bars.handle(Finished(1, Result("u1", Path("b"), ok=True, size=5, skipped=True)))
        assert bars.summary == "2/2 files"


def test_resumed_bytes_are_neither_work_nor_speed() -> None:
    console = Console(file=io.StringIO(), width=100)
    with ProgressBars(console) as bars:
        bars.handle(Started(0, "u", Path("big"), 100 << 20, resumed=60 << 20))
        overall, big = bars.tasks
        assert (overall.total, overall.completed) == (40 << 20, 0)
        assert (big.total, big.completed) == (100 << 20, 60 << 20)
        assert big.speed is None  # nothing was fetched yet
