"""HTTP rules that decide whether bytes and a redirect can be trusted.

Pure logic, no I/O: Content-Range checks against the range asked for, and which redirect
targets are followed. Which headers survive a hop to another origin is a credentials
rule (``aiodl._credentials``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from ..._credentials import mask_url
from ..._exceptions import DownloadError
from ..._urls import MALFORMED_IPV6, url_problem

# At most 19 digits (2**63): a longer number is no offset, and int() refuses thousands.
_CONTENT_RANGE = re.compile(
    r"^\s*bytes\s+([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class ContentRange:
    """A parsed ``Content-Range: bytes start-last/total`` (``last`` inclusive)."""

    start: int
    last: int
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a satisfied-range Content-Range value; None if absent or malformed."""
    if value is None:
        return None
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    start, last, total = match.groups()
    parsed = ContentRange(int(start), int(last), None if total == "*" else int(total))
    if parsed.last < parsed.start or (parsed.total is not None and parsed.last >= parsed.total):
        return None
    return parsed


def range_matches(parsed: ContentRange | None, start: int, end: int | None) -> bool:
    """True when a 206's Content-Range is exactly the requested ``[start, end)``.

    ``end`` None means an open request (``bytes=start-``), which must run to the end of
    the file. Anything else is a server that does not honour ranges as asked, whose bytes
    must not be written at our offsets.
    """
    if parsed is None:
        return False
    if end is not None:
        return parsed.start == start and parsed.last == end - 1
    return parsed.start == start and parsed.total is not None and parsed.last == parsed.total - 1


def range_header(start: int, end: int | None) -> str:
    """The Range header value for ``[start, end)``; open-ended when ``end`` is None."""
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"


def redirect_url(current: str, location: str) -> str:
    """Resolve a Location header; refuse non-HTTP targets, HTTPS-to-HTTP downgrades and
    targets no request can be made to (no host, a bad port, a host name DNS refuses)."""
    try:
        target = urljoin(current, location.strip())
        scheme = urlsplit(target).scheme.lower()
    except ValueError:  # its text may quote the user-info: not repeated
        raise DownloadError(f"refusing malformed redirect target: {MALFORMED_IPV6}") from None
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing redirect to a {scheme or 'relative'} URL")
    if urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise DownloadError(f"refusing redirect from https to plain http: {mask_url(target)}")
    problem = url_problem(target, ("http", "https"))
    if problem is not None:
        raise DownloadError(f"refusing redirect to {mask_url(target)}: {problem}")
    return target


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    Returns None for a missing or malformed value, and 0.0 for a date in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    when = _http_date(text)
    if when is None:
        return None
    try:
        return max(0.0, (when - now).total_seconds())
    except OverflowError:
        return None


def parse_last_modified(value: str | None, now: datetime) -> float | None:
    """A ``Last-Modified`` value as epoch seconds, to give the saved file; None when it is
    missing, malformed or later than ``now`` (a server clock ahead must not date a file
    in the future, where every later copy would look older)."""
    when = None if value is None else _http_date(value.strip())
    if when is None or when > now:
        return None
    return when.timestamp()


def format_http_date(seconds: float) -> str:
    """Epoch seconds as an IMF-fixdate (``If-Modified-Since``), to the whole second."""
    return format_datetime(datetime.fromtimestamp(int(seconds), UTC), usegmt=True)


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
