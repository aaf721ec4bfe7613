"""FTP directory listings: MLSD facts, Unix and DOS ``LIST`` lines, and NLST names.

Pure logic, no I/O. A listing is untrusted server output: a line that does not parse is
reported (``None``) rather than guessed at, names are kept exactly as sent (the tree walk
sanitises them before they touch the file system), and only MLSD's machine-readable
``modify`` fact yields a modification time: a ``LIST`` date is local to the server and
lacks seconds (or the year), so comparing it with a local file would be a guess.
"""

from __future__ import annotations

import calendar
import re

from ..entries import Entry, Kind

# MLSD types: cdir/pdir are the folder itself and its parent, never entries to walk.
_MLSD_KINDS: dict[str, Kind | None] = {"file": "file", "dir": "dir", "cdir": None, "pdir": None}
_MODIFY = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?$")
# -rw-r--r--   1 owner group    1234 Nov 23 12:00 name   (the group column is optional)
_UNIX = re.compile(
    r"^(?P<type>[-dlbcps])[-rwxsStTlL]{9}[.+@]?\s+\d+\s+(?:\S+\s+){1,2}?"
    r"(?P<size>\d{1,19})\s+[A-Za-z]{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$"
)
# 11-23-26  12:00PM       <DIR>          name    or    ...   1234 name
_DOS = re.compile(
    r"^\d{2}-\d{2}-\d{2,4}\s+\d{1,2}:\d{2}\s*(?:[AaPp][Mm])?\s+"
    r"(?:(?P<dir><DIR>)|(?P<size>\d{1,19}))\s+(?P<name>.+)$"
)
_UNIX_KINDS: dict[str, Kind] = {"-": "file", "d": "dir", "l": "link"}


def parse_mlsd_line(line: str) -> Entry | None:
    """One MLSD line (``fact=value;fact=value; name``, RFC 3659), or None.

    None for the folder's own ``cdir``/``pdir`` lines and for lines that do not parse.
    """
    facts_text, space, name = line.partition(" ")
    if not space or not name:
        return None
    facts: dict[str, str] = {}
    for fact in facts_text.split(";"):
        key, equals, value = fact.partition("=")
        if equals:
            facts[key.strip().lower()] = value
    kind = _mlsd_kind(facts.get("type", ""))
    if kind is None:
        return None
    return Entry(name, kind, _digits(facts.get("size")), parse_modify(facts.get("modify")))


def _mlsd_kind(value: str) -> Kind | None:
    lowered = value.lower()
    if lowered in _MLSD_KINDS:
        return _MLSD_KINDS[lowered]
    # OS.unix=slink:/target and OS.unix=symlink are how servers report links.
    if lowered.startswith("os.unix=slink") or lowered.startswith("os.unix=symlink"):
        return "link"
    return "other" if lowered else None


def parse_modify(value: str | None) -> float | None:
    """An MLSD ``modify`` fact (``YYYYMMDDHHMMSS[.sss]``, UTC) as epoch seconds, or None."""
    if value is None:
        return None
    match = _MODIFY.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = match.group(7)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def parse_list_line(line: str) -> Entry | None:
    """One ``LIST`` line in Unix (``ls -l``) or DOS/IIS format, or None if neither.

    A symlink's ``name -> target`` is reported as a link named ``name``.
    """
    unix = _UNIX.match(line)
    if unix is not None:
        kind = _UNIX_KINDS.get(unix["type"], "other")
        name = unix["name"]
        if kind == "link":
            name = name.split(" -> ", 1)[0]
        return Entry(name, kind, int(unix["size"]) if kind == "file" else None)
    dos = _DOS.match(line)
    if dos is not None:
        if dos["dir"]:
            return Entry(dos["name"], "dir")
        return Entry(dos["name"], "file", int(dos["size"]))
    return None


def is_list_preamble(line: str) -> bool:
    """``total 123``, which ``ls -l`` style listings print first, is not an entry."""
    return re.match(r"^total\s+\d+\s*$", line) is not None


def parse_list(lines: list[str]) -> list[Entry] | None:
    """Every entry of a ``LIST`` reply, or None if any line is in an unknown format.

    All or nothing: a listing half understood would silently skip files, so an unknown
    format makes the caller fall back to ``NLST`` for that folder.
    """
    entries = []
    for line in lines:
        if not line.strip() or is_list_preamble(line):
            continue
        entry = parse_list_line(line)
        if entry is None:
            return None
        if entry.name not in (".", ".."):
            entries.append(entry)
    return entries


def parse_mlsd(lines: list[str]) -> list[Entry]:
    """Every entry of an MLSD reply; unparsable lines are left out (they name nothing)."""
    return [entry for line in lines if (entry := parse_mlsd_line(line)) is not None]


def parse_mlst(reply: str) -> Entry | None:
    """The entry in an MLST reply's text: its one line that starts with a space."""
    for line in reply.splitlines():
        if line.startswith(" "):
            return parse_mlsd_line(line[1:])
    return None


def parse_nlst(lines: list[str]) -> list[str]:
    """Names from an ``NLST`` reply; some servers answer with ``folder/name`` paths."""
    names = []
    for line in lines:
        name = line.rsplit("/", 1)[-1]
        if name and name not in (".", ".."):
            names.append(name)
    return names


def split_lines(data: bytes) -> list[str]:
    """A listing's bytes as lines; bytes that are not UTF-8 survive as lone surrogates,
    which the name sanitiser turns into ``_`` instead of failing the whole listing."""
    text = data.decode("utf-8", errors="surrogateescape")
    return [line for line in re.split(r"\r?\n", text) if line]


class ListingLines:
    """A listing's bytes in, as they arrive; its complete lines out (see ``split_lines``),
    so a listing is parsed chunk by chunk and never held whole.

    Cut at line feeds, which no UTF-8 sequence contains, so each piece decodes alone. A line
    longer than ``MAX_LINE`` raises ValueError: no file name is that long.
    """

    MAX_LINE = 64 << 10

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[str]:
        data = self._tail + data
        end = data.rfind(b"\n") + 1
        self._tail = data[end:]
        if len(self._tail) > self.MAX_LINE:
            raise ValueError("folder listing line too long")
        return split_lines(data[:end])

    def end(self) -> list[str]:
        """The last line, if the listing did not end with a line break."""
        tail, self._tail = self._tail, b""
        return split_lines(tail)


def _digits(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None  # 19 digits: up to 2**63; a longer number is no size
    return int(value)
