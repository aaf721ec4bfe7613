"""Progress bars drawn with rich: one overall bar plus one per active large file.

Speeds and ETAs are measured here, not by rich: rich forgets a task's speed samples
whenever its total changes, and the overall total grows as files start, so its speed
read ~5x low. Sizes are binary (KiB, MiB), the unit ``--limit-rate`` speaks. An ETA is
shown only when it is known: bytes left over the speed once every file's size is known,
else files left over the file rate once their number is. rich throttles redraws itself
(``refresh_per_second``), draws on stderr only when it is a terminal, and renders as a
live widget in Jupyter.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection
from types import TracebackType

from rich import filesize
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from ._models import Advanced, Event, Failed, Finished, Request, Retried, Started
from ._terminal import printable
from ._urls import is_tree_url

# Files smaller than this finish too fast for their own bar to help anyone.
LARGE_FILE = 8 * 1024 * 1024
WINDOW = 5.0  # seconds of samples a speed is measured over
SAMPLE = 0.1  # at most one sample this often: a file's many small writes cost no memory
REDRAWS_PER_SECOND = 8


class Meter:
    """Bytes fetched, and their rate over the last WINDOW seconds."""

    def __init__(self, now: float) -> None:
        self.began = now
        self.total = 0
        self._samples: deque[tuple[float, int]] = deque([(now, 0)])

    def add(self, nbytes: int, now: float) -> None:
        self.total += nbytes
        if now - self._samples[-1][0] >= SAMPLE:
            self._samples.append((now, self.total))
        while len(self._samples) > 1 and now - self._samples[0][0] > WINDOW:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        since, fetched = self._samples[0]
        return (self.total - fetched) / (now - since) if now > since else 0.0

    def average(self, now: float) -> float:
        return self.total / (now - self.began) if now > self.began else 0.0


class _Measured(ProgressColumn):
    """A column that asks the bars for a task's speed or ETA."""

    def __init__(self, bars: ProgressBars, what: str) -> None:
        super().__init__()
        self._bars, self._what = bars, what

    def render(self, task: Task) -> Text:
        if self._what == "speed":
            rate = self._bars.rate(task.id)
            return Text(f"{binary(rate)}/s" if rate is not None else "", "progress.data.speed")
        eta = self._bars.eta(task.id)
        return Text(clock(eta) if eta is not None else "", "progress.remaining")


