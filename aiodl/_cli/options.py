"""Command-line options of ``aiodl`` that need more than argparse (the one-file flags
``-o`` and ``--checksum``, where the run's files go, how many there are) and what the
command tells of resuming."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import os
from collections.abc import Callable
from pathlib import Path

from .._core.treewalk import is_tree_url
from .._disk.journal import Journal
from .._models import Request, Result


class UsageError(Exception):
    """A command line that cannot be run as given."""


def single_file(request: Request, args: argparse.Namespace) -> Request:
    """The one URL with what ``--checksum`` and ``-o NAME`` say of it."""
    path = os.path.basename(args.output) if args.output else request.path
    return dataclasses.replace(request, checksum=args.checksum or request.checksum, path=path)


def destination(args: argparse.Namespace) -> str:
    """The folder of the run: ``-d``, or the folder part of ``-o DIR/NAME`` below it."""
    if not args.output:
        return str(args.dir)
    if not os.path.basename(args.output):
        raise UsageError(f"-o/--output names a file, not a folder: {args.output!r}")
    return os.path.join(str(args.dir), os.path.dirname(str(args.output)))


def count_sources(args: argparse.Namespace) -> int | None:
    """How many files the command line and its ``-i`` file name, read ahead so the
    progress bars know the total; None for stdin or a folder URL (of unknown size)."""
    if args.input_file == "-":
        return None
    urls = list(args.urls)
    if args.input_file:
        with open(args.input_file, encoding="utf-8") as lines:
            urls += [line.split("\t", 1)[0].strip() for line in lines if _is_url_line(line)]
    return None if any(is_tree_url(url) for url in urls) else len(urls)


def _is_url_line(line: str) -> bool:
    """An input line that starts a source: not blank, a comment or an indented option."""
    return bool(line.strip()) and not line[0].isspace() and not line.startswith("#")


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


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in bounds, else an error argparse prefixes with
    the flag's name (``argument -s/--split: must be an integer >= 1``)."""

    def parse(text: str) -> int:
        value = int(text) if text.strip().lstrip("+-").isdigit() else None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}, got {text!r}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


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
