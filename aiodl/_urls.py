"""URLs and hosts: the origin a URL belongs to, what makes one unusable before any request,
how its host and port are written, and how names become addresses (``Resolve``).

Pure logic, no I/O: the engine checks every URL here before a job starts, the HTTP
rules check every redirect target, and connections name their peer with ``authority``.

May import: nothing of aiodl
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_BRACKETED = re.compile(r"\[[^\]]*\](:[0-9]*)?")
BAD_PORT = "its port is not a number from 1 to 65535"
MALFORMED_IPV6 = "its IPv6 address in brackets is malformed"

Resolve = Callable[[str, int], Awaitable[Sequence[str]]]
"""``await resolve(host, port)``: the IP addresses of ``host``, in the order to try them;
``socket.gaierror`` when there are none."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with default ports filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def url_problem(url: str, schemes: Collection[str]) -> str | None:
    """What makes ``url`` unusable before any request is made, or None: a scheme not in
    ``schemes``, no host, a port that is no number from 1 to 65535, a malformed IPv6
    literal, a host name the resolver would refuse (an empty or over-long label: the
    IDNA codec getaddrinfo uses raises UnicodeError for those, not a lookup failure)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # its text may quote the user-info: not repeated
        return BAD_PORT if str(error).startswith("Port") else MALFORMED_IPV6
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        *others, last = [f"{name}://" for name in schemes]
        known = f"{', '.join(others)} or {last}" if others else last
        if not scheme:
            return f"it has no scheme (start it with {known})"
        return f"its scheme {scheme}:// is not one aiodl speaks ({known})"
    if port == 0:
        return BAD_PORT
    return _host_problem(parts.netloc.rpartition("@")[2], parts.hostname)


def _host_problem(hostport: str, host: str | None) -> str | None:
    if hostport.startswith("["):
        return None if _BRACKETED.fullmatch(hostport) else MALFORMED_IPV6
    if not host:
        return "it has no host name"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"its host name {host!r} has an empty or over-long label"
    return None


def is_literal(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def authority(host: str, port: int, default: int | None = None) -> str:
    """``host:port`` as a URL writes it: an IPv6 address in brackets, the port left out
    when it is ``default`` (the Host header of RFC 9110 section 7.2)."""
    name = f"[{host}]" if ":" in host else host
    return name if port == default else f"{name}:{port}"


def url_authority(url: str) -> str:
    """The ``host:port`` that ``url`` connects to, the port always written."""
    parts = urlsplit(url)
    return authority(parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 0))


def is_tree_url(url: str) -> bool:
    """A URL naming a folder to mirror: its path ends with ``/``."""
    return url.split("?", 1)[0].split("#", 1)[0].endswith("/")
