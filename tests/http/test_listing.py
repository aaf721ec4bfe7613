"""An HTML index page read as a folder's entries (aiodl._protocols.http.listing): real
pages, and hostile ones, no sockets.

The pages in ``pages/`` were captured (curl) from Debian's nginx 1.22 (``autoindex on``),
apache2 2.4 (mod_autoindex, FancyIndexing HTMLTable), lighttpd 1.4.69 (mod_dirlisting)
and python 3.11's http.server, each serving the same tree as tests/core/test_http_tree.py
(run by tests/servers/autoindex.py): ``/tree/`` holds ``a.txt``, ``sub dir/`` and ``é/``;
``/tree/sub dir/`` holds ``b c.txt`` and ``deeper/``.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._core.treewalk import child_url
from aiodl._exceptions import DownloadError
from aiodl._protocols.entries import Entry
from aiodl._protocols.http import listing
from aiodl._protocols.http.listing import MAX_PENDING, IndexPage, charset, is_html

PAGES = Path(__file__).parent / "pages"
TYPES = {
    "nginx": "text/html; charset=utf-8",
    "apache2": "text/html;charset=UTF-8",
    "lighttpd": "text/html;charset=utf-8",
    "httpserver": "text/html; charset=utf-8",
}
FOLDER = "http://127.0.0.1:8080/tree/"
ROOT_ENTRIES = {Entry("a.txt", "file"), Entry("sub dir", "dir"), Entry("é", "dir")}
SUB_ENTRIES = {Entry("b c.txt", "file"), Entry("deeper", "dir")}


def entries(page: bytes, url: str = FOLDER, content_type: str | None = None) -> list[Entry]:
    reader = IndexPage(url, content_type)
    reader.feed(page)
    return list(reader.close())


def links(*hrefs: str) -> bytes:
    rows = "".join(f'<a href="{html.escape(href)}">x</a>\n' for href in hrefs)
    return f"<html><body>{rows}</body></html>".encode()


@pytest.mark.parametrize("server", sorted(TYPES))
def test_real_autoindex_pages(server: str) -> None:
    """The files and folders of each server's page; its parent, sort and self links not."""
    tree = (PAGES / f"{server}-tree.html").read_bytes()
    sub = (PAGES / f"{server}-subdir.html").read_bytes()
    assert set(entries(tree, FOLDER, TYPES[server])) == ROOT_ENTRIES
    assert set(entries(sub, FOLDER + "sub%20dir/", TYPES[server])) == SUB_ENTRIES


@given(st.data())
def test_a_page_fed_in_any_pieces_reads_the_same(data: st.DataObject) -> None:
    server = data.draw(st.sampled_from(sorted(TYPES)))
    page = (PAGES / f"{server}-tree.html").read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(page)), max_size=12)))
    reader = IndexPage(FOLDER, TYPES[server])
    for start, end in zip([0, *cuts], [*cuts, len(page)], strict=True):
        reader.feed(page[start:end])  # UTF-8 cut mid-character included
    assert set(reader.close()) == ROOT_ENTRIES


def test_hostile_links_stay_out() -> None:
    """Only what lies directly inside the folder, on its origin, is an entry; a link
    that is taken twice (icon and name, or two spellings) is one entry."""
    page = links(
        "../", "./../", "..", "/", "/tree/", "./", "", "#top", "?C=M;O=A", "?C=N;O=D",
        "a.txt?download=1", "/abs/outside", "/tree-other/x", "http://other-host/tree/x",
        "http://127.0.0.1:8081/tree/x", "https://127.0.0.1:8080/tree/x", "//evil/tree/x",
        "mailto:root@localhost", "javascript:alert(1)", "%2e%2e/", "%2E%2E/etc/", "..%2f",
        "a%2Fb", "%2e/", "sub/deeper/x", "http://[::1/x", "http://h:99999/tree/x",
        "ok.txt", "./ok.txt", "/tree/ok.txt", "ok.txt#part", "%6fk.txt",
        "http://127.0.0.1:8080/tree/dir/", "dir/", "  spaced.txt  ", "&.txt",
        ".ok.txt.aiodl-part",
    )  # fmt: skip
    assert entries(page) == [
        Entry("ok.txt", "file"),
        Entry("dir", "dir"),
        Entry("spaced.txt", "file"),
        Entry("&.txt", "file"),
        Entry(".ok.txt.aiodl-part", "file"),  # the walk's name rules strip the dot
    ]


