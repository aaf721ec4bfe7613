"""Checksums as users and servers state them: ``algorithm:hex`` specs, ``SHA256SUMS``-style
files (GNU and BSD line formats) and the digest headers servers send (RFC 9530
``Repr-Digest`` and ``Content-Digest``, RFC 3230 ``Digest``, Artifactory's
``X-Checksum-*``).

Pure logic, no I/O: the public ``Request`` validates its ``checksum`` here without loading
anything that touches files (hashing a file is ``aiodl._disk.hashing``).

May import: aiodl._exceptions
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

# hex digits of each supported digest (blake2b at its default 64-byte size)
ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128, "blake2b": 128}
# Names in digest headers (RFC 9530 lower case, RFC 3230 upper case), strongest first.
_HEADER_NAMES = {"sha-512": "sha512", "sha-256": "sha256", "sha": "sha1", "md5": "md5"}
_SUMS_NAMES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
    "b2": "blake2b",
}
_BSD_LINE = re.compile(r"^(?P<algo>[A-Za-z0-9-]+) \((?P<name>.+)\) = (?P<hex>[0-9A-Fa-f]+)$")
_GNU_LINE = re.compile(r"^\\?(?P<hex>[0-9A-Fa-f]+) [ *](?P<name>.+)$")


@dataclass(frozen=True)
class Checksum:
    """An expected digest, and who gave it (``given_by``, for the error message)."""

    algorithm: str
    hexdigest: str
    given_by: str = "the request"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def parse_checksum(text: str, given_by: str = "the request") -> Checksum:
    """``sha256:HEX`` (md5, sha1, sha256, sha512, blake2b), or aria2's ``sha-256=HEX``;
    anything else is a ValueError."""
    separator = ":" if ":" in text else "="
    algorithm, colon, hexdigest = text.strip().partition(separator)
    algorithm = algorithm.lower().replace("-", "")
    hexdigest = hexdigest.lower()
    if not colon or algorithm not in ALGORITHMS:
        raise ValueError(f"checksum {text!r} is not ALGO:HEX with ALGO one of {sorted(ALGORITHMS)}")
    if len(hexdigest) != ALGORITHMS[algorithm] or not _is_hex(hexdigest):
        raise ValueError(f"checksum {text!r}: {algorithm} takes {ALGORITHMS[algorithm]} hex digits")
    return Checksum(algorithm, hexdigest, given_by)


def parse_sums(text: str, source: str) -> dict[str, Checksum]:
    """Digests by file name from a ``SHA256SUMS``-style file named ``source``.

    GNU lines (``HEX  name``, ``HEX *name``) take the algorithm from the file's name
    (``SHA256SUMS``, ``MD5SUMS``, ``B2SUMS``...) or else from the digest's length; BSD
    lines (``SHA256 (name) = HEX``) say it themselves. Lines that fit neither are
    skipped, as ``sha256sum -c`` does with a warning.
    """
    named = _algorithm_from_name(PurePosixPath(source).name)
    sums: dict[str, Checksum] = {}
    for line in text.splitlines():
        bsd, gnu = _BSD_LINE.match(line.strip()), _GNU_LINE.match(line.rstrip())
        if bsd is not None:
            algorithm = bsd["algo"].lower().replace("-", "")
            name, hexdigest = bsd["name"], bsd["hex"]
        elif gnu is not None:
            name, hexdigest = gnu["name"], gnu["hex"]
            algorithm = named or _algorithm_from_length(len(hexdigest)) or ""
        else:
            continue
        if ALGORITHMS.get(algorithm) == len(hexdigest):
            key = name.removeprefix("./")
            sums[key] = Checksum(algorithm, hexdigest.lower(), source)
    return sums


def lookup(sums: Mapping[str, Checksum], *paths: PurePosixPath) -> Checksum | None:
    """The digest listed for the first of ``paths`` that has one: by its whole path,
    else by its name."""
    for path in paths:
        found = sums.get(path.as_posix()) or sums.get(path.name)
        if found is not None:
            return found
    return None


def server_digest(headers: Mapping[str, str], whole_file: bool) -> Checksum | None:
    """The strongest digest a response names for the whole file, if it names one.

    ``Repr-Digest`` and legacy ``Digest`` describe the whole representation even in a
    206; so do Artifactory's ``X-Checksum-Sha256``/``-Sha1``/``-Md5`` (hex).
    ``Content-Digest`` and ``Content-MD5`` describe only the body sent, so they count only
    when that body is the whole file (``whole_file``).
    """
    named = [("Repr-Digest", headers.get("Repr-Digest")), ("Digest", headers.get("Digest"))]
    if whole_file:
        named.append(("Content-Digest", headers.get("Content-Digest")))
        named.append(
            ("Content-MD5", f"md5={headers['Content-MD5']}" if "Content-MD5" in headers else None)
        )
    for header, value in named:
        found = _strongest(parse_digest_header(value or ""))
        if found is not None:
            return Checksum(found[0], found[1], f"the server's {header} header")
    for algorithm in ("sha256", "sha1", "md5"):
        header = f"X-Checksum-{algorithm.capitalize()}"
        value = headers.get(header, "").strip().lower()
        if len(value) == ALGORITHMS[algorithm] and _is_hex(value):
            return Checksum(algorithm, value, f"the server's {header} header")
    return None


def parse_digest_header(value: str) -> dict[str, str]:
    """Algorithm -> hex digest from ``sha-256=:BASE64:`` (RFC 9530) or ``SHA-256=BASE64``
    (RFC 3230) members; unknown algorithms and undecodable values are left out."""
    found = {}
    for member in value.split(","):
        name, equals, encoded = member.strip().partition("=")
        algorithm = _HEADER_NAMES.get(name.strip().lower())
        if not equals or algorithm is None:
            continue
        encoded = encoded.split(";", 1)[0].strip()
        encoded = (
            encoded[1:-1] if len(encoded) > 1 and encoded[0] == encoded[-1] == ":" else encoded
        )
        try:
            digest = base64.b64decode(encoded, validate=True).hex()
        except (binascii.Error, ValueError):
            continue
        if len(digest) == ALGORITHMS[algorithm]:
            found[algorithm] = digest
    return found


def _strongest(found: Mapping[str, str]) -> tuple[str, str] | None:
    for algorithm in _HEADER_NAMES.values():
        if algorithm in found:
            return algorithm, found[algorithm]
    return None


def _algorithm_from_name(name: str) -> str | None:
    match = re.match(r"^(MD5|SHA1|SHA256|SHA512|B2)SUMS", name, re.IGNORECASE)
    return _SUMS_NAMES[match.group(1).lower()] if match else None


def _algorithm_from_length(length: int) -> str | None:
    # 128 hex digits could be sha512 or blake2b; sha512 is what such files usually hold.
    return {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}.get(length)


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)
