"""The command's flags as ``download_many`` options."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._config import tls_verify
from .parser import UsageError


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
        "cookies": args.cookie,
        "cookie_jar": args.cookie_jar,
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
