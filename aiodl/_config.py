"""Options, validated once into a frozen value object.

May import: aiodl._credentials, aiodl._models, aiodl._pacing, aiodl._urls
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from math import inf
from types import MappingProxyType
from typing import Any

from ._credentials import ALWAYS_CREDENTIALS, basic_auth_header, looks_secret
from ._models import Event
from ._pacing.retry import RetryPolicy
from ._urls import Resolve

MiB = 1024 * 1024
MAX_SHARD = 4  # 4 levels of 256 folders: far beyond any job
# Each connection is a descriptor, and so is each file being written: past Linux's default
# soft limit of 1024 open files they fail anyway (curl capped --parallel-max at 300 for
# years). ``per_host`` has the same bound: above ``connections`` it changes nothing.
MAX_CONNECTIONS = 1024
# Segments of one file, each its own connection: aria2c allows 16 per server (-x 1-16);
# 64 leaves room for mirrors without letting one file open hundreds of connections.
MAX_SPLIT = 64

BasicAuth = tuple[str, str]
"""``(user, password)`` for HTTP basic authentication."""

Auth = BasicAuth | Mapping[str, str]
"""Basic credentials, or credential headers such as ``{"X-JFrog-Art-Api": key}``."""

ProgressOption = bool | Callable[[Event], None]


def _frozen_headers() -> Mapping[str, str]:
    return MappingProxyType({})


def option(default: Any, doc: str, *, factory: bool = False) -> Any:
    """A Config field with its own doc text (``Config.doc``); ``factory`` when
    ``default`` is a callable that makes each instance's value."""
    if factory:
        return field(default_factory=default, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Config:
    """Every knob of a download run; ``download_many(**options)`` builds one of these.

    Each field says what it does in ``Config.doc(name)`` (its first sentence is also the
    CLI's help for the flag that sets it, so the two never disagree).
    """

    split: int = option(8, "Segments per file at most (1 to 64), each on a connection.")
    connections: int = option(16, "Connections at most, over the whole run (1 to 1024).")
    per_host: int = option(8, "Connections to any one host at most (1 to 1024).")
    retries: int = option(
        5, "Retries per request. A try that moved the file forward resets the count."
    )
    timeout: float = option(
        30.0,
        "Seconds a connect or a read may stall. It bounds connecting and each read, never "
        "the whole file: a 10 GiB file may take hours, but a socket silent this long is dead.",
    )
    headers: Mapping[str, str] = option(
        _frozen_headers, "Extra request headers, sent with every HTTP request.", factory=True
    )
    auth: Auth | None = option(
        None, "Basic credentials (user, password), or credential headers for HTTP."
    )
    overwrite: bool = option(False, "Download even if a complete file is already there.")
    max_redirects: int = option(10, "Redirects followed per request at most.")
    min_segment_size: int = option(1 * MiB, "Bytes a segment has at least.")
    backoff: float = option(0.5, "Seconds before the first retry; each next wait doubles.")
    backoff_cap: float = option(30.0, "Seconds one wait between retries lasts at most.")
    max_retry_wait: float = option(
        300.0,
        "Seconds of a server's Retry-After taken at most. A server asking for more fails "
        "the file instead of parking the run.",
    )
    sync: bool = option(
        True, "Flush each file to disk before its rename, so a power cut loses nothing."
    )
    verify: bool | ssl.SSLContext = option(
        True,
        "Check TLS certificates: against the system's CAs (True), with an SSLContext (a "
        "private CA), or not at all (False).",
    )
    progress: ProgressOption = option(
        False, "Progress bars (True), or a callable that gets every event."
    )
    include: tuple[str, ...] = option(
        (),
        "Glob patterns choosing the files of a folder URL's tree walk "
        "(``ftp://host/dir/``): a pattern with ``/`` matches the path below the folder, one "
        "without matches the file name.",
    )
    exclude: tuple[str, ...] = option(
        (), "Glob patterns of files a folder URL's tree walk leaves out (as ``include``)."
    )
    netrc: bool | str | os.PathLike[str] = option(
        False,
        "Logins (HTTP basic, FTP) from ``~/.netrc`` (True) or a netrc file, for hosts whose "
        "URL carries none when ``auth`` is not given.",
    )
    cookies: str | os.PathLike[str] | None = option(
        None,
        "A Netscape cookie file whose cookies the run starts with, as curl's -b FILE. "
        "Whatever the source, a server's cookies go back only where the cookie rules let "
        "them (host or domain, path, ``Secure``, expiry).",
    )
    cookie_jar: str | os.PathLike[str] | None = option(
        None,
        "A file the run's cookies are written to at its end, as curl's -c FILE. It is in "
        "Netscape format, session cookies included, readable by its owner only.",
    )
    checksums: str | os.PathLike[str] | None = option(
        None,
        "A SHA256SUMS-style file (a path or a URL) whose digests every file it lists must match.",
    )
    rate_limit: float | None = option(None, "Bytes per second the whole run takes at most.")
    host_rate_limit: float | None = option(
        None, "Bytes per second the run takes from any one host at most."
    )
    manifest: str | os.PathLike[str] | None = option(
        None,
        "A SQLite file recording every file's outcome across runs (``aiodl._disk.manifest``): "
        "a rerun skips done files without a request and gives a failed one ``max_attempts`` "
        "runs in all.",
    )
    max_size: int | None = option(
        None,
        "Bytes a file may have at most. A larger announced size fails the file, and a body "
        "of unknown length stops one byte past it: a server cannot fill the disk.",
    )
    min_speed: float | None = option(
        None,
        "Bytes per second below which a connection is replaced after a second (TooSlow, "
        "retried from the byte it reached); not applied while a rate limit holds back.",
    )
    max_attempts: int = option(3, "Runs a failed file gets, with a manifest.")
    shard: int = option(
        0,
        "Folders deep each file is put, named by two hex digits each of its path's sha256 "
        "(``dest/3f/a2/NAME`` for 2), so no folder of a million files holds more than a "
        "few thousand.",
    )
    resolve: Resolve | None = option(
        None,
        "An async ``resolve(host, port)`` returning a host's IP addresses in the order to "
        "try them (all are tried, Happy Eyeballs style), or raising ``socket.gaierror``; "
        "it replaces the system resolver, for tests or to pin a name as curl's "
        "``--resolve`` does.",
    )
    credential_headers: tuple[str, ...] = option(
        (),
        "More headers (any case) that carry credentials: like Authorization and every "
        "header whose name says key/token/secret, they never follow a redirect to another "
        "origin.",
    )

    @staticmethod
    def doc(name: str) -> str:
        """What the field ``name`` does."""
        found = {field.name: field for field in dataclasses.fields(Config)}[name]
        text: str = found.metadata["doc"]
        return text

    @staticmethod
    def default(name: str) -> Any:
        """The field ``name``'s default value."""
        return getattr(_DEFAULTS, name)

    def __post_init__(self) -> None:
        for name in ("split", "connections", "per_host", "max_redirects", "min_segment_size"):
            _require(name, getattr(self, name), minimum=1)
        _at_most("split", self.split, MAX_SPLIT)
        _at_most("connections", self.connections, MAX_CONNECTIONS)
        _at_most("per_host", self.per_host, MAX_CONNECTIONS)
        _require("max_attempts", self.max_attempts, minimum=1)
        _require("retries", self.retries, minimum=0)
        _require("shard", self.shard, minimum=0)
        if self.max_size is not None:
            _require("max_size", self.max_size, minimum=0)
        if self.shard > MAX_SHARD:
            raise ValueError(f"shard must be at most {MAX_SHARD}, got {self.shard}")
        positive = ["timeout", "backoff", "backoff_cap", "max_retry_wait"]
        optional = ("rate_limit", "host_rate_limit", "min_speed")
        positive += [name for name in optional if getattr(self, name) is not None]
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < inf:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        for name in ("include", "exclude"):
            object.__setattr__(self, name, _strings(name, getattr(self, name)))
        names = _strings("credential_headers", self.credential_headers, "header names")
        object.__setattr__(self, "credential_headers", names)
        _check_auth(self.auth)
        if not isinstance(self.verify, bool | ssl.SSLContext):
            raise TypeError("verify must be True, False or an ssl.SSLContext")
        if self.checksums is not None and not isinstance(self.checksums, str | os.PathLike):
            raise TypeError("checksums must be the path or URL of a SHA256SUMS-style file")
        if self.manifest is not None and not isinstance(self.manifest, str | os.PathLike):
            raise TypeError("manifest must be the path of a SQLite file")
        for name in ("cookies", "cookie_jar"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                raise TypeError(f"{name} must be the path of a Netscape cookie file")
        if not isinstance(self.netrc, bool | str | os.PathLike):
            raise TypeError("netrc must be True, False or the path of a netrc file")
        if self.resolve is not None and not callable(self.resolve):
            raise TypeError("resolve must be an async callable (host, port) -> IP addresses")
        if not isinstance(self.progress, bool) and not callable(self.progress):
            raise TypeError("progress must be True, False or a callable taking an event")

    @classmethod
    def build(cls, config: Config | None, options: Mapping[str, Any]) -> Config:
        """Merge keyword options over ``config`` (or the defaults); unknown names raise."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)}")
        return dataclasses.replace(config or cls(), **options)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff, self.backoff_cap, self.max_retry_wait)

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry ``auth``."""
        if self.auth is None:
            return {}
        if isinstance(self.auth, tuple):
            return basic_auth_header(*self.auth)
        return dict(self.auth)

    def credential_names(self) -> frozenset[str]:
        """Lower-case names of every header that must not leave the first origin."""
        names = {name.lower() for name in self.auth_headers()}
        names |= {name.lower() for name in self.headers if looks_secret(name)}
        names |= {name.lower() for name in self.credential_headers}
        return frozenset(names | ALWAYS_CREDENTIALS)


def tls_verify(cacert: str | None, insecure: bool) -> bool | ssl.SSLContext:
    """``verify`` from curl's flags: ``--cacert FILE`` trusts the CAs in that PEM file
    (instead of the system's, as in curl), ``-k/--insecure`` checks nothing."""
    if cacert is not None and insecure:
        raise ValueError("use either --cacert or --insecure, not both")
    if insecure:
        return False
    if cacert is None:
        return True
    try:
        return ssl.create_default_context(cafile=cacert)
    except (OSError, ValueError):  # missing, unreadable, or no certificate in it
        raise ValueError(f"--cacert {cacert}: no readable PEM CA certificate there") from None


def _require(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _at_most(name: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise ValueError(f"{name} must be an integer from 1 to {maximum}, got {value!r}")


def _strings(name: str, value: object, what: str = "glob patterns") -> tuple[str, ...]:
    """A tuple of strings; a lone string would otherwise be read letter by letter."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of {what}, got {value!r}")
    patterns = tuple(value)
    if not all(isinstance(pattern, str) and pattern for pattern in patterns):
        raise TypeError(f"{name} must hold non-empty strings, got {patterns!r}")
    return patterns


def _check_auth(auth: object) -> None:
    if auth is None or isinstance(auth, Mapping):
        return
    if isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(x, str) for x in auth):
        return
    raise TypeError("auth must be (user, password) or a mapping of credential headers")


_DEFAULTS = Config()
