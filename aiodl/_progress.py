"""Progress bars drawn with rich: one overall bar plus one per active large file.

rich throttles redraws itself (``refresh_per_second``), draws on stderr only when it is a
terminal, and renders as a live widget in Jupyter.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from ._models import Advanced, Event, Failed, Finished, Retried, Started
from ._terminal import printable

# Files smaller than this finish too fast for their own bar to help anyone.
LARGE_FILE = 8 * 1024 * 1024


class ProgressBars:
    """Turns download events into rich progress bars; use as a context manager."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", justify="left", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            refresh_per_second=8,
            transient=False,
            redirect_stdout=False,  # stdout carries --json lines while the bars draw
        )
        self._overall = self._progress.add_task("total", total=0)
        self._files: dict[int, TaskID] = {}
        self._active: set[int] = set()  # started, not finished: bounded by concurrency
        self._urls: dict[int, str] = {}  # of the active files, for their retry lines
        self._done = 0
        self._started = 0

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def handle(self, event: Event) -> None:
        """Update the bars for one event."""
        if isinstance(event, Started):
            self._started += 1
            self._urls[event.index] = event.url
            self._active.add(event.index)
            # The overall bar counts what this run fetches; bytes resumed from disk are
            # neither work nor speed.
            total = self._progress.tasks[self._overall].total or 0
            fetch = (event.total or 0) - event.resumed
            self._progress.update(self._overall, total=total + fetch)
            if event.total is not None and event.total >= LARGE_FILE:
                self._files[event.index] = self._progress.add_task(
                    event.path.name, total=event.total, completed=event.resumed
                )
        elif isinstance(event, Advanced):
            self._progress.advance(self._overall, event.nbytes)
            if event.index in self._files:
                self._progress.advance(self._files[event.index], event.nbytes)
        elif isinstance(event, Finished | Failed):
            self._finish(event)
        elif isinstance(event, Retried):
            self._say(f"retry {self._url(event)} in {event.delay:.1f} s: {event.reason}")
        self._progress.update(self._overall, description=self.summary)

    @property
    def tasks(self) -> list[Task]:
        """The bars: overall first, then one per active large file."""
        return list(self._progress.tasks)

    @property
    def summary(self) -> str:
        """Files done out of files seen so far (sources may be a lazy stream)."""
        return f"{self._done}/{self._started} files"

    def _finish(self, event: Finished | Failed) -> None:
        self._done += 1
        if event.index in self._active:
            self._active.discard(event.index)
        else:
            self._started += 1  # skipped or refused before it started: count it once
        self._urls.pop(event.index, None)
        task = self._files.pop(event.index, None)
        if task is not None:
            self._progress.remove_task(task)
        if not event.result.ok:
            self._say(f"failed {event.result.url}: {event.result.error}")

    def _say(self, line: str) -> None:
        """A line above the bars: server text as plain text (no markup, no escapes, no
        highlighting), without rich's log time and source location."""
        self._progress.console.print(Text(printable(line)), highlight=False)

    def _url(self, event: Retried) -> str:
        error_url = event.error.url if event.error is not None else None
        return error_url or self._urls.get(event.index, f"file {event.index}")