class ProgressBars:
    """Turns download events into rich progress bars; use as a context manager.

    ``files`` is how many files the run has, when known ahead (a list of URLs, an input
    file): the overall bar then says ``done/files`` and can give an ETA.
    """

    def __init__(self, console: Console | None = None, *, files: int | None = None) -> None:
        console = console or Console(stderr=True)
        # In a notebook the widget is redrawn from the loop's own events, never from rich's
        # refresh thread: output sent from another thread is not tied to the cell, so
        # the widget could end on an empty frame.
        self._redraw_on_events = console.is_jupyter
        self._drawn = 0.0
        self._progress = Progress(
            TextColumn("{task.description}", justify="left", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            _Measured(self, "speed"),
            _Measured(self, "eta"),
            console=console,
            auto_refresh=not self._redraw_on_events,
            refresh_per_second=REDRAWS_PER_SECOND,
            transient=False,
            redirect_stdout=False,  # stdout carries --json lines while the bars draw
        )
        self._files = files
        self._overall = self._progress.add_task("total", total=None)
        now = time.monotonic()
        self._meters: dict[TaskID, Meter] = {self._overall: Meter(now)}
        self._bars: dict[int, TaskID] = {}
        self._urls: dict[int, str] = {}  # of the active files, for their retry lines
        self._done = self._seen = self._bytes = self._reused = 0
        self._sizes_known = True
        self._stopped: float | None = None

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopped = time.monotonic()
        if kind is None:
            self._files = self._seen  # every source was drawn: the count is known now
        self._draw_overall()
        self._progress.refresh()  # the final frame: rich's Live skips it in notebooks
        self._progress.stop()

    def handle(self, event: Event) -> None:
        """Update the bars for one event."""
        if isinstance(event, Started):
            self._start(event)
        elif isinstance(event, Advanced):
            now = time.monotonic()
            self._meters[self._overall].add(event.nbytes, now)
            task = self._bars.get(event.index)
            if task is not None:
                self._meters[task].add(event.nbytes, now)
                self._progress.advance(task, event.nbytes)
        elif isinstance(event, Finished | Failed):
            self._finish(event)
        elif isinstance(event, Retried):
            self._say(f"retry {self._url(event)} in {event.delay:.1f} s: {event.reason}")
        self._draw_overall()
        if self._redraw_on_events:
            self._redraw()

    def _redraw(self) -> None:
        """At most REDRAWS_PER_SECOND frames, as rich's own thread draws them."""
        now = time.monotonic()
        if now - self._drawn >= 1 / REDRAWS_PER_SECOND:
            self._drawn = now
            self._progress.refresh()

    @property
    def tasks(self) -> list[Task]:
        """The bars: overall first, then one per active large file."""
        return list(self._progress.tasks)

    @property
    def summary(self) -> str:
        """Files done out of all files, or out of those seen so far while that is unknown
        (sources may be a lazy stream)."""
        if self._files is not None:
            return f"{self._done}/{self._files} files"
        running = self._seen - self._done
        return f"{self._done}/{self._seen} files" + (f" ({running} running)" if running else "")

    def rate(self, task: TaskID) -> float | None:
        """Bytes per second of a bar: over the last seconds, or the whole run once over."""
        meter = self._meters.get(task)
        if meter is None:
            return None
        if self._stopped is not None:
            return meter.average(self._stopped)
        return meter.rate(time.monotonic())

    def eta(self, task: TaskID) -> float | None:
        """Seconds left, when known."""
        if self._stopped is not None:
            return None
        bar = next((each for each in self._progress.tasks if each.id == task), None)
        rate = self.rate(task)
        if bar is not None and bar.total is not None and rate:
            return max(bar.total - bar.completed, 0) / rate
        if task == self._overall and self._files is not None and self._done:
            elapsed = time.monotonic() - self._meters[task].began
            return (self._files - self._done) * elapsed / self._done
        return None

    def _start(self, event: Started) -> None:
        self._seen += 1
        self._urls[event.index] = event.url
        if event.total is None:
            self._sizes_known = False
        self._bytes += event.total or 0
        self._reused += event.resumed  # shown as done from the start, never as speed
        if event.total is not None and event.total >= LARGE_FILE and self._files != 1:
            task = self._progress.add_task(
                printable(event.path.name), total=event.total, completed=event.resumed
            )
            self._bars[event.index] = task
            self._meters[task] = Meter(time.monotonic())

    def _draw_overall(self) -> None:
        """Bytes done (reused ones included) out of the run's bytes, once all are known."""
        known = self._files is not None and self._seen >= self._files and self._sizes_known
        self._progress.update(
            self._overall,
            total=self._bytes if known else None,
            completed=self._reused + self._meters[self._overall].total,
            description=self.summary,
        )

    def _finish(self, event: Finished | Failed) -> None:
        self._done += 1
        if self._urls.pop(event.index, None) is None:
            self._seen += 1  # skipped or refused before it started: count it once
        task = self._bars.pop(event.index, None)
        if task is not None:
            self._progress.remove_task(task)
            del self._meters[task]
        if not event.result.ok:
            self._say(f"failed {event.result.url}: {event.result.error}")

    def _say(self, line: str) -> None:
        """A line above the bars: server text as plain text (no markup, no escapes, no
        highlighting), without rich's log time and source location."""
        self._progress.console.print(Text(printable(line)), highlight=False)

    def _url(self, event: Retried) -> str:
        error_url = event.error.url if event.error is not None else None
        return error_url or self._urls.get(event.index, f"file {event.index}")


def count_of(sources: object) -> int | None:
    """How many files ``sources`` names, when that is known before drawing them: a
    collection without folder URLs (a folder holds an unknown number of files)."""
    if not isinstance(sources, Collection):
        return None
    urls = (source.url if isinstance(source, Request) else str(source) for source in sources)
    return None if any(is_tree_url(url) for url in urls) else len(sources)


def binary(size: float) -> str:
    """``1.5 MiB``: powers of 1024, as ``--limit-rate`` and aria2c count."""
    units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"]
    unit, suffix = filesize.pick_unit_and_suffix(int(size), units, 1024)
    return f"{size / unit:,.{0 if unit == 1 else 1}f} {suffix}"


def clock(seconds: float) -> str:
    """``0:01:05``."""
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02}:{whole % 60:02}"
