"""Properties of FTP listing parsers (aiodl._listing): pure, no sockets."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._listing import (
    Entry,
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
