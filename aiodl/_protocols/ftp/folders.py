"""FTP folders: whether a path is one (entering it), and what it holds (its listing).

A listing is read from its data connection and parsed as it arrives, a batch of lines at
a time with the event loop given back every few milliseconds, and bounded in bytes and
entries, so a folder of a million names (or a hostile endless one) costs bounded memory
and never stalls the transfers running beside it.

To know a folder exists, it is entered first (CWD, then back to the login folder): some
servers answer MLSD or LIST of a missing path with an empty listing and 226.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from ..._credentials import mask_url
from ..._exceptions import FTPError
from ..._network.sockcopy import SocketReader
from ..._network.turns import Turns
from ..entries import Entry, Listing
from .connection import Connection
from .control import Control, ReplyError
from .listing import ListingLines, parse_list, parse_mlsd, parse_nlst
from .wire import Reply, is_unsupported, parse_pwd

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
Passive = Callable[[Connection, list[str]], Awaitable[SocketReader]]
Stat = Callable[[Connection, str], Awaitable[tuple[int | None, float | None]]]

# Listing data is read this much at a time: each piece is split and decoded in one go.
BLOCK = 256 << 10
# A folder listing larger than this is a hostile server, not a folder (~2 million names).
MAX_LISTING = 256 << 20
# Entries taken from one listing: what bounds its memory (~200 bytes each) once parsed.
MAX_ENTRIES = 1_000_000
# Listing lines are parsed this many at a time, and the event loop is given back once
# PARSE_SLICE seconds of parsing have passed (a loaded machine took 0.1 s for 2000).
PARSE_BATCH = 100
PARSE_SLICE = 0.002


class RemoteFolders:
    """Enters and lists folders on logged-in connections, with ``passive`` (a data
    connection for a command) and ``stat`` (size and time of a path) from the driver."""

    def __init__(self, passive: Passive, stat: Stat) -> None:
        self._passive = passive
        self._stat = stat
        self._no_mlsd: set[tuple[str, int]] = set()

    async def check(self, connection: Connection, url: str, path: str) -> None:
        """Fail unless folder ``path`` can be entered (the login folder always can)."""
        entered = await self.enter(connection, path) if path else None
        if entered is not None and not entered.is_a("2"):
            raise FTPError(
                f"cannot enter the folder: FTP server answered {entered.code} "
                f"{entered.text.rstrip('.')}; check that it exists and that this login "
                "may read it",
                url=mask_url(url),
            )

    async def is_folder(self, connection: Connection, path: str) -> bool:
        """Whether ``path`` is a folder, asked only after RETR failed (550): never a
        round trip for a file that downloads."""
        if not (path and connection.control.settled):
            return False
        entered = await self.enter(connection, path)
        return entered is not None and entered.is_a("2")

    async def enter(self, connection: Connection, path: str) -> Reply | None:
        """The server's answer to entering ``path`` (CWD), leaving the connection in the
        login folder, where relative paths start; None if the server will not say where
        that is (PWD)."""
        control = connection.control
        if connection.home is None:
            reply = await control.command("PWD", "")
            connection.home = (parse_pwd(reply.text) if reply.is_a("257") else None) or ""
        if not connection.home:
            return None
        control.send(f"CWD {path}", f"CWD {connection.home}")
        entered, back = await control.reply(), await control.reply()
        if not back.is_a("2"):
            control.close()  # stuck in another folder: useless for relative paths
            raise ReplyError(back)
        return entered

    async def entries(self, connection: Connection, path: str) -> Listing:
        """The entries of folder ``path``: MLSD, else LIST, else NLST."""
        server = connection.server
        if server not in self._no_mlsd:
            entries = Listing()
            try:
                await self._listing(connection, "MLSD", path, parse_mlsd, entries)
                return entries
            except ReplyError as error:
                if not is_unsupported(error.reply.code):
                    raise
                self._no_mlsd.add(server)
        entries = Listing()
        if await self._listing(connection, "LIST", path, parse_list, entries):
            return entries
        names: list[str] = []
        await self._listing(connection, "NLST", path, parse_nlst, names)
        return Listing([await self._nlst_entry(connection, path, name) for name in names])

    async def _nlst_entry(self, connection: Connection, folder: str, name: str) -> Entry:
        """NLST gives names only: one that answers SIZE is a file, the rest are folders."""
        size, modified = await self._stat(connection, f"{folder}/{name}" if folder else name)
        return Entry(name, "dir") if size is None else Entry(name, "file", size, modified)

    async def _listing(
        self,
        connection: Connection,
        verb: str,
        path: str,
        parse: Callable[[list[str]], list[T] | None],
        found: Gathered[T],
    ) -> bool:
        """Add what ``parse`` makes of a listing command's lines to ``found`` as they
        arrive; False once a batch does not parse (a LIST in an unknown format)."""
        control = connection.control
        data = await self._passive(connection, [f"{verb} {path}".rstrip()])
        lines, pace, total, parsed = ListingLines(), Turns(PARSE_SLICE), 0, True
        try:
            Control.check(await control.reply(), "1")
            while chunk := await data.read(BLOCK):
                total += len(chunk)
                if total > MAX_LISTING:
                    raise FTPError(f"folder listing larger than {MAX_LISTING >> 20} MiB")
                if parsed:
                    parsed = await _parsed(lines.feed(chunk), parse, found, pace)
            parsed = parsed and await _parsed(lines.end(), parse, found, pace)
        finally:
            data.close()
        Control.check(await control.reply(), "2")
        return parsed


class Gathered(Protocol[T_contra]):
    """Where parsed listing lines go: a Listing of entries, or a list of names."""

    def extend(self, items: Iterable[T_contra], /) -> None: ...

    def __len__(self) -> int: ...


async def _parsed(
    lines: list[str],
    parse: Callable[[list[str]], list[T] | None],
    found: Gathered[T],
    pace: Turns,
) -> bool:
    """Add what ``parse`` makes of ``lines`` to ``found``, a batch at a time, giving the
    loop back every few milliseconds (a million entries parsed at once stalled every
    transfer for seconds); False at the first batch that does not parse."""
    for start in range(0, len(lines), PARSE_BATCH):
        batch = parse(lines[start : start + PARSE_BATCH])
        if batch is None:
            return False
        found.extend(batch)
        if len(found) > MAX_ENTRIES:
            raise FTPError(
                f"the folder listing has more than {MAX_ENTRIES} entries, too many to "
                "take in; fetch its files by their own URLs instead"
            )
        await pace.give()
    return True
