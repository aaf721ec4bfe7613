"""Re-syncs (wget -N): a rerun keeps an existing file only when the server proves it the
same (size and Last-Modified/MDTM time, or the ETag recorded with it, or a digest), asks
"only if changed" (If-None-Match, If-Modified-Since), and fetches a file changed in place
with the same size again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

import aiodl
from testing import random_bytes
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer
from testing.servers.nginx import serve

pytestmark = pytest.mark.anyio
WHEN = 1_445_412_480


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A throw-away nginx (it answers 304 to If-None-Match/If-Modified-Since)."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    root = tmp_path / "www"
    root.mkdir()
    (root / "probe").write_bytes(b"ok")
    with serve(tmp_path / "nginx", root, "/probe") as base:
        yield base, root


async def test_a_rerun_keeps_an_unchanged_file_and_asks_only_if_changed(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3000)
    url = http_server.add("f.bin", data, last_modified=formatdate(WHEN, usegmt=True))
    first = await aiodl.download(url, tmp_path)
    again = await aiodl.download(url, tmp_path)
    assert (first.ok, first.skipped) == (True, False)
    assert (again.ok, again.skipped, again.unverified) == (True, True, False), again
    asked = http_server.requests_for("f.bin")[-1].headers
    assert asked.get("If-None-Match") == http_server.faults["f.bin"].etag
    assert asked.get("If-Modified-Since") == formatdate(WHEN, usegmt=True)


@pytest.mark.parametrize("validator", ["last_modified", "etag"])
async def test_a_file_changed_in_place_with_the_same_size_is_fetched_again(
    http_server: FaultServer, tmp_path: Path, validator: str
) -> None:
    old, new = random_bytes(3000), random_bytes(3000)
    before, after = {
        "last_modified": (
            {"last_modified": formatdate(WHEN, usegmt=True)},
            {"last_modified": formatdate(WHEN + 60, usegmt=True)},
        ),
        "etag": ({"etag": '"v1"'}, {"etag": '"v2"'}),
    }[validator]
    url = http_server.add("f.bin", old, **{"etag": None, **before})
    assert (await aiodl.download(url, tmp_path)).ok
    http_server.add("f.bin", new, **{"etag": None, **after})  # only this validator tells
    result = await aiodl.download(url, tmp_path)
    assert (result.ok, result.skipped) == (True, False), f"{url} changed, yet was kept"
    assert (tmp_path / "f.bin").read_bytes() == new


async def test_a_copy_the_server_tells_nothing_about_is_skipped_unverified(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3000)
    url = http_server.add("f.bin", data, etag=None)
    (tmp_path / "f.bin").write_bytes(data)
    result = await aiodl.download(url, tmp_path)
    assert (result.ok, result.skipped, result.unverified) == (True, True, True)


async def test_a_hand_made_copy_of_the_same_size_is_replaced_when_the_server_has_validators(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(3000)
    url = http_server.add("f.bin", data)  # sends an ETag the copy was never recorded with
    (tmp_path / "f.bin").write_bytes(random_bytes(3000))
    result = await aiodl.download(url, tmp_path)
    assert (result.ok, result.skipped) == (True, False)
    assert (tmp_path / "f.bin").read_bytes() == data


async def test_nginx_304_keeps_the_file_and_a_change_is_fetched(
    nginx: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = nginx
    old, new = random_bytes(5000), random_bytes(5000)
    (root / "f.bin").write_bytes(old)
    os.utime(root / "f.bin", (WHEN, WHEN))
    dest = tmp_path / "d"
    first = await aiodl.download(f"{base}/f.bin", dest)
    assert first.ok
    assert os.stat(dest / "f.bin").st_mtime == WHEN
    kept = await aiodl.download(f"{base}/f.bin", dest)
    assert (kept.ok, kept.skipped, kept.unverified) == (True, True, False), kept
    (root / "f.bin").write_bytes(new)  # same size, new bytes, new time
    os.utime(root / "f.bin", (WHEN + 3600, WHEN + 3600))
    again = await aiodl.download(f"{base}/f.bin", dest)
    assert (again.ok, again.skipped) == (True, False), f"{base}/f.bin changed, yet was kept"
    assert (dest / "f.bin").read_bytes() == new
    assert os.stat(dest / "f.bin").st_mtime == WHEN + 3600


async def test_ftp_file_changed_in_place_with_the_same_size_is_fetched_again(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    old, new = random_bytes(5000), random_bytes(5000)
    (ftp.root / "f.bin").write_bytes(old)
    os.utime(ftp.root / "f.bin", (WHEN, WHEN))
    dest = tmp_path / "d"
    assert (await aiodl.download(ftp.url("f.bin"), dest)).ok
    assert os.stat(dest / "f.bin").st_mtime == WHEN
    assert (await aiodl.download(ftp.url("f.bin"), dest)).skipped
    (ftp.root / "f.bin").write_bytes(new)
    os.utime(ftp.root / "f.bin", (WHEN + 60, WHEN + 60))
    result = await aiodl.download(ftp.url("f.bin"), dest)
    assert (result.ok, result.skipped) == (True, False), "FTP file changed, yet was kept"
    assert (dest / "f.bin").read_bytes() == new


async def test_a_304_keeps_the_file_and_no_body_is_sent(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(300_000)
    url = http_server.add("f.bin", data, conditional=True)
    assert (await aiodl.download(url, tmp_path)).ok
    sent = http_server.sent["f.bin"]
    again = await aiodl.download(url, tmp_path)
    assert (again.ok, again.skipped, again.unverified) == (True, True, False), again
    assert http_server.sent["f.bin"] == sent, f"{url}: the rerun was sent the body again"
    assert len(http_server.requests_for("f.bin")) == 2  # one conditional request
    assert (tmp_path / "f.bin").read_bytes() == data
