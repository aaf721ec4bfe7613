"""Walking a remote tree: which folders to list next and which files to fetch.

Pure logic, no I/O (sans-IO, like h11): the engine asks ``next_folder`` for a folder to
list, does the listing itself, and hands the entries to ``listed``, which returns the
files to fetch and the entries refused. Files come out folder by folder while the walk
goes on, so the first download starts after the first listing, not after the last.

Every listed name is untrusted: it passes ``sanitize_listed_name`` before it becomes part
of a local path, symlinks are refused (a link can point anywhere on the server and loops
forever), and the depth and the number of folders are bounded so a hostile server cannot
walk us down, or across, without end.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

from .._disk.names import sanitize_listed_name
from .._exceptions import DownloadError, UnsafePathError
from .._protocols.entries import Entry, Listing

MAX_DEPTH = 64
# Folders one walk may list: a hostile tree of two subfolders per level would otherwise
# keep a run listing for ever (depth alone does not bound it: 2**64 folders).
MAX_FOLDERS = 100_000
_HERE = PurePosixPath()


@dataclass(frozen=True)
class Folder:
    """A remote folder still to list: its URL (ending in ``/``) and where it lands locally.

    ``relative`` is the path below the mirror's root; ``depth`` counts folders below it.
    """

    url: str
    relative: PurePosixPath
    depth: int = 0


@dataclass(frozen=True)
class Found:
    """A file to fetch: its URL, its local path below ``dest``, and what the listing said."""

    url: str
    path: PurePosixPath
    entry: Entry


@dataclass(frozen=True)
class Refused:
    """An entry that will not be fetched, with the reason as a DownloadError."""

    url: str
    error: DownloadError


def child_url(folder_url: str, name: str, *, folder: bool = False) -> str:
    """The URL of ``name`` inside ``folder_url``, percent-encoded so any byte survives."""
    encoded = quote(name.encode("utf-8", errors="surrogateescape"), safe="")
    return folder_url + encoded + ("/" if folder else "")


def wanted(relative: PurePosixPath, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a file passes the patterns: any ``include`` (all if none), no ``exclude``.

    A pattern with a ``/`` is matched against the path below the mirror's root
    (``2026/*/*.bz2``), one without against the file name alone (``*.bz2``). Matching is
    case-sensitive, as file names on FTP servers are.
    """

    def matches(pattern: str) -> bool:
        subject = relative.as_posix() if "/" in pattern else relative.name
        return fnmatch.fnmatchcase(subject, pattern)

    if include and not any(matches(pattern) for pattern in include):
        return False
    return not any(matches(pattern) for pattern in exclude)


class TreeWalk:
    """The state of one mirror: folders still to list, depth first, in listing order.

    ``base`` is the local folder below ``dest`` that the tree's contents land in.
    """

    def __init__(
        self,
        root_url: str,
        base: PurePosixPath = _HERE,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        self._base = base
        self._include = tuple(include)
        self._exclude = tuple(exclude)
        self._todo = [Folder(root_url, _HERE)]
        self._found_folders = 1  # found so far, the root included
        self._max_folders = MAX_FOLDERS
        self._cap_reached = False
        self.folders = self.files = self.matched = 0  # listed, files in them, files taken

    def next_folder(self) -> Folder | None:
        """The next folder to list, or None when the walk is complete."""
        return self._todo.pop() if self._todo else None

    def listed(self, folder: Folder, entries: Iterable[Entry]) -> list[Found | Refused]:
        """Take ``folder``'s entries: queue its subfolders, return its files and refusals.

        Entries are taken in name order, so results and the walk do not depend on the
        order a server happens to list them in.
        """
        out: list[Found | Refused] = []
        subfolders: list[Folder] = []
        seen: set[str] = set()
        self.folders += 1
        for entry in Listing.of(entries).by_name():
            self.files += entry.kind == "file"
            try:
                item = self._take(folder, entry, seen)
            except UnsafePathError as error:
                out.append(Refused(child_url(folder.url, entry.name), error))
                continue
            if isinstance(item, Folder):
                subfolders.append(item)
            elif item is not None:
                self.matched += 1
                out.append(item)
        kept = self._within_cap(subfolders)
        if len(kept) < len(subfolders) and not self._cap_reached:
            out.append(self._capped(subfolders[len(kept)]))
        self._todo.extend(reversed(kept))  # popped from the end: listing order
        return out

    def _within_cap(self, subfolders: list[Folder]) -> list[Folder]:
        """The subfolders that still fit under the walk's folder cap."""
        room = max(0, self._max_folders - self._found_folders)
        kept = subfolders[:room]
        self._found_folders += len(kept)
        return kept

    def _capped(self, first: Folder) -> Refused:
        """The one failure of a walk that reached its cap, told once (at ``first``, the
        first folder left out): the files found so far are still fetched."""
        self._cap_reached = True
        error = DownloadError(
            f"not listed: the walk reached its limit of {self._max_folders} folders; "
            "fetch the folders below it with URLs of their own"
        )
        return Refused(first.url, error)

    def _take(self, folder: Folder, entry: Entry, seen: set[str]) -> Found | Folder | None:
        """What ``entry`` becomes: a file to fetch, a folder to list, or nothing.

        ``seen`` holds the local names already given out in this folder: two remote names
        that sanitise to one local name must not both be written there.
        """
        name = sanitize_listed_name(entry.name)
        relative = folder.relative / name
        if name in seen:
            raise UnsafePathError(f"{relative}: another entry already maps to this name")
        seen.add(name)
        if entry.kind == "link":
            raise UnsafePathError(f"{relative}: refusing to follow a symlink entry")
        if entry.kind == "dir":
            if folder.depth + 1 > MAX_DEPTH:
                raise UnsafePathError(f"{relative}: deeper than {MAX_DEPTH} folders")
            url = child_url(folder.url, entry.name, folder=True)
            return Folder(url, relative, folder.depth + 1)
        if entry.kind != "file" or not wanted(relative, self._include, self._exclude):
            return None
        return Found(child_url(folder.url, entry.name), self._base / relative, entry)
