"""The ``aiodl`` command: a thin layer that turns flags into ``download_many`` options.

``aiodl manifest FILE`` reads a job's manifest (``--failed`` lists its failures).

Exit status: 0 when every file is ok, 1 when any failed, 2 for usage errors, 130 when
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .._api import stream
from .._credentials import mask_url
from .._disk.manifest import Manifest
from .._models import Event, Request
from .._terminal import log_to_terminal, printable
from .inputs import count_sources, destination, input_line, sources
from .parser import UsageError, build_parser
from .report import Tally, interrupted, owner_only, setup_error
from .settings import options

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


async def run(
    requests: Iterator[Request],
    dest: str,
    settings: dict[str, Any],
    tally: Tally,
    files: int | None = None,
) -> None:
    """Download, handing each Result to the tally as its file finishes (and every event
    to the tally and the progress bars, if shown; the bars know the ``files``
    read ahead)."""
    with contextlib.ExitStack() as stack:
        bars = None
        if settings["progress"] is True:
            from .._progress import ProgressBars  # rich is imported only to draw bars

            bars = stack.enter_context(ProgressBars(files=files))

        def hear(event: Event) -> None:
            tally.hear(event)
            if bars is not None:
                bars.handle(event)

        settings = {**settings, "progress": hear}
        async with contextlib.aclosing(stream(tally.track(requests), dest, **settings)) as results:
            async for result in results:
                tally.add(result)


def manifest_command(argv: Sequence[str]) -> int:
    """``aiodl manifest FILE [--failed] [--export FILE]``: what a manifest records."""
    parser = argparse.ArgumentParser(
        prog="aiodl manifest", description="Show what a --manifest file records."
    )
    parser.add_argument("file", help="the manifest (SQLite) of a job")
    parser.add_argument(
        "--failed", action="store_true", help="list failed files: URL (masked), runs, last error"
    )
    parser.add_argument("--export", metavar="FILE", help="write failed files as an -i input file")
    args = parser.parse_args(argv)
    try:
        if not os.path.isfile(args.file):
            raise ValueError(f"no manifest at {args.file}")
        manifest = Manifest(args.file)
    except ValueError as error:
        print(f"aiodl manifest: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.export:
            with owner_only(args.export) as handle:
                handle.writelines(input_line(e.request()) for e in manifest.entries("failed"))
        if args.failed:
            for entry in manifest.entries("failed"):
                line = f"{mask_url(entry.url)}\t{entry.attempts}\t{printable(entry.reason)}"
                print(line, flush=False)
        elif not args.export:
            print(", ".join(f"{count} {state}" for state, count in manifest.counts().items()))
    finally:
        manifest.close()
    return EXIT_OK


def on_cluster(
    requests: Iterator[Request], args: argparse.Namespace, settings: dict[str, Any]
) -> int:
    """Run the job on Dask (``--scheduler``/``--dask-local``); the manifest holds the
    outcome of every file, so only the counts are printed."""
    if not args.manifest:
        raise UsageError("--scheduler and --dask-local run a --manifest job")
    if args.json or args.failed_list:
        raise UsageError("on a cluster, use 'aiodl manifest FILE --failed/--export' instead")
    if args.cacert:  # an SSLContext cannot be sent to the workers
        raise UsageError("--cacert is not supported with --scheduler/--dask-local yet")
    if not args.verbose:  # Dask's INFO lines, in this process and its workers
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    try:
        from ..distributed import download_on_dask
    except ImportError:
        need = "pip install 'aiodl-downloader[dask]'"
        raise UsageError(f"--scheduler and --dask-local need: {need}") from None
    options = {k: v for k, v in settings.items() if k not in ("manifest", "progress")}
    summary = download_on_dask(
        requests, destination(args), args.manifest,
        scheduler=args.scheduler, local_workers=args.dask_local, **options,
    )  # fmt: skip
    if not args.quiet:
        print(
            f"{summary.done} ok, {summary.failed} failed, {summary.skipped} skipped; "
            f"{summary.partitions} partitions in {summary.seconds:.2f} s",
            file=sys.stderr,
        )
        if summary.failed:
            print(f"  failures: aiodl manifest {args.manifest} --failed", file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manifest"]:
        return manifest_command(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    log_to_terminal(level)
    try:
        with contextlib.ExitStack() as files:
            requests, settings = sources(args), options(args)
            if args.scheduler or args.dask_local:
                return on_cluster(requests, args, settings)
            failed_list = None
            if args.failed_list:
                failed_list = files.enter_context(owner_only(args.failed_list))
            tally = Tally(args, failed_list)
            started = time.perf_counter()
            expected = count_sources(args) if settings["progress"] is True else None
            asyncio.run(run(requests, destination(args), settings, tally, expected))
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"aiodl: error: {printable(error)}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as error:  # not the command line's fault: no usage
        print(f"aiodl: error: {printable(setup_error(error, args))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"aiodl: {interrupted(destination(args))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        tally.summarize(time.perf_counter() - started, sys.stderr)
    return EXIT_FAILED if tally.failed else EXIT_OK
