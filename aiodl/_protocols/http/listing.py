"""An HTML index page (apache's, nginx's, lighttpd's autoindex, python's http.server) read
as the entries of one folder.

Pure logic, no I/O (sans-IO): ``IndexPage`` is fed the page's bytes as they arrive and
gives a ``Listing``. The stdlib ``html.parser`` reads the markup; this module only decides
which links are entries. A link is an entry when, resolved against the page's URL
(``urljoin``, which also removes ``.`` and ``..`` segments), it names something directly
inside the folder: same scheme, host and port, no query, one more path segment. Ending in
``/`` makes it a folder. Everything else is not the folder's: parents (``../``), the page
itself and its sort links (``?C=N;O=D``), anchors, absolute paths elsewhere, other
hosts, ports and schemes, ``mailto:`` and ``javascript:``. So a walk only ever goes down:
a page linking to itself or to an ancestor cannot send it round in circles.

Names are percent-decoded (bytes that are not UTF-8 survive as lone surrogates, so the
walk's URL for the entry is the server's own bytes again); a decoded name that is ``.``,
``..`` or holds a ``/`` (``%2e%2e/``, ``a%2Fb``) would reach elsewhere, so it is left out
too. The walk then gives every name the same checks an FTP listing's names get.

Sizes and dates that index pages show as text are not read: they are rounded (``1.2M``),
in the server's time zone, or missing; each file's own response tells its size.

A hostile page is bounded: in links taken (``MAX_LINKS``) and in markup the parser holds
unfinished (``MAX_PENDING``). ``html.parser`` scans an unfinished tag again on each
``feed``; text is handed to it only in pieces at least as long as what it still holds, so
that rescanning stays linear in the page's size.
"""

from __future__ import annotations

import codecs
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from ..._exceptions import DownloadError
from ..._urls import origin
from ..entries import Entry, Kind, Listing

MAX_LINKS = 1_000_000  # entries taken from one page, as for an FTP listing
MAX_PENDING = 256 << 10  # one tag, comment or attribute longer than this is no listing
SLICE = 16 << 10  # text is handed to the parser at least this much at a time
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_html(content_type: str | None) -> bool:
    """Whether a Content-Type names an HTML page (parameters and case aside)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in HTML_TYPES


def charset(content_type: str | None) -> str:
    """The page's text encoding from its Content-Type, UTF-8 when it names none (or one
    Python does not know)."""
    message = Message()
    message["Content-Type"] = content_type or "text/html"
    named = message.get_content_charset() or "utf-8"
    try:
        return codecs.lookup(named).name
    except LookupError:
        return "utf-8"


def _segments(path: str) -> list[str]:
    """A URL path as its decoded segments (``/a%20b/c/`` -> ``['', 'a b', 'c', '']``)."""
    return [unquote(part, errors="surrogateescape") for part in path.split("/")]


class Links(HTMLParser):
    """The ``href`` of every ``<a>``, in page order, attributes unescaped by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = next((value for name, value in attrs if name == "href"), None)
            if href is not None:
                self.hrefs.append(href)

    @property
    def pending(self) -> int:
        """How many characters the parser holds unfinished (an open tag or comment)."""
        return len(self.rawdata)


class IndexPage:
    """One index page being read: ``feed`` its bytes, then ``close`` for its entries.

    ``url`` is where the page was served from (after redirects): links resolve against
    it, and entries are what lies directly inside its folder.
    """

    def __init__(self, url: str, content_type: str | None = None) -> None:
        self._url = url
        self._origin = origin(url)
        parts = urlsplit(url).path or "/"
        self._folder = _segments(parts[: parts.rfind("/") + 1])[:-1]  # without the last ""
        self._decoder = codecs.getincrementaldecoder(charset(content_type))("surrogateescape")
        self._parser = Links()
        self._held: list[str] = []
        self._held_size = 0
        self._seen: set[str] = set()
        self._entries = Listing()

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the page; raises DownloadError for a hostile one."""
        text = self._decoder.decode(data)
        self._held.append(text)
        self._held_size += len(text)
        if self._held_size >= max(SLICE, self._parser.pending):
            self._parse()

    def close(self) -> Listing:
        """The page is complete: its entries, in page order."""
        self._held.append(self._decoder.decode(b"", final=True))
        self._parse()
        self._parser.close()
        self._take()
        return self._entries

    def _parse(self) -> None:
        self._parser.feed("".join(self._held))
        self._held.clear()
        self._held_size = 0
        if self._parser.pending > MAX_PENDING:
            raise DownloadError(
                f"not a folder listing: the page holds a tag or comment longer than "
                f"{MAX_PENDING >> 10} KiB; fetch its files by their own URLs instead"
            )
        self._take()

    def _take(self) -> None:
        for href in self._parser.hrefs:
            entry = self.entry(href)
            if entry is not None and entry.name not in self._seen:
                self._seen.add(entry.name)
                self._entries.extend((entry,))
        self._parser.hrefs.clear()
        if len(self._entries) > MAX_LINKS:
            raise DownloadError(
                f"the folder listing has more than {MAX_LINKS} entries, too many to take "
                "in; fetch its files by their own URLs instead"
            )

    def entry(self, href: str) -> Entry | None:
        """What the link ``href`` is in this folder: a file, a folder, or None (it is not
        directly inside the folder)."""
        try:
            target, _ = urldefrag(urljoin(self._url, href.strip()))
            parts = urlsplit(target)
            if parts.query or origin(target) != self._origin:
                return None
        except ValueError:  # a port that is no number, a broken IPv6 literal
            return None
        segments = _segments(parts.path)
        depth = len(self._folder)
        if segments[:depth] != self._folder or len(segments) not in (depth + 1, depth + 2):
            return None
        name, *rest = segments[depth:]
        if rest not in ([], [""]) or name in ("", ".", "..") or "/" in name:
            return None
        kind: Kind = "dir" if rest else "file"
        return Entry(name, kind)
