"""Properties of the tree walk (aiodl._core.treewalk): a fake server's listings, no sockets."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._core.treewalk import MAX_DEPTH, Found, Refused, TreeWalk, child_url, wanted
from aiodl._exceptions import UnsafePathError
from aiodl._protocols.entries import Entry
from aiodl._urls import is_tree_url
from testing.names import assert_safe_name, nasty_names

ROOT = "ftp://h/pub/"
BASE = PurePosixPath("into")

# A fake server: folder URL -> its entries. Trees are nested dicts: name -> size or subtree.
Tree = dict[str, "int | Tree"]


def listings(tree: Tree, url: str = ROOT) -> dict[str, list[Entry]]:
    found: dict[str, list[Entry]] = {url: []}
    for name, value in tree.items():
        if isinstance(value, dict):
            found[url].append(Entry(name, "dir"))
            found |= listings(value, child_url(url, name, folder=True))
        else:
            found[url].append(Entry(name, "file", value))
    return found


def walk(server: dict[str, list[Entry]], **patterns: list[str]) -> list[Found | Refused]:
    """Drive a TreeWalk the way the engine does, with ``server`` answering listings."""
    tree = TreeWalk(ROOT, BASE, **patterns)
    out: list[Found | Refused] = []
    while (folder := tree.next_folder()) is not None:
        out += tree.listed(folder, server[folder.url])
    return out


trees = st.recursive(
    st.dictionaries(nasty_names, st.integers(0, 10), max_size=4),
    lambda children: st.dictionaries(
        nasty_names, st.one_of(st.integers(0, 10), children), max_size=4
    ),
    max_leaves=20,
)


@given(trees)
def test_every_found_path_is_safe_and_inside_the_base(tree: Tree) -> None:
    for item in walk(listings(tree)):
        if isinstance(item, Found):
            assert item.path.parts[0] == "into"
            for part in item.path.parts[1:]:
                assert_safe_name(part)
        else:
            assert isinstance(item.error, UnsafePathError)


@given(trees)
def test_every_entry_is_accounted_for_once(tree: Tree) -> None:
    """Nothing is silently lost: each entry of each folder listed becomes exactly one of
    a file to fetch, a refusal, or a folder that is listed in turn."""
    server = listings(tree)
    walker = TreeWalk(ROOT, BASE)
    listed: list[str] = []
    items: list[Found | Refused] = []
    while (folder := walker.next_folder()) is not None:
        listed.append(folder.url)
        items += walker.listed(folder, server[folder.url])
    entries = sum(len(server[url]) for url in listed)
    assert len(items) + len(listed) - 1 == entries
    found = [item.url for item in items if isinstance(item, Found)]
    assert len(set(found)) == len(found)
    assert len(set(listed)) == len(listed)


def test_walk_is_depth_first_in_name_order() -> None:
    server = listings({"b": {"x": 1}, "a.txt": 1, "a": {"y": 2, "z": {"w": 3}}, "c.txt": 4})
    paths = [str(item.path) for item in walk(server) if isinstance(item, Found)]
    assert paths == ["into/a.txt", "into/c.txt", "into/a/y", "into/a/z/w", "into/b/x"]


def test_urls_of_found_files() -> None:
    server = listings({"sp ace": {"%x#?.bin": 1}})
    [item] = walk(server)
    assert isinstance(item, Found)
    assert item.url == "ftp://h/pub/sp%20ace/%25x%23%3F.bin"
    assert unquote(item.url) == "ftp://h/pub/sp ace/%x#?.bin"


@pytest.mark.parametrize("name", ["..", ".", "../x", "/etc/passwd", "a/b", "x\x00y", ""])
def test_hostile_names_are_refused(name: str) -> None:
    server = {ROOT: [Entry(name, "file", 1), Entry("ok", "file", 1)]}
    items = walk(server)
    assert sorted(type(item).__name__ for item in items) == ["Found", "Refused"]
    assert [i.path for i in items if isinstance(i, Found)] == [PurePosixPath("into/ok")]


def test_symlinks_are_refused_and_never_listed() -> None:
    server = {ROOT: [Entry("link", "link"), Entry("dev", "other")]}
    [item] = walk(server)
    assert isinstance(item, Refused)
    assert "symlink" in str(item.error)


def test_names_that_collide_after_sanitising_are_refused() -> None:
    server = {ROOT: [Entry("a\x01", "file", 1), Entry("a\x02", "file", 1)]}
    items = walk(server)
    assert [type(item) for item in items] == [Found, Refused]


def test_depth_is_bounded() -> None:
    """A server whose every folder holds another folder cannot walk us down forever."""
    tree = TreeWalk(ROOT)
    depth = 0
    while (folder := tree.next_folder()) is not None:
        items = tree.listed(folder, [Entry("deeper", "dir")])
        depth = max(depth, folder.depth)
    assert depth == MAX_DEPTH
    assert isinstance(items[0], Refused)


@pytest.mark.parametrize(
    ("path", "include", "exclude", "expected"),
    [
        ("a/b/x.bz2", ["*.bz2"], [], True),
        ("a/b/x.bz2", ["*.txt"], [], False),
        ("a/b/x.bz2", [], ["*.bz2"], False),
        ("a/b/x.bz2", ["a/*"], [], True),  # '*' crosses folders in a path pattern
        ("a/b/x.bz2", ["b/*"], [], False),  # a path pattern is anchored at the root
        ("a/b/X.BZ2", ["*.bz2"], [], False),  # case-sensitive
        ("x.bz2", ["*.bz2", "*.txt"], ["x*"], False),
    ],
)
def test_wanted(path: str, include: list[str], exclude: list[str], expected: bool) -> None:
    assert wanted(PurePosixPath(path), include, exclude) is expected


@given(st.lists(nasty_names.filter(bool), min_size=1, max_size=4))
def test_no_patterns_want_everything(parts: list[str]) -> None:
    assert wanted(PurePosixPath(*[p.replace("/", "_") or "x" for p in parts]), (), ())


@pytest.mark.parametrize(
    ("url", "expected"),
    [("ftp://h/d/", True), ("ftp://h/d", False), ("ftp://h/", True), ("ftp://h/d/?x=1", True),
     ("ftp://h/d?x=/", False)],
)  # fmt: skip
def test_is_tree_url(url: str, expected: bool) -> None:
    assert is_tree_url(url) is expected
