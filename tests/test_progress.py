"""The rich progress bars (aiodl._progress), fed events directly or by real downloads."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

import aiodl
from aiodl import Advanced, Event, Finished, Result, Started
from aiodl._progress import LARGE_FILE, ProgressBars, count_of
from testing.servers.http import FaultServer


def test_files_finished_without_starting_still_count() -> None:
    """Skipped files finish without a Started event; done/total must still add up."""
    console = Console(file=io.StringIO(), width=100)
    with ProgressBars(console) as bars:
        bars.handle(Started(0, "u0", Path("a"), 10))
        bars.handle(Advanced(0, 10))
        bars.handle(Finished(0, Result("u0", Path("a"), ok=True, size=10)))
        bars.handle(Finished(1, Result("u1", Path("b"), ok=True, size=5, skipped=True)))
        assert bars.summary == "2/2 files"


def test_resumed_bytes_are_shown_done_but_never_as_speed() -> None:
    """A resumed file's bars start at its reused bytes; they are no speed (nothing was
    fetched yet)."""
    console = Console(file=io.StringIO(), width=100)
    with ProgressBars(console, files=2) as bars:
        bars.handle(Started(0, "u", Path("big"), 100 << 20, resumed=60 << 20))
        overall, big = bars.tasks
        assert (overall.total, overall.completed) == (None, 60 << 20)  # file 2 not seen yet
        assert (big.total, big.completed) == (100 << 20, 60 << 20)
        assert bars.rate(overall.id) == bars.rate(big.id) == 0.0


def console_text(width: int = 160) -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=width), screen


def plain(screen: io.StringIO) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())


@pytest.mark.anyio
async def test_overall_speed_and_sizes_are_binary_and_true(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """20 files under a 1 MiB/s cap: the final frame's speed is the run's (rich's own
    restarted with every file), in the unit --limit-rate uses."""
    urls = [http_server.add(f"f{i}.bin", bytes(100 << 10)) for i in range(20)]
    console, screen = console_text()
    began = time.monotonic()
    with ProgressBars(console, files=count_of(urls)) as bars:
        results = await aiodl.download_many(
            urls, tmp_path, rate_limit=1 << 20, progress=bars.handle
        )
    seconds = time.monotonic() - began
    assert all(result.ok for result in results)
    final = plain(screen).splitlines()[-1]
    assert "20/20 files" in final
    assert "2.0/2.0 MiB" in final
    speed = re.search(r"([\d.]+) (KiB|MiB)/s", final)
    assert speed is not None, final
    shown = float(speed[1]) * (1 if speed[2] == "MiB" else 1 / 1024)
    assert 0.6 * (2 / seconds) <= shown <= 1.2 * (2 / seconds), (final, seconds)
    assert not re.search(r"\d (kB|MB|GB)\b", plain(screen))  # no decimal units anywhere


def test_totals_and_eta_only_once_known() -> None:
    """With files still unseen the overall bar claims no total and no ETA; once one file
    is done and the count is known, the ETA comes from the file rate."""
    console, _ = console_text()
    with ProgressBars(console) as unknown:
        unknown.handle(Started(0, "u0", Path("a"), 100))
        unknown.handle(Started(1, "u1", Path("b"), 100))
        assert unknown.summary == "0/2 files (2 running)"
        [overall] = unknown.tasks
        assert overall.total is None
        assert unknown.eta(overall.id) is None
    with ProgressBars(console, files=4) as known:
        known.handle(Started(0, "u0", Path("a"), 100))
        known.handle(Advanced(0, 100))
        known.handle(Finished(0, Result("u0", Path("a"), ok=True, size=100)))
        assert known.summary == "1/4 files"
        [overall] = known.tasks
        assert overall.total is None  # 3 files' sizes are not known yet
        eta = known.eta(overall.id)
        assert eta is not None
        assert eta >= 0


@pytest.mark.anyio
async def test_a_single_file_run_draws_one_bar(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("big.bin", bytes(LARGE_FILE + 1))
    console, _ = console_text()
    most = 0
    with ProgressBars(console, files=count_of([url])) as bars:

        def watch(event: Event) -> None:
            nonlocal most
            bars.handle(event)
            most = max(most, len(bars.tasks))

        [result] = await aiodl.download_many([url], tmp_path, progress=watch)
    assert result.ok
    assert most == 1
    assert count_of([url, f"{url}/"]) is None  # a folder URL: its files are not known


def test_the_final_frame_is_drawn_when_the_bars_stop() -> None:
    """rich's Live skips its last refresh in notebooks: the bars draw it themselves."""
    console, screen = console_text()
    bars = ProgressBars(console, files=1)
    with bars:
        bars.handle(Started(0, "u0", Path("a"), 10))
        bars.handle(Advanced(0, 10))
        bars.handle(Finished(0, Result("u0", Path("a"), ok=True, size=10)))
    assert "1/1 files" in plain(screen).splitlines()[-1]


def test_in_a_notebook_no_thread_draws_and_events_redraw(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Jupyter, output from a thread is not tied to the cell (the widget could end on an
    empty frame, seen under load): rich's refresh thread stays off and events redraw."""
    frames: list[object] = []
    console = Console(file=io.StringIO(), width=100, force_jupyter=True)
    with ProgressBars(console, files=1) as bars:
        monkeypatch.setattr(bars._progress, "refresh", lambda: frames.append(None))
        assert bars._progress.live._refresh_thread is None
        bars.handle(Started(0, "u", Path("a"), 10))
        assert len(frames) == 1
        bars.handle(Advanced(0, 5))  # within the same eighth of a second: not redrawn
        assert len(frames) == 1
