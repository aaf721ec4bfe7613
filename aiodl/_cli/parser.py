"""The ``aiodl`` command line: its flags, and the types that read their values (a bad value
names its flag, as argparse does)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

from .._config import MAX_CONNECTIONS, MAX_SHARD, MAX_SPLIT, Config
from .._version import __version__


class UsageError(Exception):
    """A command line that cannot be run as given."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodl",
        description="Download files over HTTP(S) and FTP: segmented, verified, safe. "
        "A URL ending in '/' (ftp://host/dir/) fetches that folder's whole tree into --dir.",
        epilog="aiodl manifest FILE [--failed] [--export FILE] shows what a --manifest job "
        "recorded (see aiodl manifest --help).",
    )
    add = parser.add_argument
    add("urls", nargs="*", metavar="URL", help="URLs to download")
    add("-i", "--input-file", metavar="FILE", help="read URLs from FILE ('-' for stdin)")
    add("-d", "--dir", default=".", help="destination folder (default: .)")
    add("-o", "--output", metavar="FILE", help="save the one URL as FILE (below --dir)")
    add("-s", "--split", type=integer(1, MAX_SPLIT), **configured("split"))
    add("-j", "--connections", type=integer(1, MAX_CONNECTIONS), **configured("connections"))
    add("--per-host", type=integer(1, MAX_CONNECTIONS), **configured("per_host"))
    add("--retries", type=integer(0), **configured("retries"))
    add("--timeout", type=seconds, **configured("timeout"))
    add("-H", "--header", action="append", default=[], metavar="'K: V'", help="extra header")
    add("--user", metavar="USER[:PASS]", help="basic auth; prompts for PASS on a terminal")
    add("--api-key-header", metavar="NAME", help="send header NAME with $AIODL_API_KEY")
    add("--credential-header", action="append", default=[], metavar="NAME",
        help="header NAME (-H) is a credential: never sent to another origin")  # fmt: skip
    add("--netrc", action="store_true", help="logins (HTTP basic, FTP) from ~/.netrc")
    add("--netrc-file", metavar="FILE", help="logins from FILE (netrc format)")
    add("-b", "--cookie", metavar="FILE", **configured("cookies"))
    add("-c", "--cookie-jar", metavar="FILE", **configured("cookie_jar"))
    add("--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM) for HTTPS")
    add("-k", "--insecure", action="store_true", help="do not check HTTPS certificates")
    add("--limit-rate", metavar="RATE", type=byte_rate, **configured("rate_limit", "500K, 10M"))
    add("--host-limit-rate", metavar="RATE", type=byte_rate, **configured("host_rate_limit"))
    add("--overwrite", action="store_true", help=configured("overwrite")["help"])
    add("--checksum", metavar="ALGO:HEX", help="expected digest of the one URL (sha256:...)")
    add("--checksums", metavar="FILE|URL", **configured("checksums"))
    add("--include", action="append", default=[], metavar="GLOB",
        help="in folder trees, fetch only matches")  # fmt: skip
    add("--exclude", action="append", default=[], metavar="GLOB",
        help="in folder trees, fetch no matches")  # fmt: skip
    add("--no-sync", action="store_true", help="skip fsync before rename (scratch data)")
    add("--json", action="store_true", help="print one JSON object per result on stdout")
    add("--failed-list", metavar="FILE", help="write failed URLs to FILE (input format)")
    add("--manifest", metavar="FILE", help="SQLite record of every file: reruns skip done ones")
    add("--max-attempts", type=integer(1), **configured("max_attempts"))
    add("--max-size", metavar="SIZE", type=byte_size, **configured("max_size", "500M, 2G"))
    add("--min-speed", metavar="RATE", type=byte_rate, **configured("min_speed", "50K"))
    add("--shard", type=integer(0, MAX_SHARD), metavar="N", **configured("shard"))
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


def configured(name: str, example: str = "") -> dict[str, Any]:
    """The default and help of the flag that sets ``Config``'s field ``name``: the
    field's first sentence, an ``example`` of a value, and the default when it has one.
    Written once, in Config, so the flag and the option never disagree."""
    text = Config.doc(name).split(". ")[0].rstrip(".")
    help_text = text[:1].lower() + text[1:]
    default = Config.default(name)
    if example:
        help_text += f", e.g. {example}"
    if default is not None and not isinstance(default, bool):
        help_text += f" (default: {default})"
    return {"default": default, "help": help_text}