def test_links_resolve_against_the_page_it_was_served_as() -> None:
    """A redirect from ``/tree/`` to ``/tree/index.html`` keeps the same folder."""
    assert entries(links("a.txt", "sub/"), FOLDER + "index.html") == [
        Entry("a.txt", "file"),
        Entry("sub", "dir"),
    ]


def test_root_folder_of_a_site() -> None:
    """``..`` above the root stays at the root (RFC 3986 5.2.4, as browsers do)."""
    found = entries(links("a", "b/", "../c", "/"), "http://h/")
    assert found == [Entry("a", "file"), Entry("b", "dir"), Entry("c", "file")]


safe_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda name: name not in (".", "..") and "/" not in name
)


@given(safe_names, st.booleans())
@example("é ü", False)
@example("%41", True)
def test_a_link_the_walk_would_build_comes_back_as_the_name(name: str, folder: bool) -> None:
    """Round trip with the walk's own URLs: the entry is the name, bytes for bytes."""
    href = child_url(FOLDER, name, folder=folder)
    assert entries(links(href)) == [Entry(name, "dir" if folder else "file")]
    relative = quote(name) + ("/" if folder else "")
    assert entries(links(relative)) == [Entry(name, "dir" if folder else "file")]


@given(st.text(max_size=40))
@example("%ff%fe.bin")
def test_any_href_is_directly_inside_the_folder_or_nothing(href: str) -> None:
    for entry in entries(links(href)):
        assert entry.name not in ("", ".", "..")
        assert "/" not in entry.name
        url = child_url(FOLDER, entry.name, folder=entry.kind == "dir")
        assert url.startswith(FOLDER)
        assert url != FOLDER


def test_undecodable_bytes_survive_for_the_walks_url() -> None:
    [entry] = entries(links("%ff%fe.bin"))
    assert child_url(FOLDER, entry.name) == FOLDER + "%FF%FE.bin"


def test_the_pages_charset_decodes_raw_names() -> None:
    page = '<a href="caf\xe9.txt">caf\xe9</a>'.encode("latin-1")
    assert entries(page, content_type="text/html; charset=ISO-8859-1") == [
        Entry("café.txt", "file")
    ]
    assert entries("<a href='é'>".encode()) == [Entry("é", "file")]  # UTF-8 by default


def test_content_types() -> None:
    assert is_html("text/html")
    assert is_html("Text/HTML; charset=utf-8")
    assert is_html("application/xhtml+xml")
    assert not is_html(None)
    assert not is_html("text/plain")
    assert not is_html("text/htmlx")
    assert charset("text/html; charset=no-such-codec") == "utf-8"
    assert charset('text/html; charset="latin1"') == "iso8859-1"


@pytest.mark.parametrize(
    "opening", ['<a href="', "<!--", "<a " + 'b="c" ' * 10], ids=["value", "comment", "attrs"]
)
def test_an_endless_tag_is_refused_in_linear_time(opening: str) -> None:
    """html.parser rescans an unfinished tag on every feed (quadratic: 16 s for a 1.7 MiB
    tag of attributes fed 16 KiB at a time); held to MAX_PENDING and fed in growing
    pieces, a hostile page fails fast."""
    reader = IndexPage(FOLDER)
    reader.feed(opening.encode())

    def feed_1_mib() -> None:
        for _ in range(4 * MAX_PENDING // 4096):
            reader.feed(b'b="c" ' * 680)  # 4 KiB at a time

    began = time.monotonic()
    with pytest.raises(DownloadError, match="longer than 256 KiB"):
        feed_1_mib()
    assert time.monotonic() - began < 5


def test_many_links_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "MAX_LINKS", 10)
    with pytest.raises(DownloadError, match="more than 10 entries"):
        entries(links(*(f"f{n}" for n in range(11))))
    assert len(entries(links(*(f"f{n}" for n in range(10))))) == 10
