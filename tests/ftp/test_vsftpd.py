"""Integration: aiodl against Debian's vsftpd, a real production FTP server, on 127.0.0.1.

vsftpd has no MLSD (listings come from LIST), answers EPSV, REST and SIZE, and refuses a
client's connections past ``max_per_ip`` with 421. It must run as root. Where it is
missing these tests skip, unless ``AIODL_REQUIRE_INTEGRATION=1`` (set by ``.ci/run``,
which installs it) turns the skip into a failure, so CI can never pass without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiodl
from testing import MiB, require_vsftpd, sha, write_tree
from testing.servers import vsftpd

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
TREE = {
    "hsd/202611/22/00/B01.bz2": 30_000,
    "hsd/202611/22/00/B02.bz2": 31_000,
    "hsd/202611/22/00/README.txt": 100,
    "hsd/202611/23/12/B01.bz2": 32_000,
    "hsd/202611/23/12/deep/er/B03.bz2": 33_000,
    "big/large.bin": 24 * MiB + 3,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    require_vsftpd()
    root = tmp_path_factory.mktemp("vsftpd-root")
    root.chmod(0o755)  # vsftpd drops to the ftp user, which must read it
    return write_tree(root, TREE)


@pytest.fixture(scope="module")
def server(served: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.getbasetemp() / "vsftpd-root0"
    with vsftpd.serve(root, tmp_path_factory.mktemp("vsftpd-work")) as port:
        yield f"ftp://127.0.0.1:{port}"


async def test_mirror_with_include_and_a_second_run(
    server: str, served: dict[str, bytes], tmp_path: Path
) -> None:
    dest = tmp_path / "d"
    results = await aiodl.download_many([f"{server}/hsd/"], dest, include=["*.bz2"])
    wanted = {n.removeprefix("hsd/"): d for n, d in served.items() if n.endswith(".bz2")}
    assert [r.error for r in results] == [None] * len(wanted)
    got = {p.relative_to(dest).as_posix(): sha(p.read_bytes()) for p in dest.rglob("*.*")}
    assert got == {name: sha(data) for name, data in wanted.items()}
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*.bz2")}
    again = await aiodl.download_many([f"{server}/hsd/"], dest, include=["*.bz2"])
    assert all(r.ok and r.skipped for r in again)
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*.bz2")} == stamps


async def test_segmented_download(server: str, served: dict[str, bytes], tmp_path: Path) -> None:
    result = await aiodl.download(f"{server}/big/large.bin", tmp_path, split=8)
    assert result.ok
    assert sha((tmp_path / "large.bin").read_bytes()) == sha(served["big/large.bin"])


async def test_connection_limit_of_the_server(
    served: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """vsftpd with max_per_ip=2 answers 421 past two connections: every file still arrives."""
    root = tmp_path_factory.getbasetemp() / "vsftpd-root0"
    work = tmp_path / "work"
    with vsftpd.serve(root, work, max_per_ip=2) as port:
        requests = [aiodl.Request(f"ftp://127.0.0.1:{port}/{name}", name) for name in served]
        events: list[aiodl.Event] = []
        results = await aiodl.download_many(
            requests, tmp_path / "d", connections=8, per_host=8, split=8, backoff=0.05,
            progress=events.append,
        )  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    refused = [e for e in events if isinstance(e, aiodl.Retried) and "421" in e.reason]
    assert refused  # the server did turn connections away
    assert [r.error for r in results] == [None] * len(served)
    for result, data in zip(results, served.values(), strict=True):
        assert result.path is not None
        assert sha(result.path.read_bytes()) == sha(data)
