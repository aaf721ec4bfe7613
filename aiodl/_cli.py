"""The ``aiodl`` command: a thin layer that turns flags into ``download_many`` options.

Exit status: 0 when every file is ok, 1 when any failed, 2 for usage errors, 130 when
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._api import download_many
from ._models import Request, Result
from ._version import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command line that cannot be run as given."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodl",
        description="Download files over HTTP(S) and FTP: segmented, verified, safe. "
        "A URL ending in '/' (ftp://host/dir/) mirrors that folder's tree into --dir.",
    )
    add = parser.add_argument
    add("urls", nargs="*", metavar="URL", help="URLs to download")
    add("-i", "--input-file", metavar="FILE", help="read URLs from FILE ('-' for stdin)")
    add("-d", "--dir", default=".", help="destination folder (default: .)")
    add("-s", "--split", type=int, default=8, help="max segments per file (default: 8)")
    add("-j", "--connections", type=int, default=16, help="max connections (default: 16)")
    add("--per-host", type=int, default=8, help="max connections per host (default: 8)")
    add("--retries", type=int, default=5, help="retries per request (default: 5)")
    add("--timeout", type=float, default=30.0, help="connect/read timeout in s (default: 30)")
    add("-H", "--header", action="append", default=[], metavar="'K: V'", help="extra header")
    add("--user", metavar="USER[:PASS]", help="basic auth; prompts for PASS on a terminal")
    add("--api-key-header", metavar="NAME", help="send header NAME with $AIODL_API_KEY")
    add("--netrc", action="store_true", help="logins (HTTP basic, FTP) from ~/.netrc")
    add("--netrc-file", metavar="FILE", help="logins from FILE (netrc format)")
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
    add("--no-progress", action="store_true", help="no progress bars")
    add("-q", "--quiet", action="store_true", help="print nothing but errors")
    add("-v", "--verbose", action="store_true", help="log each request and retry")
    add("--version", action="version", version=f"aiodl {__version__}")
    return parser


def byte_rate(text: str) -> int:
    """``10M`` -> bytes per second; K, M and G are powers of 1024, as in curl and aria2c."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.strip(), re.IGNORECASE)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (use e.g. 500K or 10M)")
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


def sources(args: argparse.Namespace) -> list[Request]:
    requests = [Request(url) for url in args.urls]
    if args.input_file:
        if args.input_file == "-":
            requests.extend(read_input(iter(sys.stdin)))
        else:
            with open(args.input_file, encoding="utf-8") as handle:
                requests.extend(read_input(iter(handle)))
    if not requests:
        raise UsageError("no URLs given (pass URLs or -i FILE)")
    if args.checksum:
        if len(requests) != 1:
            raise UsageError("--checksum names the digest of one URL; use --checksums for many")
        requests = [dataclasses.replace(requests[0], checksum=args.checksum)]
    return requests


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
        "overwrite": args.overwrite,
        "include": args.include,
        "netrc": args.netrc_file or args.netrc,
        "checksums": args.checksums,
        "rate_limit": args.limit_rate,
        "host_rate_limit": args.host_limit_rate,
        "exclude": args.exclude,
        "sync": not args.no_sync,
        "progress": show_bars,
    }


def report(
    results: list[Result], requests: list[Request], seconds: float, args: argparse.Namespace
) -> None:
    """``--json`` lines on stdout, the failed list, and a summary on stderr."""
    if args.json:
        for result in results:
            print(json.dumps(result_json(result)), flush=False)
    if args.failed_list:
        Path(args.failed_list).write_text(failed_input(results, requests), encoding="utf-8")
    if not args.quiet:
        summarize(results, seconds, sys.stderr)


def failed_input(results: list[Result], requests: list[Request]) -> str:
    """The sources that failed, as an input file that retries them with ``-i``: each URL
    as given (a token in it is needed to fetch it again), with its ``out=`` name. A folder
    is listed once however many of its files failed; a rerun skips the complete ones."""
    failed = sorted({result.index for result in results if not result.ok})
    lines = []
    for index in failed:
        request = requests[index]
        urls = "\t".join((request.url, *request.mirrors))
        lines.append(f"{urls}\n" + (f"  out={request.path}\n" if request.path else ""))
    return "".join(lines)


def result_json(result: Result) -> dict[str, Any]:
    return {
        "url": result.url,
        "path": str(result.path) if result.path else None,
        "ok": result.ok,
        "error": str(result.error) if result.error else None,
        "size": result.size,
        "resumed": result.resumed,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 3),
        "sources": dict(result.sources),
    }


def summarize(results: list[Result], seconds: float, out: TextIO) -> None:
    failed = [r for r in results if not r.ok]
    skipped = sum(r.skipped for r in results)
    fetched = sum(r.size or 0 for r in results if r.ok and not r.skipped)
    speed = fetched / seconds / 2**20 if seconds > 0 else 0.0
    print(
        f"{len(results) - len(failed) - skipped} ok, {len(failed)} failed, {skipped} skipped; "
        f"{fetched / 2**20:.1f} MiB in {seconds:.2f} s ({speed:.1f} MiB/s)",
        file=out,
    )
    for result in failed:
        print(f"  failed {result.url}: {result.error}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="aiodl: %(message)s")
    try:
        requests, settings = sources(args), options(args)
        started = time.perf_counter()
        results = asyncio.run(download_many(requests, args.dir, **settings))
    except (UsageError, ValueError, OSError) as error:
        parser.print_usage(sys.stderr)
        print(f"aiodl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("aiodl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    report(results, requests, time.perf_counter() - started, args)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
