"""HTTP rules that decide whether bytes and headers can be trusted.

Pure logic, no I/O: Content-Range checks, redirect policy (which headers survive a hop to
another origin), and masking of secrets before anything is logged or reported.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus, urljoin, urlsplit

from ..._exceptions import DownloadError

# At most 19 digits (2**63): a longer number is no offset, and int() refuses thousands.
_CONTENT_RANGE = re.compile(
    r"^\s*bytes\s+([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)\s*$", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
# Headers that carry credentials whatever the caller called them.
ALWAYS_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})
# Header and query-parameter names whose values are secrets (API keys, signatures,
# session ids, Akamai's hdnts tokens), as parts of a name...
_SECRET_NAMES = re.compile(
    r"pass|pwd|secret|token|key|sig|credential|auth|jwt|session|sessid|hdnts", re.IGNORECASE
)
# ...as whole names (an OAuth ``code``; "code" inside a name is mostly a zip or country
# code), and as a family (Google's ``X-Goog-`` headers carry keys, tokens and projects).
_SECRET_WHOLE_NAMES = frozenset({"code", "x-jfrog-art-api"})
_SECRET_PREFIXES = ("x-goog-",)
MASK = "***"
# scheme://authority, then the rest (path, query, fragment), as urlsplit cuts them.
_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)", re.DOTALL)
_BRACKETED = re.compile(r"\[[^\]]*\](:[0-9]*)?")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


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


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with default ports filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def redirect_url(current: str, location: str) -> str:
    """Resolve a Location header; refuse non-HTTP targets, HTTPS-to-HTTP downgrades and
    targets no request can be made to (no host, a bad port, a host name DNS refuses)."""
    try:
        target = urljoin(current, location.strip())
        scheme = urlsplit(target).scheme.lower()
    except ValueError:  # its text may quote the user-info: not repeated
        raise DownloadError(f"refusing malformed redirect target: {_BAD_IPV6}") from None
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing redirect to a {scheme or 'relative'} URL")
    if urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise DownloadError(f"refusing redirect from https to plain http: {mask_url(target)}")
    problem = url_problem(target, ("http", "https"))
    if problem is not None:
        raise DownloadError(f"refusing redirect to {mask_url(target)}: {problem}")
    return target


def url_problem(url: str, schemes: Collection[str]) -> str | None:
    """What makes ``url`` unusable before any request is made, or None: a scheme not in
    ``schemes``, no host, a port that is no number from 1 to 65535, a malformed IPv6
    literal, a host name the resolver would refuse (an empty or over-long label: the
    IDNA codec getaddrinfo uses raises UnicodeError for those, not a lookup failure)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # its text may quote the user-info: not repeated
        return _BAD_PORT if str(error).startswith("Port") else _BAD_IPV6
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        *others, last = [f"{name}://" for name in schemes]
        known = f"{', '.join(others)} or {last}" if others else last
        if not scheme:
            return f"it has no scheme (start it with {known})"
        return f"its scheme {scheme}:// is not one aiodl speaks ({known})"
    if port == 0:
        return _BAD_PORT
    return _host_problem(parts.netloc.rpartition("@")[2], parts.hostname)


_BAD_PORT = "its port is not a number from 1 to 65535"
_BAD_IPV6 = "its IPv6 address in brackets is malformed"


def _host_problem(hostport: str, host: str | None) -> str | None:
    if hostport.startswith("["):
        return None if _BRACKETED.fullmatch(hostport) else _BAD_IPV6
    if not host:
        return "it has no host name"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"its host name {host!r} has an empty or over-long label"
    return None


def redirect_headers(
    headers: Mapping[str, str], credentials: Iterable[str], current: str, target: str
) -> dict[str, str]:
    """The request headers that may follow a redirect from ``current`` to ``target``.

    Across origins, Authorization, Cookie and every header the caller marked as a credential
    (an API key header, say) are dropped: another host must not receive them.
    """
    if origin(current) == origin(target):
        return dict(headers)
    secret = ALWAYS_CREDENTIALS | {name.lower() for name in credentials}
    return {name: value for name, value in headers.items() if name.lower() not in secret}


def looks_secret(name: str) -> bool:
    """True for header or parameter names that conventionally carry secrets."""
    lowered = name.lower()
    return (
        _SECRET_NAMES.search(lowered) is not None
        or lowered in _SECRET_WHOLE_NAMES
        or lowered.startswith(_SECRET_PREFIXES)
    )


def mask_url(url: str) -> str:
    """``url`` with its user-info and secret-looking parameter values replaced by ``***``.

    ``user:password@`` keeps the user; a lone ``user@`` is masked whole, being where
    tokens are commonly put (curl sends it as a login). Parameters are masked in the
    query and the fragment (``&`` or ``;`` separated) and in path segments
    (``;jsessionid=``). Never raises: a URL too broken to parse is masked as text.
    """
    if not any(mark in url for mark in "@?#;="):
        return url  # nothing to mask; the common case, called for every file
    match = _AUTHORITY.fullmatch(url)
    prefix, authority, rest = match.groups() if match else ("", "", url)
    rest, hash_mark, fragment = rest.partition("#")
    path, question_mark, query = rest.partition("?")
    path = "/".join(_mask_params(segment, ";") for segment in path.split("/"))
    return (
        f"{prefix}{_mask_userinfo(authority)}{path}"
        f"{question_mark}{_mask_params(query, '&;')}{hash_mark}{_mask_params(fragment, '&;')}"
    )


def _mask_userinfo(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    if not userinfo:
        return authority
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}{at}{hostport}" if colon else f"{MASK}{at}{hostport}"


def _mask_params(text: str, separators: str) -> str:
    """``a=1&token=x`` with secret-looking values masked, the rest left as written;
    names are compared decoded (``%74oken`` is ``token`` to the server)."""
    if "=" not in text:
        return text
    pieces = re.split(f"([{separators}])", text)
    for number, piece in enumerate(pieces):
        name, equals, _ = piece.partition("=")
        if equals and looks_secret(unquote_plus(name)):
            pieces[number] = f"{name}={MASK}"
    return "".join(pieces)


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked: an exception's message may quote one."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group()), text)
