"""HTTP/1.1 on the wire, as pure functions: request bytes out, response heads in.

Sans-IO, like h11: the plain-HTTP driver sends what ``request`` builds and feeds what it
receives to ``HeadParser`` until a head is complete; ``framing`` then says how the body
is delimited. Everything a server sends is untrusted, so the parser is strict where
leniency has been exploited (request smuggling): no obsolete line folding, no NUL or
bare CR in a field, no duplicate Content-Length that disagree, no Content-Length beside
Transfer-Encoding, and bounded head sizes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from multidict import CIMultiDict, CIMultiDictProxy

MAX_HEAD = 64 << 10
MAX_FIELDS = 128
MAX_DIGITS = 19  # 2**63 has 19 digits: a longer number is no size (and int() of
# thousands of digits raises ValueError: Python caps str-to-int conversions)
_STATUS_LINE = re.compile(rb"^HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n\x00]*))?$")
_FIELD_NAME = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class ProtocolError(ValueError):
    """The server's bytes are not a well-formed HTTP/1.1 response head."""


@dataclass(frozen=True)
class Head:
    """A response's status line and fields; ``minor`` is 1 for HTTP/1.1, 0 for HTTP/1.0."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    minor: int


Framing = tuple[Literal["length"], int] | tuple[Literal["chunked", "close", "empty"], None]


def request(target: str, host: str, headers: Mapping[str, str]) -> bytes:
    """A GET request for ``target`` (path and query) on ``host`` (``name[:port]``)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if not _FIELD_NAME.match(name.encode("latin-1", errors="replace")):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value.encode("utf-8")):
            raise ValueError(f"header {name} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    if any(c in target for c in " \r\n\x00"):
        raise ValueError("request target holds a space, line break or NUL")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class HeadParser:
    """Bytes in until a response head is complete; 1xx interim responses are skipped."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> tuple[Head, bytes] | None:
        """The head and the bytes after it, once both are here; None until then."""
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise ProtocolError(f"response head larger than {MAX_HEAD >> 10} KiB")
                return None
            if end > MAX_HEAD:
                raise ProtocolError(f"response head larger than {MAX_HEAD >> 10} KiB")
            head = parse_head(self._buffer[:end])
            self._buffer = self._buffer[end + 4 :]
            if not 100 <= head.status < 200:
                return head, self._buffer


def parse_head(raw: bytes) -> Head:
    """A status line and header fields (without the blank line that ends them)."""
    status_line, *fields = raw.split(b"\r\n")
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    if len(fields) > MAX_FIELDS:
        raise ProtocolError(f"more than {MAX_FIELDS} header fields")
    headers: CIMultiDict[str] = CIMultiDict()
    for field in fields:
        name, colon, value = field.partition(b":")
        if not colon or not _FIELD_NAME.match(name):
            # a leading space or tab is obsolete line folding: refused, not unfolded
            raise ProtocolError(f"malformed header field {field[:80]!r}")
        if _BAD_VALUE.search(value):
            raise ProtocolError(f"header {name.decode()} holds a bare CR or NUL")
        headers.add(name.decode("ascii"), value.strip(b" \t").decode("latin-1"))
    reason = (match.group(3) or b"").decode("latin-1")
    return Head(int(match.group(2)), reason, CIMultiDictProxy(headers), int(match.group(1)))


def framing(head: Head) -> Framing:
    """How the body of a response to GET ends (RFC 9112 section 6.3)."""
    if head.status in (204, 304):
        return "empty", None
    encodings = head.headers.getall("Transfer-Encoding", [])
    lengths = set(head.headers.getall("Content-Length", []))
    if encodings:
        if lengths:
            raise ProtocolError("both Transfer-Encoding and Content-Length")
        codings = [c.strip().lower() for value in encodings for c in value.split(",")]
        if codings != ["chunked"]:
            raise ProtocolError(f"unsupported transfer coding {', '.join(codings)!r}")
        return "chunked", None
    if len(lengths) > 1:
        raise ProtocolError(f"conflicting Content-Length headers: {sorted(lengths)}")
    if lengths:
        value = lengths.pop().strip()
        if not (value.isascii() and value.isdigit()) or len(value) > MAX_DIGITS:
            raise ProtocolError(f"invalid Content-Length {value[:40]!r}")
        return "length", int(value)
    return "close", None


def keeps_alive(head: Head) -> bool:
    """Whether the connection may carry another request after this response's body."""
    tokens = {
        t.strip().lower() for v in head.headers.getall("Connection", []) for t in v.split(",")
    }
    if head.minor == 0:
        return "keep-alive" in tokens
    return "close" not in tokens


class ChunkedDecoder:
    """A chunked body (RFC 9112 section 7.1): wire bytes in, body bytes out.

    ``feed`` returns the body bytes in ``data`` (possibly split across calls); ``done``
    turns True after the last chunk and its trailer section. Chunk extensions are ignored;
    sizes, line lengths and the trailer section are bounded.
    """

    MAX_LINE = 1024

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # body bytes still due in the current chunk
        self._state: Literal["size", "data", "crlf", "trailers", "done"] = "size"
        self._trailers = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    @property
    def clean(self) -> bool:
        """Done, and nothing came after the body (the connection can carry another)."""
        return self.done and not self._buffer

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while self._buffer and self._state != "done":
            if self._state == "data":
                piece, self._buffer = self._buffer[: self._left], self._buffer[self._left :]
                out.append(piece)
                self._left -= len(piece)
                if not self._left:
                    self._state = "crlf"
                continue
            line = self._line()
            if line is None:
                break
            self._take(line)
        return out

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > self.MAX_LINE and self._state != "trailers":
                raise ProtocolError("chunk line too long")
            return None
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _take(self, line: bytes) -> None:
        if self._state == "crlf":
            if line:
                raise ProtocolError("chunk data longer than its size")
            self._state = "size"
        elif self._state == "size":
            size = line.split(b";", 1)[0].strip()
            if not size or len(size) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size):
                raise ProtocolError(f"invalid chunk size {line[:40]!r}")
            self._left = int(size, 16)
            self._state = "data" if self._left else "trailers"
        else:  # trailers: fields until an empty line, which ends the body
            self._trailers += len(line) + 2
            if self._trailers > MAX_HEAD:
                raise ProtocolError("chunk trailers too large")
            if not line:
                self._state = "done"
