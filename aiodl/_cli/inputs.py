"""What the command downloads: URLs from the command line and ``-i`` files (aria2's input
format, read lazily), the one-file flags ``-o`` and ``--checksum``, and where files go."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from .._models import Request
from .._urls import is_tree_url
from .parser import UsageError


def read_input(lines: Iterator[str]) -> Iterator[Request]:
    """Requests from an aria2-style input file.

    One URL per line, or several separated by TABs: mirrors of one file; blank lines and
    ``#`` comments are skipped; an indented ``out=NAME`` line under a URL names its file
    (relative to ``--dir``).
    """
    url: str | None = None
    path: str | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            key, _, value = line.strip().partition("=")
            if url is None or key != "out":
                raise UsageError(f"unexpected option line {line.strip()!r}")
            path = value
            continue
        if url is not None:
            yield _request(url, path)
        url, path = line.strip(), None
    if url is not None:
        yield _request(url, path)


def _request(line: str, path: str | None) -> Request:
    url, *mirrors = [part.strip() for part in line.split("\t") if part.strip()]
    return Request(url, path, mirrors=mirrors)


def sources(args: argparse.Namespace) -> Iterator[Request]:
    """The Requests of the command line, then of ``-i``, read lazily: an input file of a
    million lines is never held in memory. Raises UsageError when there are none."""
    requests = itertools.chain((Request(url) for url in args.urls), _input_file(args.input_file))
    first = next(requests, None)
    if first is None:
        raise UsageError("no URLs given (pass URLs or -i FILE)")
    if args.checksum or args.output:
        if next(requests, None) is not None:
            raise UsageError(
                "--checksum names the digest of one URL; use --checksums for many"
                if args.checksum
                else "-o/--output names the file of one URL; use -d DIR for many"
            )
        return iter([single_file(first, args)])
    return itertools.chain([first], requests)


def _input_file(name: str | None) -> Iterator[Request]:
    """The Requests of ``-i``; the file is opened now, so a missing one is told before
    anything is downloaded, not once the URLs before it are."""
    if name == "-":
        return read_input(iter(sys.stdin))
    if not name:
        return iter(())
    return _lines_of(open(name, encoding="utf-8"))  # closed by _lines_of


def _lines_of(handle: TextIO) -> Iterator[Request]:
    with handle:
        yield from read_input(iter(handle))


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


def input_line(request: Request) -> str:
    """``request`` in the input file format: its URLs TAB-separated, then its name."""
    urls = "\t".join((request.url, *request.mirrors))
    return f"{urls}\n" + (f"  out={request.path}\n" if request.path else "")
