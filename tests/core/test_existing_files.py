"""A file already at its target is skipped only when it is the file: when a digest is
known (the request's, the checksums file's, or one the server sent with its first
response), the existing file is hashed first, and one with other bytes is downloaded
again, atomically. A checksums file is read by the name the user asked for, and one
without a line for a file says so in its Result."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import sys
from pathlib import Path

import pytest

import aiodl
from testing import MiB, random_bytes, sha
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


def sums_file(folder: Path, lines: dict[str, bytes]) -> Path:
    path = folder / "SHA256SUMS"
    path.write_text("".join(f"{sha(data)}  {name}\n" for name, data in lines.items()))
    return path


def served_digest(data: bytes) -> dict[str, str]:
    return {"Repr-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"}


async def download_over(
    http_server: FaultServer, tmp_path: Path, known: str, data: bytes, existing: bytes
) -> aiodl.Result:
    """``f0001.bin`` is already in dest holding ``existing``; download it with its
    digest known the ``known`` way."""
    dest = tmp_path / "downloads"
    dest.mkdir()
    (dest / "f0001.bin").write_bytes(existing)
    headers = served_digest(data) if known == "server" else {}
    url = http_server.add("f0001.bin", data, headers=headers)
    options: dict[str, object] = {}
    request = aiodl.Request(url)
    if known == "request":
        request = aiodl.Request(url, checksum=f"sha256:{sha(data)}")
    elif known == "sums":
        options["checksums"] = sums_file(tmp_path, {"f0001.bin": data})
    [result] = await aiodl.download_many([request], dest, **options)  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize("size", [4000, 3 * MiB], ids=["small", "large"])
@pytest.mark.parametrize("known", ["request", "sums", "server"])
async def test_same_size_junk_is_downloaded_again_when_a_digest_is_known(
    http_server: FaultServer, tmp_path: Path, known: str, size: int
) -> None:
    data = random_bytes(size)
    result = await download_over(http_server, tmp_path, known, data, random_bytes(size))
    assert result.ok, result.error
    assert not result.skipped
    assert not result.unverified
    assert sha((tmp_path / "downloads" / "f0001.bin").read_bytes()) == sha(data)
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["f0001.bin"]


@pytest.mark.parametrize("size", [4000, 3 * MiB], ids=["small", "large"])
@pytest.mark.parametrize("known", ["request", "sums", "server"])
async def test_an_existing_file_with_the_right_digest_stays_skipped(
    http_server: FaultServer, tmp_path: Path, known: str, size: int
) -> None:
    data = random_bytes(size)
    result = await download_over(http_server, tmp_path, known, data, data)
    assert result.ok, result.error
    assert result.skipped
    assert not result.unverified
    assert len(http_server.requests_for("f0001.bin")) == 1  # the first response only


@pytest.mark.parametrize("flag", ["--checksum", "--checksums"])
async def test_the_cli_downloads_same_size_junk_again(
    http_server: FaultServer, tmp_path: Path, flag: str
) -> None:
    """``aiodl -d downloads --checksum sha256:<right digest> URL`` (or ``--checksums``)
    over a ``downloads/f0001.bin`` of the right size but wrong bytes: the file is fetched
    again, exit 0, and the bytes are right."""
    data = random_bytes(5000)
    url = http_server.add("f0001.bin", data)
    dest = tmp_path / "downloads"
    dest.mkdir()
    (dest / "f0001.bin").write_bytes(random_bytes(5000))
    value = (
        f"sha256:{sha(data)}"
        if flag == "--checksum"
        else str(sums_file(tmp_path, {"f0001.bin": data}))
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--json", "--no-progress", "-d", str(dest), flag, value, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err
    line = json.loads(out)
    assert line["ok"] is True
    assert line["skipped"] is False
    assert sha((dest / "f0001.bin").read_bytes()) == sha(data)


@pytest.mark.parametrize("listed", ["right", "wrong"])
async def test_the_sums_file_is_read_by_the_name_asked_for_not_the_servers(
    http_server: FaultServer, tmp_path: Path, listed: str
) -> None:
    """The URL asks for ``big.iso``; the server names it ``big.iso.download``. The line
    for ``big.iso`` is what the bytes are checked against: a wrong one fails the file,
    and nothing is left at either name."""
    data = random_bytes(6000)
    url = http_server.add(
        "big.iso", data, content_disposition='attachment; filename="big.iso.download"'
    )
    sums = sums_file(tmp_path, {"big.iso": data if listed == "right" else b"other"})
    dest = tmp_path / "d"
    [result] = await aiodl.download_many([url], dest, checksums=sums)
    if listed == "right":
        assert result.ok, result.error
        assert not result.unverified
        assert result.path == dest / "big.iso.download"
        return
    assert isinstance(result.error, aiodl.IntegrityError)
    assert "SHA256SUMS" in str(result.error)
    assert list(dest.iterdir()) == []


async def test_a_request_path_is_the_name_asked_for(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """``Request(url, "sub/wanted.bin")``: the sums file's line for that path is the one
    checked, even where the URL's name has a line of its own."""
    data = random_bytes(3000)
    url = http_server.add("other.bin", data)
    sums = sums_file(tmp_path, {"sub/wanted.bin": b"not these bytes", "other.bin": data})
    [result] = await aiodl.download_many(
        [aiodl.Request(url, "sub/wanted.bin")], tmp_path / "d", checksums=sums
    )
    assert isinstance(result.error, aiodl.IntegrityError)


@pytest.mark.parametrize("present", [False, True], ids=["fetched", "skipped"])
async def test_a_file_the_sums_file_does_not_list_is_saved_unverified_and_says_so(
    http_server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, present: bool
) -> None:
    """``sha256sum -c`` reports a file it has no line for; so does aiodl: the file is
    saved (or skipped) with ``Result.unverified`` set and a warning naming the URL and
    the checksums file. A listed file of the same run is verified as usual."""
    listed, unlisted = random_bytes(3000), random_bytes(4000)
    urls = [
        http_server.add("listed.bin", listed),
        http_server.add("unlisted.bin", unlisted, etag=None),  # a copy put there by hand counts
    ]
    dest = tmp_path / "d"
    if present:
        dest.mkdir()
        (dest / "unlisted.bin").write_bytes(unlisted)
    sums = sums_file(tmp_path, {"listed.bin": listed})
    with caplog.at_level(logging.WARNING, logger="aiodl"):
        results = await aiodl.download_many(urls, dest, checksums=sums)
    assert [r.ok for r in results] == [True, True]
    assert [r.unverified for r in results] == [False, True]
    assert results[1].skipped is present
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(urls[1] in text and "SHA256SUMS" in text for text in warnings), warnings
