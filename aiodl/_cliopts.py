"""Command-line options of ``aiodl`` that need more than argparse: the one-file flags
(``-o``, ``--checksum``) and where the run's files go."""

from __future__ import annotations

import argparse
import dataclasses
import os

from ._models import Request


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
