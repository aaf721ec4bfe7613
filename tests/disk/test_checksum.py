"""Checksum parsing (aiodl._digests, pure) and hashing (aiodl._disk.hashing, a real file)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodl._digests import (
    ALGORITHMS,
    Checksum,
    lookup,
    parse_checksum,
    parse_digest_header,
    parse_sums,
    server_digest,
)
from aiodl._disk.hashing import file_digest

SHA = hashlib.sha256(b"x").hexdigest()
MD5 = hashlib.md5(b"x").hexdigest()


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_parses(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"x").hexdigest()
    assert parse_checksum(f"{algorithm.upper()}:{digest.upper()}") == Checksum(algorithm, digest)


@pytest.mark.parametrize("text", ["sha256", "sha256:", f"crc32:{SHA}", f"sha256:{SHA[:-1]}",
                                  f"md5:{SHA}", f"sha256:{SHA[:-1]}g", ":abc"])  # fmt: skip
def test_malformed_checksums_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="checksum"):
        parse_checksum(text)


def test_sums_file_formats() -> None:
    text = "\n".join([
        f"{SHA}  plain.iso",
        f"{SHA} *binary.iso",
        f"{SHA}  ./dotted/name.iso",
        f"SHA256 (bsd.iso) = {SHA}",
        f"MD5 (old.iso) = {MD5}",
        "garbage line",
        f"{SHA[:10]}  short.iso",
    ])  # fmt: skip
    sums = parse_sums(text, "SHA256SUMS")
    assert set(sums) == {"plain.iso", "binary.iso", "dotted/name.iso", "bsd.iso", "old.iso"}
    assert sums["old.iso"].algorithm == "md5"
    assert sums["plain.iso"] == Checksum("sha256", SHA, "SHA256SUMS")


def test_algorithm_comes_from_the_file_name_or_the_length() -> None:
    assert parse_sums(f"{MD5}  a", "MD5SUMS")["a"].algorithm == "md5"
    assert parse_sums(f"{MD5}  a", "checksums.txt")["a"].algorithm == "md5"
    assert parse_sums(f"{SHA}  a", "MD5SUMS") == {}  # the length disagrees with the name
    b2 = hashlib.blake2b(b"x").hexdigest()
    assert parse_sums(f"{b2}  a", "B2SUMS")["a"].algorithm == "blake2b"
    assert parse_sums(f"{b2}  a", "sums.txt")["a"].algorithm == "sha512"


def test_lookup_by_path_then_name() -> None:
    sums = {"2026/a.bz2": Checksum("md5", MD5), "b.bz2": Checksum("md5", "0" * 32)}
    assert lookup(sums, PurePosixPath("2026/a.bz2")) == sums["2026/a.bz2"]
    assert lookup(sums, PurePosixPath("x/y/b.bz2")) == sums["b.bz2"]
    assert lookup(sums, PurePosixPath("c.bz2")) is None


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=64, max_size=64))
def test_digest_headers_round_trip(sha256: bytes, sha512: bytes) -> None:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    rfc9530 = f"sha-256=:{b64(sha256)}:, sha-512=:{b64(sha512)}:"
    assert parse_digest_header(rfc9530) == {"sha256": sha256.hex(), "sha512": sha512.hex()}
    rfc3230 = f"SHA-256={b64(sha256)}"
    assert parse_digest_header(rfc3230) == {"sha256": sha256.hex()}


@given(st.text())
def test_digest_header_parser_never_raises(value: str) -> None:
    parse_digest_header(value)


def test_server_digest_prefers_the_strongest_and_respects_content_digest() -> None:
    sha = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    headers = {"Repr-Digest": f"md5=:{md5}:, sha-256=:{sha}:"}
    found = server_digest(headers, whole_file=False)
    assert found is not None
    assert (found.algorithm, found.hexdigest) == ("sha256", SHA)
    assert "Repr-Digest" in found.given_by
    partial = {"Content-Digest": f"sha-256=:{sha}:"}
    assert server_digest(partial, whole_file=False) is None  # it would hash only a range
    assert server_digest(partial, whole_file=True) is not None


def test_file_digest_reads_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert file_digest(fd, "sha256") == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)


def test_artifactory_and_content_md5_headers() -> None:
    artifactory = {"X-Checksum-Sha1": hashlib.sha1(b"x").hexdigest(), "X-Checksum-Md5": MD5}
    found = server_digest(artifactory, whole_file=False)
    assert found is not None
    assert (found.algorithm, found.given_by) == ("sha1", "the server's X-Checksum-Sha1 header")
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    assert server_digest({"Content-MD5": md5}, whole_file=False) is None  # a range's digest
    whole = server_digest({"Content-MD5": md5}, whole_file=True)
    assert whole is not None
    assert whole.hexdigest == MD5
    assert server_digest({"X-Checksum-Sha256": "not hex"}, whole_file=True) is None


def assert_valid(checksum: Checksum) -> None:
    assert checksum.algorithm in ALGORITHMS
    assert len(checksum.hexdigest) == ALGORITHMS[checksum.algorithm]
    assert all(c in "0123456789abcdef" for c in checksum.hexdigest)


spec_text = st.one_of(
    st.text(),
    st.builds(
        lambda algo, hexdigest, pad: f"{pad}{algo}:{hexdigest}{pad}",
        st.sampled_from([*ALGORITHMS, "SHA-256", "sha-512", "crc32", "", "sha256:"]),
        st.text(alphabet="0123456789abcdefABCDEFgx:", max_size=130),
        st.sampled_from(["", " ", "\t"]),
    ),
)


@given(spec_text)
def test_checksum_spec_parses_or_is_a_value_error(text: str) -> None:
    """``Request(checksum=...)`` and ``--checksum``: a valid digest or ValueError."""
    try:
        parsed = parse_checksum(text)
    except ValueError:
        return
    assert_valid(parsed)
    assert parse_checksum(str(parsed)) == parsed


sums_lines = st.one_of(
    st.text(),
    st.builds(
        lambda hexdigest, sep, name: f"{hexdigest}{sep}{name}",
        st.text(alphabet="0123456789abcdefABCDEF", min_size=30, max_size=130),
        st.sampled_from(["  ", " *", " ", "\t"]),
        st.text(min_size=0, max_size=20),
    ),
    st.builds(
        lambda algo, name, hexdigest: f"{algo} ({name}) = {hexdigest}",
        st.sampled_from(["SHA256", "MD5", "SHA-512", "B2", "BLAKE2b", "CRC"]),
        st.text(max_size=20),
        st.text(alphabet="0123456789abcdef", min_size=30, max_size=130),
    ),
)


@given(st.lists(sums_lines, max_size=10), st.sampled_from(["SHA256SUMS", "MD5SUMS", "B2SUMS", "x"]))
def test_sums_file_gives_only_valid_digests(lines: list[str], source: str) -> None:
    """A SHA256SUMS file from a mirror is untrusted text: lines that fit are valid digests
    under a name, the rest are skipped, and nothing raises."""
    for checksum in parse_sums("\n".join(lines), source).values():
        assert_valid(checksum)
        assert checksum.given_by == source


@given(
    st.dictionaries(
        st.sampled_from(
            ["Repr-Digest", "Digest", "Content-Digest", "Content-MD5", "X-Checksum-Sha256",
             "X-Checksum-Sha1", "X-Checksum-Md5", "Other"]
        ),
        st.text(max_size=100)
        | st.lists(
            st.builds(
                lambda name, value: f"{name}={value}",
                st.sampled_from(["sha-256", "SHA-256", "sha-512", "md5", "sha", "crc32c"]),
                st.binary(max_size=70).map(lambda raw: base64.b64encode(raw).decode())
                | st.text(max_size=10),
            ),
            max_size=3,
        ).map(", ".join),
    ),
    st.booleans(),
)  # fmt: skip
def test_server_digest_headers_give_a_valid_digest_or_none(
    headers: dict[str, str], whole_file: bool
) -> None:
    found = server_digest(headers, whole_file=whole_file)
    if found is not None:
        assert_valid(found)
        assert "header" in found.given_by
    for algorithm, hexdigest in parse_digest_header(headers.get("Repr-Digest", "")).items():
        assert_valid(Checksum(algorithm, hexdigest))
