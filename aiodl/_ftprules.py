"""FTP replies and paths: what a reply means and which server path a URL names.

Pure logic, no I/O. The driver sends commands; these functions read the answers, so the
rules that keep a hostile or broken server from steering us are tested without sockets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 21
# Answers that will not change on a retry: bad login, no such file, not permitted,
# command not understood or not implemented for this argument.
PERMANENT = frozenset({"501", "502", "504", "530", "532", "550", "553"})
_EPSV = re.compile(r"\((.)\1\1(\d{1,5})\1\)")
_PASV = re.compile(r"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_SIZE = re.compile(r"^\s*(\d+)\s*$")
# How servers word "you have too many sessions": 421 always, 530 only when it says so.
_LIMIT_WORDS = re.compile(r"too many|maximum|limit|connections from", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """Where an ``ftp://`` URL points: server, login, and the path to send in commands."""

    host: str
    port: int
    user: str
    password: str
    path: str

    @property
    def login(self) -> tuple[str, int, str, str]:
        """A pooled connection may serve any URL with the same server and credentials."""
        return (self.host, self.port, self.user, self.password)


def parse_target(url: str, auth: tuple[str, str] | None) -> Target:
    """The server, credentials (URL first, then ``auth``, then anonymous) and path.

    The path is relative to the login folder, as RFC 1738 and curl read it:
    ``ftp://host/pub/x`` is ``pub/x`` and ``ftp://host//srv/x`` is ``/srv/x``. A folder
    URL's trailing ``/`` is dropped.
    """
    parts = urlsplit(url)
    if parts.username:
        user, password = unquote(parts.username), unquote(parts.password or "")
    else:
        user, password = auth or ("anonymous", "anonymous@")
    path = unquote(parts.path, errors="surrogateescape").removeprefix("/")
    if path.endswith("/") and path != "/":
        path = path.rstrip("/")
    return Target(parts.hostname or "", parts.port or DEFAULT_PORT, user, password, path)


def parse_epsv_port(reply: str) -> int | None:
    """The port of a 229 reply, ``Entering Extended Passive Mode (|||6446|)``."""
    match = _EPSV.search(reply)
    if match is None:
        return None
    port = int(match.group(2))
    return port if 0 < port < 65536 else None


def parse_pasv_port(reply: str) -> int | None:
    """The port of a 227 reply, ``(h1,h2,h3,h4,p1,p2)``.

    Only the port is taken: the address is ignored and the data connection goes to the
    control connection's host, so a hostile server cannot aim us at a third party.
    """
    match = _PASV.search(reply)
    if match is None:
        return None
    high, low = int(match.group(5)), int(match.group(6))
    port = high * 256 + low
    return port if high < 256 and low < 256 and 0 < port < 65536 else None


def parse_size(reply: str) -> int | None:
    """The byte count of a 213 reply to ``SIZE``."""
    match = _SIZE.match(reply)
    return int(match.group(1)) if match else None


def is_connection_limit(code: str, text: str) -> bool:
    """True when a refused login means "too many connections", which waiting cures.

    421 is the standard answer; some servers send 530 with words to that effect instead.
    """
    return code == "421" or (code == "530" and _LIMIT_WORDS.search(text) is not None)


def is_unsupported(code: str) -> bool:
    """500/502 (and 504 for a parameter): the command is not implemented here."""
    return code in ("500", "502", "504")
