"""Properties of target file names (aiodl._disk.names): untrusted names never escape ``dest``."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._disk.names import (
    FALLBACK_NAME,
    choose_name,
    name_from_content_disposition,
    name_from_url,
    part_name,
    sanitize_listed_name,
    sanitize_name,
    sanitize_relative,
)
from aiodl._exceptions import UnsafePathError
from aiodl._protocols.http.wire import field_text
from testing.names import DEST, assert_safe_name, nasty_names

# Every name Windows reserves: a harmless-looking one of these is rightly renamed.
RESERVED = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
RESERVED += [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"]


@given(nasty_names)
def test_sanitize_name_is_safe_or_refused(name: str) -> None:
    try:
        cleaned = sanitize_name(name)
    except UnsafePathError:
        return
    assert_safe_name(cleaned)
    assert sanitize_name(cleaned) == cleaned  # idempotent


@given(
    st.text(
        # Lone surrogates (undecodable bytes) are not harmless: they become "_".
        alphabet=st.characters(exclude_characters=' ./\\<>:"|?*', exclude_categories=("Cs",)),
        min_size=1,
        max_size=60,
    )
)
def test_sanitize_name_keeps_harmless_names(name: str) -> None:
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        return
    if name.partition(".")[0].rstrip(" ").upper() in RESERVED:
        return
    assert sanitize_name(name) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [("report.pdf", "report.pdf"), ("../../etc/passwd", "_.._etc_passwd"),
     (".bashrc", "bashrc"), ("  file.txt. ", "file.txt"), ("a\\b", "a_b"),
     ("a\x00b\nc", "a_b_c"), ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"), ("CON", "_CON"),
     ("nul.txt", "_nul.txt"), ("COM1", "_COM1"), ("lpt9.tar.gz", "_lpt9.tar.gz"),
     ("CONSOLE.txt", "CONSOLE.txt"), ("naïve.txt", "naïve.txt")],
)  # fmt: skip
def test_sanitize_name_examples(name: str, expected: str) -> None:
    assert sanitize_name(name) == expected


@pytest.mark.parametrize("name", ["\x85a", "a\x9b[2J", "\x80"])
def test_sanitize_name_replaces_c1_controls(name: str) -> None:
    # C1 controls (U+0080-U+009F, category Cc) are control characters too; CSI is an escape
    assert_safe_name(sanitize_name(name))


@pytest.mark.parametrize("name", ["", ".", "..", "...", " ", " . ", "....  "])
def test_sanitize_name_refuses_empty_names(name: str) -> None:
    with pytest.raises(UnsafePathError):
        sanitize_name(name)


@pytest.mark.parametrize("name", ["a\udcff.txt", "\udc80"])
def test_sanitize_name_undecodable_server_name_is_safe_or_refused(name: str) -> None:
    # aiohttp decodes header bytes with surrogateescape, so a Content-Disposition with
    # invalid UTF-8 reaches sanitize_name as a lone surrogate.
    try:
        cleaned = sanitize_name(name)
    except UnsafePathError:
        return
    assert_safe_name(cleaned)


@pytest.mark.parametrize("name", ["a" * 249 + "." + "b" * 17, "a" * 249 + " " + "b" * 17])
def test_truncation_leaves_no_trailing_dot_or_space(name: str) -> None:
    cleaned = sanitize_name(name)
    assert len(cleaned.encode()) <= 250
    assert not cleaned.endswith((".", " "))


@given(st.sampled_from(["a", "é", "😀", "汉"]), st.integers(min_value=64, max_value=400))
def test_long_names_are_truncated_keeping_the_extension(char: str, count: int) -> None:
    cleaned = sanitize_name(char * count + ".tar")
    assert len(cleaned.encode()) <= 250
    assert cleaned.endswith(".tar")
    assert cleaned.startswith(char)
    if len((char * count + ".tar").encode()) <= 250:
        assert cleaned == char * count + ".tar"


@given(st.lists(nasty_names, min_size=1, max_size=5).map("/".join))
@example("a/../b")
@example("C:/Windows")
@example("\\\\server\\share\\x")
def test_sanitize_relative_stays_inside(path: str) -> None:
    try:
        relative = sanitize_relative(path)
    except UnsafePathError:
        return
    assert not relative.is_absolute()
    assert relative.parts
    for part in relative.parts:
        assert_safe_name(part)
    assert DEST in (DEST / relative).parents


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "\\etc\\passwd", "..", "../x", "a/../../b", "a\\..\\b", "C:x", "c:\\x",
     "Z:/x", "", "/", ".", "./.", "a/.."],
)  # fmt: skip
def test_sanitize_relative_refuses(path: str) -> None:
    with pytest.raises(UnsafePathError):
        sanitize_relative(path)


def test_sanitize_relative_examples() -> None:
    assert sanitize_relative("a/b/c.txt") == PurePosixPath("a/b/c.txt")
    assert sanitize_relative("a\\b") == PurePosixPath("a/b")
    assert sanitize_relative("./a//b/") == PurePosixPath("a/b")
    assert sanitize_relative("x/CON/.hidden") == PurePosixPath("x/_CON/hidden")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/files/report.pdf", "report.pdf"),
        ("https://h/files/a%20b.txt?x=1#frag", "a b.txt"),
        ("https://h/dir/", "dir"),
        ("https://h/", FALLBACK_NAME),
        ("https://h", FALLBACK_NAME),
        ("https://h/x/na%C3%AFve.txt", "naïve.txt"),
        ("https://h/x/a%2Fb", "b"),
    ],
)
def test_name_from_url(url: str, expected: str) -> None:
    assert name_from_url(url) == expected


@given(st.text())
def test_name_from_url_is_one_component(path: str) -> None:
    name = name_from_url("https://example.com/" + path)
    assert name
    assert "/" not in name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="..\\..\\windows\\win.ini"', "win.ini"),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("attachment; filename*=UTF-8''na%C3%AFve.txt", "naïve.txt"),
        ("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
        ('inline; filename="dir/"', "dir"),
        ("attachment", None),
        ("", None),
        (None, None),
        ('attachment; filename=""', None),
    ],
)
def test_name_from_content_disposition(header: str | None, expected: str | None) -> None:
    assert name_from_content_disposition(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt",
        "attachment; filename*=UTF-8''na%C3%AFve.txt; filename=\"fallback.txt\"",
    ],
)
def test_content_disposition_prefers_filename_star(header: str) -> None:
    # RFC 6266 section 4.3: with both present, recipients SHOULD pick filename*.
    assert name_from_content_disposition(header) == "naïve.txt"


@given(st.text())
def test_content_disposition_name_is_one_component(value: str) -> None:
    header = "attachment; filename*=UTF-8''" + value
    name = name_from_content_disposition(header)
    assert name is None or ("/" not in name and "\\" not in name)


def test_choose_name_precedence() -> None:
    url = "https://h/path/from-url.bin"
    disposition = 'attachment; filename="from-server.bin"'
    assert choose_name("sub/explicit.bin", disposition, url) == PurePosixPath("sub/explicit.bin")
    assert choose_name(None, disposition, url) == PurePosixPath("from-server.bin")
    assert choose_name(None, None, url) == PurePosixPath("from-url.bin")
    assert choose_name(None, "attachment", url) == PurePosixPath("from-url.bin")
    assert choose_name(None, None, "https://h/") == PurePosixPath(FALLBACK_NAME)
    assert choose_name(None, 'attachment; filename="../../.bashrc"', url) == PurePosixPath("bashrc")
    with pytest.raises(UnsafePathError):
        choose_name("../escape", disposition, url)


@given(st.text(), st.text())
def test_choose_name_from_server_is_one_safe_name(disposition: str, path: str) -> None:
    try:
        chosen = choose_name(None, "attachment; filename=" + disposition, "https://h/" + path)
    except UnsafePathError:
        return
    assert len(chosen.parts) == 1
    assert_safe_name(chosen.name)


def test_part_name() -> None:
    assert part_name("file.iso") == ".file.iso.aiodl-part"


@given(nasty_names)
@example("..")
@example("a/b")
@example("a\x00b")
@example(" .. ")
def test_listed_names_are_refused_or_one_safe_name(name: str) -> None:
    """A folder listing names one entry: separators, NUL, ``.`` and ``..`` are a server
    reaching elsewhere and are refused; anything else is a safe name or refused."""
    try:
        cleaned = sanitize_listed_name(name)
    except UnsafePathError:
        assert name in ("", ".", "..") or "/" in name or "\x00" in name or _empty_once_cleaned(name)
        return
    assert name not in ("", ".", "..")
    assert "/" not in name
    assert "\x00" not in name
    assert cleaned == sanitize_name(name)
    assert_safe_name(cleaned)


def _empty_once_cleaned(name: str) -> bool:
    try:
        sanitize_name(name)
    except UnsafePathError:
        return True
    return False


ALL_RESERVED = ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))]
ALL_RESERVED += [f"LPT{i}" for i in range(1, 10)]


@given(
    st.sampled_from(ALL_RESERVED),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.sampled_from(["", ".txt", ".tar.gz", ".", " ", ". .", "..x"]),
    st.text(alphabet=" .", max_size=3),
)
def test_reserved_device_names_get_a_prefix_in_any_case(
    device: str, upper: list[bool], extension: str, lead: str
) -> None:
    """``nul``, ``Com1.txt``, ``  .LPT9.tar.gz``: whatever the case, extension or leading
    dots and spaces, the device name never comes out bare."""
    mixed = "".join(c.upper() if up else c.lower() for c, up in zip(device, upper, strict=False))
    mixed += device[len(upper) :]
    cleaned = sanitize_name(lead + mixed + extension)
    assert cleaned.split(".", 1)[0].upper() not in ALL_RESERVED
    assert cleaned.startswith("_")
    assert_safe_name(cleaned)


disposition_values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters='"\\\r\n'), max_size=80
)


@given(
    st.sampled_from(["attachment", "inline", "ATTACHMENT", "form-data"]),
    disposition_values,
    st.binary(max_size=40),
    st.sampled_from(["UTF-8", "utf-8", "iso-8859-1", ""]),
    st.booleans(),
)
def test_content_disposition_from_a_hostile_server_is_one_safe_name(
    kind: str, plain: str, raw: bytes, charset: str, both: bool
) -> None:
    """Quoted ``filename=`` and RFC 8187 ``filename*=`` with any bytes (``%2F``, ``%00``,
    ``..``, invalid UTF-8): either one safe name below dest, or refused as unsafe."""
    star = f"filename*={charset}''{quote(raw, safe='')}"
    header = f'{kind}; filename="{plain}"' + (f"; {star}" if both else "")
    proposed = name_from_content_disposition(header)
    assert proposed is None or ("/" not in proposed and "\\" not in proposed)
    try:
        chosen = choose_name(None, header, "https://h/from-url.bin")
    except UnsafePathError:
        return
    assert len(chosen.parts) == 1
    assert_safe_name(chosen.name)
    assert DEST in (DEST / chosen).parents


# Windows' device names as CPython 3.13's ntpath.isreserved() knows them ("Naming Files,
# Paths, and Namespaces"): superscript digits count as digits, CONIN$/CONOUT$ are devices.
DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\xb9\xb2\xb3"}
)


def is_windows_device(name: str) -> bool:
    """ntpath._isreservedname's device rule: the part before the first dot, trailing
    spaces dropped ("nul .txt" is NUL), in any case."""
    return name.partition(".")[0].rstrip(" ").upper() in DEVICES


@given(
    st.sampled_from(sorted(DEVICES)),
    st.sampled_from(["", " ", "  ", ".txt", " .txt", ".tar.gz"]),
    st.sampled_from(["", ".", " "]),
    st.booleans(),
)
@example("COM\xb9", "", "", False)  # found by fuzzing: came out as "COM¹"
@example("CONIN$", "", "", False)  # came out as "CONIN$"
@example("NUL", " .txt", "", False)  # came out as "NUL .txt"
def test_no_windows_device_name_comes_out(device: str, tail: str, lead: str, lower: bool) -> None:
    cleaned = sanitize_name(lead + (device.lower() if lower else device) + tail)
    assert not is_windows_device(cleaned), cleaned
    assert_safe_name(cleaned)


@given(
    st.sampled_from(["CON", "nul", "Com1", "LPT9", "aux"]),
    st.integers(min_value=250, max_value=400),
    st.sampled_from([" ", ". ", " ."]),
    st.sampled_from(["x", "tail", "é"]),
)
@example("CON", 300, " ", "x")  # found by fuzzing: came out as the bare "CON"
def test_truncation_never_uncovers_a_device_name(
    device: str, pad: int, filler: str, tail: str
) -> None:
    """The device check and the cut to 250 bytes must not combine into a bare device
    name (a long run of spaces cut and stripped), and the result stays idempotent."""
    cleaned = sanitize_name(device + (filler * pad)[:pad] + tail)
    assert not is_windows_device(cleaned), cleaned
    assert sanitize_name(cleaned) == cleaned


@given(
    st.from_regex(r"\A[A-Za-z0-9_-]{1,12}\Z"),
    st.from_regex(r"\A(%[0-9A-F]{2}|[a-z]){1,8}\Z"),
)
@example("bogus", "%41")  # found by fuzzing: LookupError, unknown encoding
@example("rot13", "%41")  # LookupError, not a text encoding
@example("idna", "%41")  # UnicodeError, idna refuses errors="replace"
def test_content_disposition_with_any_charset_is_a_name_or_none(charset: str, encoded: str) -> None:
    """RFC 8187 lets the server name the charset: one Python does not know, or a codec
    that is not a text encoding, must not raise (it made download_many raise LookupError
    and abandon the whole batch)."""
    header = f"attachment; filename*={charset}''{encoded}"
    name = name_from_content_disposition(header)
    assert name is None or "/" not in name
    try:
        chosen = choose_name(None, header, "https://h/f")
    except UnsafePathError:
        return
    assert_safe_name(chosen.name)


# Bidi controls and zero-width characters (issue 16.15): all of Unicode category Cf.
INVISIBLE = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"
)


@given(
    st.lists(
        st.sampled_from(list(INVISIBLE))
        | st.characters(categories=("Cf",))
        | st.sampled_from(["invoice", "fdp.exe", ".", " ", "é", "a"]),
        min_size=1,
        max_size=30,
    ).map("".join)
)
@example("invoice\u202efdp.exe")
@example("\u200b")
def test_no_bidi_control_or_zero_width_character_comes_out(name: str) -> None:
    """``invoice\u202efdp.exe`` displays as ``invoiceexe.pdf``; a name of one zero-width
    space displays as nothing: no format character survives sanitising."""
    try:
        cleaned = sanitize_name(name)
    except UnsafePathError:
        return
    assert not any(unicodedata.category(char) == "Cf" for char in cleaned), repr(cleaned)
    assert_safe_name(cleaned)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("invoice\u202efdp.exe", "invoice_fdp.exe"), ("\u200b", "_"),
     ("a\u200db\ufeff.txt", "a_b_.txt"), ("\u2066x\u2069.pdf", "_x_.pdf")],
)  # fmt: skip
def test_format_characters_become_underscores(name: str, expected: str) -> None:
    assert sanitize_name(name) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("attachment; filename*=UTF-8''%2E%2E; filename=\"plain.txt\"", "plain.txt"),
        ("attachment; filename*=UTF-8''%20.%20", "from-url.bin"),
        ("attachment; filename*=UTF-8''..", "from-url.bin"),
    ],
)
def test_an_unusable_filename_star_falls_back(header: str, expected: str) -> None:
    """A ``filename*`` that sanitises to nothing is as if absent: ``filename``, else the
    URL's name (the file is saved, not failed)."""
    assert choose_name(None, header, "https://h/from-url.bin") == PurePosixPath(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("résumé.pdf".encode(), "résumé.pdf"), ("résumé.pdf".encode("latin-1"), "résumé.pdf"),
     ("naïve.txt".encode(), "naïve.txt"), (b"plain.txt", "plain.txt")],
)  # fmt: skip
def test_a_utf8_filename_is_read_as_utf8(raw: bytes, expected: str) -> None:
    """Header values arrive as latin-1 (a byte a character, on both transports); the
    HTTP driver reads them with ``field_text``: a ``filename`` that is valid UTF-8 is
    UTF-8, otherwise latin-1."""
    header = b'attachment; filename="' + raw + b'"'
    assert name_from_content_disposition(field_text(header.decode("latin-1"))) == expected
