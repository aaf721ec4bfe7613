"""FTP replies and paths: what a reply means and which server path a URL names.

Pure logic, no I/O. The driver sends commands; these functions read the answers, so the
rules that keep a hostile or broken server from steering us are tested without sockets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..._credentials import Login, Logins, ftp_login

DEFAULT_PORT = 21
# Answers that will not change on a retry: bad login, no such file, not permitted,
# command not understood or not implemented for this argument.
PERMANENT = frozenset({"501", "502", "504", "530", "532", "550", "553"})
_EPSV = re.compile(r"\((.)\1\1(\d{1,5})\1\)")
_PASV = re.compile(r"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_SIZE = re.compile(r"^\s*(\d{1,19})\s*$")  # 2**63 at most
_PWD = re.compile(r'^\s*"((?:[^"]|"")*)"')
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


def parse_target(url: str, auth: Login | None, netrc: Logins = lambda host: None) -> Target:
    """The server, credentials and path.

    Credentials come from the URL, else ``auth``, else ``netrc(host)``, else anonymous
    (the order curl uses).

    The path is relative to the login folder, as RFC 1738 and curl read it:
    ``ftp://host/pub/x`` is ``pub/x`` and ``ftp://host//srv/x`` is ``/srv/x``. A folder
    URL's trailing ``/`` is dropped.
    """
    parts = urlsplit(url)
    user, password = ftp_login(url, auth, netrc)
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


def parse_pwd(reply: str) -> str | None:
    """The folder of a 257 reply, ``"/home/x" is the current directory`` (a ``"`` inside
    the name is doubled, RFC 959 appendix II)."""
    match = _PWD.match(reply)
    return match.group(1).replace('""', '"') if match and match.group(1) else None


def is_connection_limit(code: str, text: str) -> bool:
    """True when a refused login means "too many connections", which waiting cures.

    421 is the standard answer; some servers send 530 with words to that effect instead.
    """
    return code == "421" or (code == "530" and _LIMIT_WORDS.search(text) is not None)


def is_unsupported(code: str) -> bool:
    """500/502 (and 504 for a parameter): the command is not implemented here."""
    return code in ("500", "502", "504")


@dataclass(frozen=True)
class Reply:
    """One FTP reply: its three-digit code and its text (the lines of a multi-line reply
    joined with newlines)."""

    code: str
    text: str

    def is_a(self, expected: str) -> bool:
        """Whether the code starts with ``expected`` (``"2"``, ``"22"``, ``"227"``)."""
        return self.code.startswith(expected)


class ReplyParser:
    """Bytes from a control connection in, complete replies out (RFC 959 section 4.2).

    A multi-line reply starts ``123-`` and ends at a line ``123 ``. Anything that is not
    a reply (no code, or a line or reply too long) raises ValueError: the connection is
    then useless and is dropped. Every line of a reply counts against its limits, empty
    ones too (a line break is a byte, and a line is a line).
    """

    MAX_LINE = 64 << 10
    MAX_REPLY = 1 << 20
    MAX_LINES = 10_000  # a FEAT or a welcome banner is tens of lines

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[str] = []
        self._size = 0
        self._code = ""

    def feed(self, data: bytes) -> list[Reply]:
        buffer = self._buffer + data
        replies = []
        start = 0  # lines are cut by position: slicing the rest off each time was quadratic
        while (end := buffer.find(b"\n", start)) >= 0:
            raw = buffer[start:end]
            start = end + 1
            reply = self._line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
            if reply is not None:
                replies.append(reply)
        self._buffer = buffer[start:]
        if len(self._buffer) > self.MAX_LINE:
            raise ValueError("reply line too long")
        return replies

    def _line(self, line: str) -> Reply | None:
        if not self._code:
            code, mark, text = line[:3], line[3:4], line[4:]
            if not (code.isascii() and code.isdigit()) or mark not in ("", " ", "-"):
                raise ValueError(f"not an FTP reply: {line[:80]!r}")
            if mark != "-":
                return Reply(code, text)
            self._code, self._lines, self._size = code, [text], len(line) + 1
            return None
        if line[:3] == self._code and line[3:4] in ("", " "):
            reply = Reply(self._code, "\n".join([*self._lines, line[4:]]))
            self._code, self._lines = "", []
            return reply
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size > self.MAX_REPLY or len(self._lines) > self.MAX_LINES:
            raise ValueError("multi-line reply too long")
        return None
