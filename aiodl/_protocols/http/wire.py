"""HTTP/1.1 on the wire, as pure functions: request bytes out, response heads in.

Sans-IO, like h11: the plain-HTTP driver sends what ``request`` builds and feeds what it
receives to ``HeadParser`` until a head is complete; ``framing`` then says how the body
is delimited. ``https://`` goes through the same transport (TLS under it), so both
schemes accept and refuse the same heads.

Everything a server sends is untrusted. Lenient where RFC 9112 lets a client be (and curl
is): a bare LF ends a line, obsolete line folding is unfolded, ``Transfer-Encoding:
identity`` means no coding, ``Content-Length: 42, 42`` is 42, zeros may pad a number.
Strict where leniency has been exploited (request smuggling): no NUL or bare CR in a
field, no Content-Length that disagree, none beside ``chunked``, no coding we cannot
undo, and bounded heads and trailers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from multidict import CIMultiDict, CIMultiDictProxy

from ..._exceptions import IntegrityError

MAX_HEAD = 64 << 10
MAX_FIELDS = 128
MAX_LENGTH = (1 << 63) - 1  # a file offset is a signed 64-bit number
_STATUS_LINE = re.compile(rb"^HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n\x00]*))?$")
_FIELD_NAME = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_HEAD_END = re.compile(rb"\n\r?\n")  # an empty line, LF or CRLF
_BLANK_LINES = re.compile(rb"(?:\r?\n)*")


class ProtocolError(ValueError):
    """The server's bytes are not a well-formed HTTP/1.1 response."""


def malformed(error: ProtocolError, url: str) -> IntegrityError:
    """A malformed response as the file's failure: not retried, since asking again gets
    the same answer (the caller masks ``url``)."""
    return IntegrityError(
        f"malformed response: {error}; retrying cannot help, the server must be fixed",
        url=url,
    )


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
    """Bytes in until a response head is complete; 1xx interim responses are skipped.

    Linear in its input: the search for the head's end resumes where the last one
    stopped, and each byte is appended to one buffer once (a head dripped a byte at a
    time is not copied over and over).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._searched = 0  # no head ends before this offset
        self._blank = 0  # empty lines skipped before the status line

    def feed(self, data: bytes) -> tuple[Head, bytes] | None:
        """The head and the bytes after it, once both are here; None until then."""
        buffer = self._buffer
        buffer += data
        while True:
            self._skip_blank_lines()
            end = _HEAD_END.search(buffer, self._searched)
            if end is None or end.start() > MAX_HEAD:
                if len(buffer) > MAX_HEAD:
                    raise ProtocolError(f"response head larger than {MAX_HEAD >> 10} KiB")
                self._searched = max(0, len(buffer) - 2)
                return None
            head = parse_head(bytes(buffer[: end.start()]))
            del buffer[: end.end()]
            self._searched = 0
            if not 100 <= head.status < 200:
                return head, bytes(buffer)

    def _skip_blank_lines(self) -> None:
        """Empty lines before a status line are ignored (as llhttp and curl do), within
        the head bound."""
        if self._searched:
            return
        skipped = _BLANK_LINES.match(self._buffer)
        assert skipped is not None  # it matches the empty string too
        if skipped.end():
            self._blank += skipped.end()
            if self._blank > MAX_HEAD:
                raise ProtocolError(f"response head larger than {MAX_HEAD >> 10} KiB")
            del self._buffer[: skipped.end()]


def parse_head(raw: bytes) -> Head:
    """A status line and header fields (without the empty line that ends them); each line
    ends with LF, and a CR before it is dropped (RFC 9112 section 2.2)."""
    status_line, *lines = (line.removesuffix(b"\r") for line in raw.split(b"\n"))
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    reason = (match.group(3) or b"").decode("latin-1")
    headers = header_fields(_unfolded(lines))
    return Head(int(match.group(2)), reason, headers, int(match.group(1)))


def _unfolded(lines: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
    """Field lines as (name, value); a line that starts with a space or tab continues the
    field before it, and the fold becomes one space (RFC 9112 section 5.2)."""
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not fields:  # RFC 9112 2.2: reject, or ignore; ignoring hides a field
                raise ProtocolError(f"whitespace before the first header field {line[:80]!r}")
            fields[-1][1].append(line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"malformed header field {line[:80]!r}")
        fields.append((name, [value.strip(b" \t")]))
    return [(name, b" ".join(parts)) for name, parts in fields]


def header_fields(fields: Iterable[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    """Raw (name, value) fields checked and decoded (latin-1: every byte kept as it came,
    the same on both transports); refused beyond the head bounds."""
    headers: CIMultiDict[str] = CIMultiDict()
    size = 0
    for name, value in fields:
        if not _FIELD_NAME.match(name):  # "Content-Length :" is not Content-Length
            raise ProtocolError(f"malformed header field {name[:80]!r}")
        if b"\x00" in value:
            raise ProtocolError(f"header {name.decode()} holds a NUL")
        if b"\r" in value or b"\n" in value:
            raise ProtocolError(f"header {name.decode()} holds a bare CR")
        size += len(name) + len(value) + 4
        if size > MAX_HEAD:
            raise ProtocolError(f"response head larger than {MAX_HEAD >> 10} KiB")
        if len(headers) == MAX_FIELDS:
            raise ProtocolError(f"more than {MAX_FIELDS} header fields")
        headers.add(name.decode("ascii"), value.strip(b" \t").decode("latin-1"))
    return CIMultiDictProxy(headers)


def field_text(value: str) -> str:
    """A field value (latin-1: each byte one character) read as text: UTF-8 where its
    bytes are valid UTF-8, as curl and browsers read file names and redirect targets."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not bytes as latin-1 (already text), or not UTF-8
        return value


