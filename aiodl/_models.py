"""Value objects that cross the public API: what to fetch, what happened, and progress.

May import: aiodl._digests, aiodl._exceptions
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ._digests import parse_checksum
from ._exceptions import DownloadError

_NONE: Mapping[str, int] = MappingProxyType({})  # shared: most Results name no mirrors


@dataclass(frozen=True, slots=True)
class Request:
    """One file to fetch.

    ``path`` is the target relative to ``dest`` (sanitised like any server-proposed name);
    without it the name comes from Content-Disposition, then from the URL. ``size``, when
    given, is checked against what the server reports. ``checksum`` (``"sha256:HEX"``;
    md5, sha1, sha256, sha512 or blake2b) is verified before the file is renamed into
    place. ``mirrors`` are more URLs (HTTP or FTP) of the same file: its segments are
    fetched from all of them at once, each by its speed.
    """

    url: str
    path: str | None = None
    headers: Mapping[str, str] | None = field(default=None, kw_only=True)
    checksum: str | None = field(default=None, kw_only=True)
    mirrors: Sequence[str] = field(default=(), kw_only=True)
    size: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise TypeError("Request.url must be a non-empty string")
        if self.headers is not None:
            object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "mirrors", tuple(self.mirrors))
        if self.checksum is not None:
            parse_checksum(self.checksum)  # a malformed one is the caller's bug: ValueError
        if self.size is not None and self.size < 0:
            raise ValueError("Request.size must be >= 0")


@dataclass(frozen=True, slots=True)  # slots: a run of millions keeps millions of these
class Result:
    """The outcome for one file. ``url`` is masked (no passwords or key values).

    ``ok`` False always comes with ``error``; ``path`` is where the file is (or would have
    been); ``skipped`` marks a complete file that was already there; ``resumed`` marks a
    download that reused bytes from an earlier run; ``seconds`` is how long this file
    took, from its turn to its end; ``index`` is the position of its source among the
    sources given (the files of a folder URL share their folder's); ``delivered`` tells
    how many bytes each of the file's URLs (its own and its mirrors, masked) delivered in
    this run;
    ``unverified`` marks a file nothing the user trusts has checked: its end only a
    closed connection marked (no length, no chunked end, no declared size, no checksum),
    so it may be cut short and nothing could tell; or a checksums file was given that
    has no line for it (and the request names no digest), which is also logged as a
    warning; or it was skipped by its size alone, the server telling no time, ETag or
    digest that could prove the copy there the same.
    """

    url: str
    path: Path | None
    ok: bool
    error: DownloadError | None = None
    size: int | None = None
    resumed: bool = False
    skipped: bool = False
    seconds: float = 0.0
    index: int = -1
    delivered: Mapping[str, int] = field(default_factory=lambda: _NONE)
    unverified: bool = False


@dataclass(frozen=True)
class Started:
    """A file's first response arrived; ``total`` is None when the size is unknown;
    ``resumed`` bytes of it were already on disk from an earlier run (no Advanced event
    counts them: they are not fetched now)."""

    index: int
    url: str
    path: Path
    total: int | None
    resumed: int = 0


@dataclass(frozen=True)
class Advanced:
    """``nbytes`` more bytes of file ``index`` were written."""

    index: int
    nbytes: int


@dataclass(frozen=True)
class Retried:
    """A request for file ``index`` failed and is tried again after ``delay`` seconds;
    ``error`` is what went wrong (``reason`` is its text)."""

    index: int
    reason: str
    delay: float
    error: DownloadError | None = None


@dataclass(frozen=True)
class Finished:
    """File ``index`` is done: saved, or skipped as already complete."""

    index: int
    result: Result


@dataclass(frozen=True)
class Failed:
    """File ``index`` failed; ``result.error`` says why."""

    index: int
    result: Result


@dataclass(frozen=True)
class Listed:
    """The walk of folder URL ``url`` (masked) is done: it listed ``folders`` folders
    holding ``files`` files, of which ``matched`` passed ``include``/``exclude`` and are
    fetched (their Results tell how that went)."""

    url: str
    folders: int
    files: int
    matched: int


Event = Started | Advanced | Retried | Finished | Failed | Listed


Sources = Iterable[str | Request] | AsyncIterable[str | Request]
"""What ``download_many`` takes: URL strings and Requests, from any (async) iterable."""


def as_request(source: str | Request) -> Request:
    """Accept a URL string or a Request; anything else is a caller's bug."""
    if isinstance(source, Request):
        return source
    if isinstance(source, str):
        return Request(source)
    raise TypeError(f"sources must be URL strings or aiodl.Request, got {type(source).__name__}")
