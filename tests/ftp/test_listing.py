"""Properties of FTP listing parsers (aiodl._protocols.ftp.listing): pure, no sockets."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._protocols.entries import Entry
from aiodl._protocols.ftp.listing import (
    parse_list,
    parse_list_line,
    parse_mlsd,
    parse_mlsd_line,
    parse_mlst,
    parse_modify,
    parse_nlst,
    split_lines,
)

# Names as servers send them: anything but the line break that ends a listing line.
names = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), min_size=1
)
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("type=file;size=156;modify=20071029155301;perm=r; music.mp3",
         Entry("music.mp3", "file", 156, 1193673181.0)),
        ("type=dir;sizd=4096;modify=20071127230206; ebooks",
         Entry("ebooks", "dir", None, 1196204526.0)),
        ("Type=File;Size=1; with spaces; and semis", Entry("with spaces; and semis", "file", 1)),
        ("type=OS.unix=slink:/etc;size=4; link", Entry("link", "link", 4)),
        ("type=OS.unix=symlink; link2", Entry("link2", "link")),
        ("type=file;modify=20260101000000.5; f", Entry("f", "file", None, 1767225600.5)),
        ("type=file;modify=20261399000000; bad-date", Entry("bad-date", "file")),
        ("type=file;size=-3; negative", Entry("negative", "file")),
        ("type=unknown.thing; other", Entry("other", "other")),
    ],
)  # fmt: skip
def test_mlsd_line_examples(line: str, expected: Entry) -> None:
    assert parse_mlsd_line(line) == expected


@pytest.mark.parametrize(
    "line", ["type=cdir; .", "type=pdir; ..", "no-space", "size=1; notype", ""]
)
def test_mlsd_lines_that_name_no_entry(line: str) -> None:
    assert parse_mlsd_line(line) is None


@given(
    st.sampled_from(["file", "dir"]),
    st.integers(min_value=0, max_value=2**63),
    times,
    names,
)
def test_mlsd_round_trip(kind: str, size: int, when: datetime, name: str) -> None:
    line = f"type={kind};size={size};modify={when:%Y%m%d%H%M%S};perm=r; {name}"
    expected = calendar.timegm(when.replace(tzinfo=UTC).timetuple())
    assert parse_mlsd_line(line) == Entry(name, kind, size, float(expected))  # type: ignore[arg-type]


@given(st.text())
def test_parsers_never_raise(line: str) -> None:
    parse_mlsd_line(line)
    parse_list_line(line)
    parse_modify(line)


@given(times)
def test_modify_is_utc_epoch_seconds(when: datetime) -> None:
    stamp = when.replace(microsecond=0)
    assert parse_modify(f"{stamp:%Y%m%d%H%M%S}") == stamp.replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-rw-r--r--  1 0   0       1234 Nov 23 12:00 file.txt", Entry("file.txt", "file", 1234)),
        ("-rw-r--r--  1 ftp ftp        0 Jan  1  2020 old file", Entry("old file", "file", 0)),
        ("drwxr-xr-x    2 0     0         4096 Nov 23 12:00 pub", Entry("pub", "dir")),
        ("lrwxrwxrwx    1 0     0            7 Nov 23 12:00 link -> /etc", Entry("link", "link")),
        ("-rw-r--r--   1 owner     99 Mar  3 09:15 nogroup.bin", Entry("nogroup.bin", "file", 99)),
        ("-rwxr-xr-x+   1 a b 5 Nov 23 12:00  lead", Entry(" lead", "file", 5)),
        ("crw-rw-rw-    1 0 0 12 Nov 23 12:00 device", Entry("device", "other")),
        ("11-23-26  01:05PM       <DIR>          Folder", Entry("Folder", "dir")),
        ("11-23-26  01:05PM            1234 File Name.txt", Entry("File Name.txt", "file", 1234)),
        ("01-02-2026  23:59                   7 iis.bin", Entry("iis.bin", "file", 7)),
    ],
)  # fmt: skip
def test_list_line_examples(line: str, expected: Entry) -> None:
    assert parse_list_line(line) == expected


@given(
    st.sampled_from(["-", "d"]),
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(["Nov 23 12:00", "Jan  1  2020", "Feb 29 23:59"]),
    names.filter(lambda name: not name[0].isspace() and " -> " not in name),
)
def test_unix_list_round_trip(kind: str, size: int, date: str, name: str) -> None:
    line = f"{kind}rw-r--r--    1 owner    group {size:>12} {date} {name}"
    entry = parse_list_line(line)
    assert entry is not None
    assert entry.name == name
    assert entry.kind == ("file" if kind == "-" else "dir")
    if kind == "-":
        assert entry.size == size


def test_list_is_all_or_nothing() -> None:
    good = ["total 8", "-rw-r--r-- 1 0 0 5 Nov 23 12:00 a", "drwxr-xr-x 2 0 0 6 Nov 23 12:00 b"]
    assert parse_list(good) == [Entry("a", "file", 5), Entry("b", "dir")]
    assert parse_list([*good, "garbage line"]) is None
    assert (
        parse_list(["drwxr-xr-x 2 0 0 6 Nov 23 12:00 .", "drwxr-xr-x 2 0 0 6 Nov 23 12:00 .."])
        == []
    )


def test_mlsd_skips_what_names_nothing() -> None:
    lines = ["type=cdir; /pub", "type=pdir; /", "garbage", "type=file;size=1; a"]
    assert parse_mlsd(lines) == [Entry("a", "file", 1)]


def test_nlst_names_are_last_components() -> None:
    assert parse_nlst(["a.txt", "pub/sub/b.txt", ".", "..", "dir/", "c"]) == ["a.txt", "b.txt", "c"]


def test_split_lines_keeps_undecodable_bytes_as_surrogates() -> None:
    lines = split_lines(b"one\r\ntwo\n\xff\xfename\r\n\r\n")
    assert lines == ["one", "two", "\udcff\udcfename"]


def test_mlst_reply() -> None:
    text = 'Listing "/pub/f":\n type=file;size=9;modify=20200101000000; /pub/f\nEnd MLST.'
    assert parse_mlst(text) == Entry("/pub/f", "file", 9, 1577836800.0)
    assert parse_mlst("no facts here") is None


listing_lines = st.one_of(
    st.text(),
    st.from_regex(
        r"\A[-dlc][-rwxsStT]{9}[.+@]? +[0-9]{1,3} +[a-z0-9]{1,8}( +[a-z0-9]{1,8})? +[0-9]{1,30}"
        r" +[A-Z][a-z]{2} +[0-9]{1,2} +([0-9]{1,2}:[0-9]{2}|[0-9]{4}) .{0,20}\Z"
    ),
    st.from_regex(
        r"\A[0-9]{2}-[0-9]{2}-[0-9]{2,4} +[0-9]{1,2}:[0-9]{2}([AP]M)?"
        r" +(<DIR>|[0-9]{1,30}) +.{0,20}\Z"
    ),
    st.from_regex(r"\A([a-zA-Z.]{1,12}=[^;\r\n]{0,30};){0,5} .{0,20}\Z"),
)


@given(st.lists(listing_lines, max_size=8))
def test_any_listing_parses_to_entries_or_none(lines: list[str]) -> None:
    """A hostile or unknown listing: entries with a kind, a non-empty name that is not
    ``.``/``..`` and a size >= 0 (or None for LIST: fall back to NLST), never an error."""
    for entries in (parse_list(lines), parse_mlsd(lines)):
        for entry in entries or []:
            assert entry.kind in ("file", "dir", "link", "other")
            assert entry.name
            assert entry.size is None or entry.size >= 0
            assert entry.modified is None or entry.modified == entry.modified  # not NaN
    for entry in parse_list(lines) or []:
        assert entry.name not in (".", "..")
    parse_mlst("\n".join(lines))
    parse_mlst("\n".join(" " + line for line in lines))


@given(st.lists(st.text(), max_size=10))
def test_nlst_names_are_single_components(lines: list[str]) -> None:
    for name in parse_nlst(lines):
        assert name
        assert "/" not in name
        assert name not in (".", "..")


@given(st.binary(max_size=300))
def test_split_lines_never_fails(data: bytes) -> None:
    """Any bytes: non-empty lines without line breaks, and no byte lost but the breaks."""
    lines = split_lines(data)
    assert all(line and "\n" not in line for line in lines)
    kept = data.replace(b"\r\n", b"").replace(b"\n", b"")
    assert "".join(lines).encode("utf-8", "surrogateescape") == kept


@given(
    st.dates(min_value=datetime(1980, 1, 1).date(), max_value=datetime(2079, 12, 31).date()),
    st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
    names.filter(lambda name: not name[0].isspace() and name == name.rstrip()),
    st.booleans(),
)
def test_dos_list_round_trip(
    when: date, size: int | None, name: str, four_digit_year: bool
) -> None:
    stamp = when.strftime("%m-%d-%Y" if four_digit_year else "%m-%d-%y") + "  01:05PM"
    line = f"{stamp}  {'<DIR>' if size is None else size:>20} {name}"
    entry = parse_list_line(line)
    assert entry == (Entry(name, "dir") if size is None else Entry(name, "file", size))


@given(
    st.integers(min_value=20, max_value=8000),
    st.sampled_from(
        [
            "-rw-r--r--  1 0 0 {size} Nov 23 12:00 a",  # Unix LIST
            "11-23-26  01:05PM  {size} a",  # DOS LIST
            "type=file;size={size}; a",  # MLSD
        ]
    ),
)
@example(5000, "-rw-r--r--  1 0 0 {size} Nov 23 12:00 a")  # found by fuzzing: ValueError
def test_listing_line_with_a_huge_size_is_no_size(digits: int, layout: str) -> None:
    line = layout.format(size="1" * digits)
    entry = parse_mlsd_line(line) if line.startswith("type=") else parse_list_line(line)
    assert entry is None or entry.size is None