def framing(head: Head) -> Framing:
    """How the body of a response to GET ends (RFC 9112 section 6.3), or ProtocolError
    for a head whose body cannot be told apart from what follows it."""
    if head.status in (204, 304):
        return "empty", None
    codings = _transfer_codings(head.headers)
    length = content_length(head.headers)
    if codings:
        if length is not None:  # RFC 9112 6.3: ought to be handled as an error
            raise ProtocolError("Content-Length beside Transfer-Encoding: chunked")
        return "chunked", None
    if length is not None:
        return "length", length
    return "close", None


def _transfer_codings(headers: CIMultiDictProxy[str]) -> list[str]:
    """``["chunked"]`` or nothing: ``identity`` (RFC 2616's no-op) is dropped, and any
    other coding, or ``chunked`` applied twice or not last, is refused."""
    codings = [
        token
        for value in headers.getall("Transfer-Encoding", [])
        for token in (part.strip(" \t").lower() for part in value.split(","))
        if token
    ]
    applied = [coding for coding in codings if coding != "identity"]
    if applied and (applied != ["chunked"] or codings[-1] != "chunked"):
        raise ProtocolError(f"unsupported transfer coding {', '.join(codings)[:80]!r}")
    return applied


def content_length(headers: CIMultiDictProxy[str]) -> int | None:
    """The Content-Length, None when absent. Repeated fields and comma lists must agree
    (RFC 9110 section 8.6); leading zeros are allowed, the value is bounded."""
    values = {
        _length(part) for field in headers.getall("Content-Length", []) for part in field.split(",")
    }
    if len(values) > 1:
        raise ProtocolError(f"disagreeing Content-Length values {sorted(values)[:4]}")
    return values.pop() if values else None


def _length(text: str) -> int:
    digits = text.strip(" \t")
    if not (digits.isascii() and digits.isdigit()):
        raise ProtocolError(f"invalid Content-Length {digits[:40]!r}")
    significant = digits.lstrip("0")
    # the digit count is checked first: int() of thousands of digits raises ValueError
    if len(significant) > 19 or int(significant or "0") > MAX_LENGTH:
        raise ProtocolError(f"Content-Length {digits[:40]} is beyond any file size")
    return int(significant or "0")


def keeps_alive(head: Head) -> bool:
    """Whether the connection may carry another request after this response's body."""
    tokens = {
        t.strip().lower() for v in head.headers.getall("Connection", []) for t in v.split(",")
    }
    if head.minor == 0:
        return "keep-alive" in tokens
    return "close" not in tokens


# A whole size line: the size (leading zeros, then at most 64 bits), optional spaces
# (llhttp allows them) and extensions, CRLF.
_SIZE_LINE = re.compile(rb"0*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n\x00]*)?\r\n")
_HEX_DIGITS = re.compile(rb"0*([0-9A-Fa-f]+)")


