"""The ``aiodl`` command: a thin layer that turns flags into ``download_many`` options.

``aiodl manifest FILE`` reads a job's manifest (``--failed`` lists its failures).

Exit status: 0 when every file is ok, 1 when any failed, 2 for usage errors, 130 when
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import itertools
import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from .._api import stream
from .._config import MAX_SHARD, tls_verify
from .._core.treewalk import is_tree_url
from .._credentials import mask_url
from .._disk.manifest import Manifest
from .._models import Event, Listed, Request, Result
from .._terminal import log_to_terminal, printable
from .._version import __version__
from .options import (
    Resumed,
    UsageError,
    count_sources,
    destination,
    integer,
    interrupted,
    seconds,
    setup_error,
    single_file,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodl",
        description="Download files over HTTP(S) and FTP: segmented, verified, safe. "
        "A URL ending in '/' (ftp://host/dir/) mirrors that folder's tree into --dir.",
        epilog="aiodl manifest FILE [--failed] [--export FILE] shows what a --manifest job "
        "recorded (see aiodl manifest --help).",
    )
    add = parser.add_argument
    add("urls", nargs="*", metavar="URL", help="URLs to download")
    add("-i", "--input-file", metavar="FILE", help="read URLs from FILE ('-' for stdin)")
    add("-d", "--dir", default=".", help="destination folder (default: .)")
    add("-o", "--output", metavar="FILE", help="save the one URL as FILE (below --dir)")
    add("-s", "--split", type=integer(1), default=8, help="max segments per file (default: 8)")
    add("-j", "--connections", type=integer(1), default=16, help="max connections (default: 16)")
    add("--per-host", type=integer(1), default=8, help="max connections per host (default: 8)")
    add("--retries", type=integer(0), default=5, help="retries per request (default: 5)")
    add("--timeout", type=seconds, default=30.0, help="connect/read timeout in s (default: 30)")
    add("-H", "--header", action="append", default=[], metavar="'K: V'", help="extra header")
    add("--user", metavar="USER[:PASS]", help="basic auth; prompts for PASS on a terminal")
    add("--api-key-header", metavar="NAME", help="send header NAME with $AIODL_API_KEY")
    add("--credential-header", action="append", default=[], metavar="NAME",
        help="header NAME (-H) is a credential: never sent to another origin")  # fmt: skip
    add("--netrc", action="store_true", help="logins (HTTP basic, FTP) from ~/.netrc")
    add("--netrc-file", metavar="FILE", help="logins from FILE (netrc format)")
    add("--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM) for HTTPS")
    add("-k", "--insecure", action="store_true", help="do not check HTTPS certificates")
    add("--limit-rate", metavar="RATE", type=byte_rate, help="bandwidth cap, e.g. 500K, 10M")
    add("--host-limit-rate", metavar="RATE", type=byte_rate, help="bandwidth cap per host")
    add("--overwrite", action="store_true", help="download even if a complete file exists")
    add("--checksum", metavar="ALGO:HEX", help="expected digest of the one URL (sha256:...)")
    add("--checksums", metavar="FILE|URL", help="SHA256SUMS-style file the files must match")
    add("--include", action="append", default=[], metavar="GLOB", help="mirror only matches")
    add("--exclude", action="append", default=[], metavar="GLOB", help="mirror no matches")
    add("--no-sync", action="store_true", help="skip fsync before rename (scratch data)")
    add("--json", action="store_true", help="print one JSON object per result on stdout")
    add("--failed-list", metavar="FILE", help="write failed URLs to FILE (input format)")
    add("--manifest", metavar="FILE", help="SQLite record of every file: reruns skip done ones")
    add("--max-attempts", type=integer(1), default=3, help="runs a failed file gets (default: 3)")
    add("--max-size", metavar="SIZE", type=byte_size, help="fail files larger, e.g. 2G")
    add("--min-speed", metavar="RATE", type=byte_rate, help="replace connections slower")
    add(
        "--shard",
        type=integer(0, MAX_SHARD),
        default=0,
        metavar="N",
        help="spread files N folders deep (0-4)",
    )
    add("--scheduler", metavar="ADDR", help="run the --manifest job on this Dask scheduler")
    add(
        "--dask-local",
        type=integer(1),
        metavar="N",
        help="run it on a local Dask cluster of N workers",
    )
    add("--no-progress", action="store_true", help="no progress bars")
    add("-q", "--quiet", action="store_true", help="print nothing but errors")
    add("-v", "--verbose", action="store_true", help="log each request and retry")
    add("--version", action="version", version=f"aiodl {__version__}")
    return parser


def byte_rate(text: str) -> int:
    """``10M`` -> bytes per second; K, M and G are powers of 1024, as in curl and aria2c."""
    return _bytes(text, "rate", "500K or 10M")


def byte_size(text: str) -> int:
    """``2G`` -> bytes; K, M and G are powers of 1024."""
    return _bytes(text, "size", "500M or 2G")


def _bytes(text: str, what: str, example: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.strip(), re.IGNORECASE)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r} (use e.g. {example})")
    power = " KMG".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


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


def parse_headers(values: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"header {value!r} is not 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


def auth_option(args: argparse.Namespace) -> tuple[str, str] | dict[str, str] | None:
    if args.user and args.api_key_header:
        raise UsageError("use either --user or --api-key-header, not both")
    if args.api_key_header:
        key = os.environ.get("AIODL_API_KEY")
        if not key:
            raise UsageError("--api-key-header needs the key in $AIODL_API_KEY")
        return {args.api_key_header: key}
    if args.user:
        user, colon, password = args.user.partition(":")
        if not colon:
            if not sys.stdin.isatty():
                raise UsageError("--user without :PASS needs a terminal to prompt")
            password = getpass.getpass(f"password for {user}: ")
        return (user, password)
    return None


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


def options(args: argparse.Namespace) -> dict[str, Any]:
    show_bars = not (args.no_progress or args.quiet) and sys.stderr.isatty()
    return {
        "split": args.split,
        "connections": args.connections,
        "per_host": args.per_host,
        "retries": args.retries,
        "timeout": args.timeout,
        "headers": parse_headers(args.header),
        "auth": auth_option(args),
        "verify": tls_verify(args.cacert, args.insecure),
        "overwrite": args.overwrite,
        "include": args.include,
        "netrc": args.netrc_file or args.netrc,
        "checksums": args.checksums,
        "rate_limit": args.limit_rate,
        "host_rate_limit": args.host_limit_rate,
        "exclude": args.exclude,
        "sync": not args.no_sync,
        "progress": show_bars,
        "manifest": args.manifest,
        "max_attempts": args.max_attempts,
        "shard": args.shard,
        "max_size": args.max_size,
        "min_speed": args.min_speed,
        "credential_headers": args.credential_header,
    }


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


def input_line(request: Request) -> str:
    """``request`` in the input file format: its URLs TAB-separated, then its name."""
    urls = "\t".join((request.url, *request.mirrors))
    return f"{urls}\n" + (f"  out={request.path}\n" if request.path else "")


def owner_only(path: str) -> TextIO:
    """``path`` opened for writing, created mode 0600 like the manifest: it holds the
    URLs as given, tokens and all (an existing file keeps its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    return open(fd, "w", encoding="utf-8")


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
