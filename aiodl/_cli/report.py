"""What the command tells a person and writes for a rerun: ``--json`` lines, the failed
list, the summary, what was kept after Ctrl-C, and setup errors in one sentence."""

from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from .._disk.journal import Journal
from .._models import Event, Listed, Request, Result
from .._terminal import printable
from .._urls import is_tree_url
from .inputs import input_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Tally:
    """What the command prints and writes as results stream in: ``--json`` lines (in the
    order files finish), the ``--failed-list`` file, and counts for the summary. It keeps
    the Requests still running (for the failed list) and the first failures, never every
    Result: a million-file run stays in flat memory."""

    SHOWN_FAILURES = 20

    def __init__(self, args: argparse.Namespace, failed_list: TextIO | None) -> None:
        self._args = args
        self._failed_list = failed_list
        self._running: dict[int, Request] = {}  # by input position
        self._listed: set[int] = set()  # folder URLs already in the failed list
        self.ok = self.failed = self.skipped = self.fetched = 0
        self.walks = self.listed = self.matched = 0  # folder URLs, files listed, matched
        self.resumed = Resumed()
        self.failures: list[str] = []

    def track(self, requests: Iterator[Request]) -> Iterator[Request]:
        for position, request in enumerate(requests):
            self._running[position] = request
            yield request

    def hear(self, event: Event) -> None:
        """Count what the walks of folder URLs listed and matched."""
        if isinstance(event, Listed):
            self.walks += 1
            self.listed += event.files
            self.matched += event.matched

    def add(self, result: Result) -> None:
        request = self._running.get(result.index)
        if request is not None and not is_tree_url(request.url):
            del self._running[result.index]  # one Result per plain URL; a folder has many
        if self._args.json:
            print(json.dumps(result_json(result)), flush=False)
        if result.ok:
            self.skipped += result.skipped
            self.ok += not result.skipped
            self.fetched += 0 if result.skipped else self.resumed.add(result)
            return
        self.failed += 1
        if len(self.failures) < self.SHOWN_FAILURES:
            self.failures.append(printable(f"  failed {result.url}: {result.error}"))
        if self._failed_list is not None and request is not None:
            self._list_failed(result.index, request)

    def _list_failed(self, position: int, request: Request) -> None:
        """Write the source as an input line that retries it with ``-i``: the URL as given
        (a token in it is needed to fetch it again) with its ``out=`` name. A folder goes
        in once however many of its files failed; a rerun skips the complete ones."""
        if position in self._listed:
            return
        if is_tree_url(request.url):
            self._listed.add(position)
        assert self._failed_list is not None
        self._failed_list.write(input_line(request))

    def summarize(self, seconds: float, out: TextIO) -> None:
        speed = self.fetched / seconds / 2**20 if seconds > 0 else 0.0
        print(
            f"{self.ok} ok, {self.failed} failed, {self.skipped} skipped{self.resumed}; "
            f"{self.fetched / 2**20:.1f} MiB in {seconds:.2f} s ({speed:.1f} MiB/s)"
            + self._walked(),
            file=out,
        )
        for line in self.failures:
            print(line, file=out)
        if self.failed > len(self.failures):
            print(f"  ... and {self.failed - len(self.failures)} more failed", file=out)

    def _walked(self) -> str:
        """``; 2000 listed, 0 matched --include '*.bz2'`` when patterns chose files."""
        args = self._args
        chosen = [f"--include {shlex.quote(p)}" for p in args.include]
        chosen += [f"--exclude {shlex.quote(p)}" for p in args.exclude]
        if not (self.walks and chosen):
            return ""
        return f"; {self.listed} listed, {self.matched} matched {' '.join(chosen)}"


class Resumed:
    """The summary's account of resumed files: how many, bytes fetched and reused."""

    def __init__(self) -> None:
        self.files = self.fetched = self.reused = 0

    def add(self, result: Result) -> int:
        """Count a saved file; returns the bytes this run fetched of it."""
        size = result.size or 0
        if not result.resumed:
            return size
        fetched = min(sum(result.delivered.values()), size)
        self.files += 1
        self.fetched += fetched
        self.reused += size - fetched
        return fetched

    def __str__(self) -> str:
        if not self.files:
            return ""
        return (
            f", {self.files} resumed ({self.fetched / 2**20:.1f} MiB fetched, "
            f"{self.reused / 2**20:.1f} MiB reused)"
        )


def result_json(result: Result) -> dict[str, Any]:
    return {
        "index": result.index,
        "url": result.url,
        "path": str(result.path) if result.path else None,
        "ok": result.ok,
        "error": str(result.error) if result.error else None,
        "size": result.size,
        "resumed": result.resumed,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 3),
        "delivered": dict(result.delivered),
        "unverified": result.unverified,
    }


def owner_only(path: str) -> TextIO:
    """``path`` opened for writing, created mode 0600 like the manifest: it holds the
    URLs as given, tokens and all (an existing file keeps its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    return open(fd, "w", encoding="utf-8")


def interrupted(dest: str) -> str:
    """What Ctrl-C left: the partial files whose bytes the journal keeps for a rerun."""
    import sqlite3  # only an interrupted run reads its journal here

    try:
        journal = Journal(Path(dest).resolve())
        kept = len(journal)
        journal.close()
    except (OSError, sqlite3.Error):
        kept = 0
    if not kept:
        return "interrupted; no partial file was kept"
    files = "file" if kept == 1 else "files"
    return f"interrupted: {kept} partial {files} kept; run the same command to resume"


def setup_error(error: OSError | ValueError, args: argparse.Namespace) -> str:
    """One sentence for a run that could not start: what is wrong and what to do, no errno."""
    if isinstance(error, ValueError):
        return str(error)
    name = str(error.filename or "")
    if isinstance(error, FileNotFoundError) and name == args.input_file:
        return f"no file {name}; check the path given to -i/--input-file"
    if isinstance(error, FileExistsError | NotADirectoryError):
        return f"{_in_the_way(name)} is a file, not a folder; pass -d a folder"
    if isinstance(error, PermissionError):
        return f"no permission to write {name}; choose another folder or change its permissions"
    if error.errno == errno.EROFS:
        return f"{name} is on a read-only file system; choose another folder"
    return f"cannot use {name}: {(error.strerror or str(error)).lower()}"


def _in_the_way(name: str) -> str:
    """The file that stands where ``name`` or one of its parent folders should be."""
    path = Path(name)
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            return str(place)
    return name