class ChunkedDecoder:
    """A chunked body (RFC 9112 section 7.1): wire bytes in, body bytes out.

    ``feed`` returns the body bytes in ``data`` (possibly split across calls) as one
    piece; ``done`` turns True after the last chunk and its trailer section. Linear in its
    input: an offset walks one buffer, a size line is one regex match, and the search for
    a trailer line's end resumes where it stopped. Chunk extensions and trailer fields
    are ignored; a size line is bounded, the trailer section like a head.
    """

    MAX_LINE = 1024

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0  # the first byte not yet decoded
        self._searched = 0  # no trailer line ends before this offset
        self._left = 0  # body bytes still due in the current chunk
        self._state: Literal["size", "data", "crlf", "trailers", "done"] = "size"
        self._trailers = 0  # bytes of the trailer section so far
        self._fields = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    @property
    def clean(self) -> bool:
        """Done, and nothing came after the body (the connection can carry another)."""
        return self.done and self._pos == len(self._buffer)

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        """The body bytes that ``data`` brings, as one piece (none if it brings none)."""
        self._compact()
        self._buffer += data
        out = bytearray()
        with memoryview(self._buffer) as view:
            self._decode(view, out)
        return [bytes(out)] if out else []

    def _decode(self, view: memoryview, out: bytearray) -> None:
        """Decode from the offset on, as far as the buffer goes. One pass of the loop
        takes a whole chunk (size line, data, CRLF) when it is all here; the state lives
        in locals meanwhile, since a body of one-byte chunks passes here per byte."""
        buffer, pos, left, state = self._buffer, self._pos, self._left, self._state
        end, size_line = len(buffer), _SIZE_LINE.match
        try:
            while pos < end and state != "done":
                if state == "size":
                    match = size_line(buffer, pos)
                    if match is None or match.end() - pos > self.MAX_LINE:
                        self._size_line_incomplete(pos)
                        break
                    left, pos = int(match.group(1), 16), match.end()
                    state = "data" if left else "trailers"
                if state == "data":
                    stop = min(end, pos + left)
                    out += view[pos:stop]
                    left, pos = left - (stop - pos), stop
                    if left:
                        break
                    state = "crlf"
                if state == "crlf":  # a bare LF ends the data too, as in llhttp
                    if buffer.startswith(b"\r\n", pos):
                        pos += 2
                    elif buffer.startswith(b"\n", pos):
                        pos += 1
                    elif pos == end or (end - pos == 1 and buffer[pos] == 0x0D):
                        break  # the line end is still coming
                    else:
                        raise ProtocolError("chunk data longer than its size")
                    state = "size"
                if state == "trailers":
                    self._pos, self._state = pos, state
                    if not self._trailer_line():
                        break
                    pos, state = self._pos, self._state
        finally:
            self._pos, self._left, self._state = pos, left, state

    def _size_line_incomplete(self, pos: int) -> None:
        """No valid size line at ``pos``: refused if its line has ended or is too long,
        else it is still arriving."""
        buffer = self._buffer
        end = buffer.find(b"\n", pos, pos + self.MAX_LINE + 1)
        if end < 0 and len(buffer) - pos <= self.MAX_LINE:
            return
        line = bytes(buffer[pos : end if end >= 0 else pos + 40])
        digits = _HEX_DIGITS.match(line)
        if digits is not None and len(digits.group(1)) > 16:
            raise ProtocolError(f"chunk size {line[:40]!r} is beyond 64 bits")
        if end < 0:
            raise ProtocolError("chunk size line too long")
        # as llhttp: a bare LF does not end a size line
        raise ProtocolError(f"invalid chunk size line {line[:40]!r}")

    def _trailer_line(self) -> bool:
        """Take one trailer line (LF or CRLF ended); the empty one ends the body."""
        buffer, pos = self._buffer, self._pos
        end = buffer.find(b"\n", max(pos, self._searched))
        if (end if end >= 0 else len(buffer)) - pos > MAX_HEAD - self._trailers:
            raise ProtocolError(f"chunk trailer section larger than {MAX_HEAD >> 10} KiB")
        if end < 0:
            self._searched = len(buffer)
            return False
        self._trailers += end + 1 - pos
        self._pos = end + 1
        if end == pos or (end == pos + 1 and buffer[pos] == 0x0D):
            self._state = "done"
        else:
            self._fields += 1
            if self._fields > MAX_FIELDS:
                raise ProtocolError(f"more than {MAX_FIELDS} chunk trailer fields")
        return True

    def _compact(self) -> None:
        """Drop the decoded bytes: at most an incomplete line (or, once done, what came
        after the body) is left."""
        if self._pos:
            del self._buffer[: self._pos]
            self._searched = max(0, self._searched - self._pos)
            self._pos = 0
