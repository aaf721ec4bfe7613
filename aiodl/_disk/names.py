"""Target file names: where bytes from a server may be written.

Pure logic, no I/O. Every name a server or URL proposes passes through ``sanitize_name``
before it touches the file system. Checks that need the file system (the resolved path
stays inside ``dest``, no symlink at the target) live with the writer.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from .._exceptions import UnsafePathError

# Windows device names are reserved with any extension ("CON.txt" opens the console).
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"}
)  # Windows also reserves COM and LPT with a superscript 1, 2 or 3
# C0, DEL and C1 controls (C1 includes the CSI that starts terminal escapes), and lone
# surrogates, which is how undecodable bytes in a header reach us.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN = re.compile(r'[<>:"|?*\\]')
# 255 bytes is the common file-name limit; keep room for the ".part" suffix.
_MAX_NAME_BYTES = 250
# RFC 6266 prefers the RFC 8187 form ``filename*=charset'lang'percent-encoded``.
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([A-Za-z0-9_-]*)'[^']*'([^;\s]+)", re.IGNORECASE)
FALLBACK_NAME = "index.html"


def sanitize_name(name: str) -> str:
    """Turn one untrusted path component into a safe file name, or raise.

    Separators, control characters, invisible format characters and characters Windows
    forbids become ``_``; leading dots and spaces and trailing dots and spaces are stripped
    (no hidden or ``..`` names); reserved device names get a ``_`` prefix; over-long names
    are truncated to 250 UTF-8 bytes keeping the extension. A name that is empty after
    this raises UnsafePathError.
    """
    cleaned = _CONTROL.sub("_", _visible(name))
    cleaned = _FORBIDDEN.sub("_", cleaned.replace("/", "_"))
    cleaned = cleaned.strip(" .")
    if not cleaned:
        raise UnsafePathError(f"unusable file name {name!r}")
    if cleaned.partition(".")[0].rstrip(" ").upper() in _RESERVED:  # "nul .txt" is NUL
        cleaned = "_" + cleaned
    return _truncate(cleaned).rstrip(" .")


def _visible(name: str) -> str:
    """``name`` with every format character (Unicode category Cf: bidi embeddings,
    overrides, isolates and marks, zero-width spaces and joiners, the BOM) as ``_``: a
    right-to-left override shows ``invoice<U+202E>fdp.exe`` as ``invoiceexe.pdf``, and a
    name of zero-width spaces shows as nothing."""
    if name.isascii():
        return name
    return "".join("_" if unicodedata.category(char) == "Cf" else char for char in name)


def _truncate(name: str) -> str:
    """Cut ``name`` to 250 UTF-8 bytes, keeping a short extension when there is one and
    putting ``~`` and 8 hex digits of the whole name's sha256 before it: two long names
    that differ only past the cut stay two files."""
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    suffix = tag + (dot + ext if stem and len(ext.encode()) <= 16 else "")
    stem = name[: len(name) - len(suffix) + len(tag)]
    budget = _MAX_NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:budget].decode(errors="ignore")
    return cut + suffix


def sanitize_listed_name(name: str) -> str:
    """A name from a remote folder listing, made safe by ``sanitize_name`` or refused.

    A listing names one entry of one folder, so a name that holds a separator or NUL, or
    is ``.`` or ``..``, is a server trying to reach elsewhere: refused, not rewritten.
    """
    if name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise UnsafePathError(f"refusing listed name {name!r}")
    return sanitize_name(name)


def sanitize_relative(path: str) -> PurePosixPath:
    """Sanitise a relative path (``a/b/c``) component by component.

    Absolute paths and ``..`` components are refused outright rather than rewritten: a
    caller or listing that asks for them is either confused or hostile.
    """
    normalized = path.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise UnsafePathError(f"absolute path {path!r} is not allowed")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise UnsafePathError(f"path {path!r} climbs out with '..'")
    if not parts:
        raise UnsafePathError(f"empty path {path!r}")
    return PurePosixPath(*(sanitize_name(part) for part in parts))


def name_from_url(url: str) -> str:
    """The last non-empty path segment of ``url``, percent-decoded; a fallback if none."""
    path = unquote(urlsplit(url).path)
    base = posixpath.basename(path.rstrip("/"))
    return base or FALLBACK_NAME


def name_from_content_disposition(header: str | None) -> str | None:
    """The ``filename*``/``filename`` parameter of a Content-Disposition header (RFC 6266).

    Only the final component is kept: ``filename="../../etc/passwd"`` proposes ``passwd``,
    which ``sanitize_name`` then checks like any other name.
    """
    extended, plain = _disposition_names(header)
    return extended or plain


def _disposition_names(header: str | None) -> tuple[str | None, str | None]:
    """The final components of ``filename*`` and of ``filename`` (None where absent).

    The header arrives as the text its bytes mean: the HTTP driver reads it as UTF-8 when
    its bytes are valid UTF-8, as curl and browsers do (``résumé.pdf`` sent as UTF-8 is
    not ``rÃ©sumÃ©.pdf``), else latin-1.
    """
    if not header:
        return None, None
    extended = _FILENAME_STAR.search(header)
    star = None
    if extended is not None:
        charset, encoded = extended.groups()
        try:
            star = unquote(encoded, encoding=charset or "utf-8", errors="replace")
        except (LookupError, UnicodeError):  # an unknown charset, or one (idna) that fails
            star = unquote(encoded, encoding="utf-8", errors="replace")
    message = Message()
    message["content-disposition"] = header
    plain = None
    for name, value in message.get_params(header="content-disposition") or []:
        if name.lower() != "filename":
            continue
        if isinstance(value, str):
            plain = plain or value
        elif star is None:  # an RFC 2231 form the pattern above does not take
            star = collapse_rfc2231_value(value, errors="replace")
    return _final_component(star), _final_component(plain)


def _final_component(raw: str | None) -> str | None:
    if not raw:
        return None
    return posixpath.basename(raw.replace("\\", "/").rstrip("/")) or None


def choose_name(explicit: str | None, content_disposition: str | None, url: str) -> PurePosixPath:
    """The relative target path: the caller's choice, else the server's, else the URL's.

    A ``filename*`` that sanitises to nothing is as if absent: ``filename`` (its fallback
    in RFC 6266), else the URL's name, is used instead of failing the file.
    """
    if explicit is not None:
        return sanitize_relative(explicit)
    extended, plain = _disposition_names(content_disposition)
    if extended is not None:
        try:
            return PurePosixPath(sanitize_name(extended))
        except UnsafePathError:
            pass
    return PurePosixPath(sanitize_name(plain or name_from_url(url)))


def sharded(relative: PurePosixPath, depth: int) -> PurePosixPath:
    """``relative`` below ``depth`` folders named by successive pairs of hex digits of
    its sha256: the same path always lands in the same folder, and files spread evenly."""
    if depth == 0:
        return relative
    digest = hashlib.sha256(relative.as_posix().encode("utf-8", "surrogateescape")).hexdigest()
    return PurePosixPath(*(digest[2 * level : 2 * level + 2] for level in range(depth)), relative)


_MAX_FILE_NAME_BYTES = 255  # the common file-name limit (ext4, XFS, btrfs, tmpfs)
_PART, _LONG_PART = ".aiodl-part", ".aiodl-part-long"


def part_name(name: str) -> str:
    """The in-progress file of the final name ``name``, in the same folder (a rename
    within one file system is atomic): ``.NAME.aiodl-part``.

    Final names never start with a dot (``sanitize_name`` strips leading dots from every
    name, a server's, a listing's and a Request's alike), so no final name is ever a part
    file's: another file of the batch can never write to, or rename over, this one's part
    file, and claiming the final path claims its part file too. A name too long for the
    255-byte limit keeps its first bytes, then ``~``, 32 hex digits of its sha256 and
    another suffix, so a long name's part file is never a short name's.
    """
    short = f".{name}{_PART}"
    if len(short.encode()) <= _MAX_FILE_NAME_BYTES:
        return short
    tag = "~" + hashlib.sha256(name.encode()).hexdigest()[:32] + _LONG_PART
    budget = _MAX_FILE_NAME_BYTES - 1 - len(tag)
    return "." + name.encode()[:budget].decode(errors="ignore") + tag
