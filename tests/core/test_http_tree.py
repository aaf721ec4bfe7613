"""HTTP(S) folder trees walked like FTP folders (wget -r -np): real autoindex pages from
nginx, apache2, lighttpd and python's http.server (tests/servers/autoindex.py), and
hostile or odd pages from the aiohttp FaultServer.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

import aiodl
from aiodl._core import treewalk
from aiodl._models import Result
from testing import sha, write_tree
from testing.servers import autoindex
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio
TREE = {
    "tree/a.txt": 100,
    "tree/sub dir/b c.txt": 2000,
    "tree/sub dir/deeper/z.bin": 70_000,
    "tree/é/ü.txt": 10,
    "tree/logs/skip.log": 50,
    "outside.txt": 5,  # beside the tree: never fetched
}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Path, dict[str, bytes]]]:
    with autoindex.readable_root() as root:
        yield root, write_tree(root, TREE)


@pytest.fixture(scope="module", params=sorted(autoindex.SERVERS))
def server(
    request: pytest.FixtureRequest,
    served: tuple[Path, dict[str, bytes]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    work = tmp_path_factory.mktemp(f"{request.param}-work")
    with autoindex.serve(request.param, served[0], work) as base:
        yield base


def saved(dest: Path) -> dict[str, str]:
    return {
        p.relative_to(dest).as_posix(): sha(p.read_bytes()) for p in dest.rglob("*") if p.is_file()
    }


def wanted(files: dict[str, bytes], *names: str) -> dict[str, str]:
    return {name: sha(files[f"tree/{name}"]) for name in names}


async def test_a_tree_is_mirrored_and_a_rerun_skips_it(
    server: str, served: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    files = served[1]
    results = await aiodl.download_many([f"{server}/tree/"], tmp_path)
    assert [r.error for r in results] == [None] * 5
    everything = ("a.txt", "sub dir/b c.txt", "sub dir/deeper/z.bin", "é/ü.txt", "logs/skip.log")
    assert saved(tmp_path) == wanted(files, *everything)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    again = await aiodl.download_many([f"{server}/tree/"], tmp_path)
    assert len(again) == 5
    assert all(r.ok and r.skipped for r in again)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == stamps


async def test_include_and_exclude(
    server: str, served: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """The issue's case: ``--include`` on apache's folder saved its page as a file."""
    files = served[1]
    url = f"{server}/tree/"
    results = await aiodl.download_many([url], tmp_path, include=["*.txt"], exclude=["b *"])
    assert all(r.ok for r in results)
    assert saved(tmp_path) == wanted(files, "a.txt", "é/ü.txt")
    deep = tmp_path / "deep"
    await aiodl.download_many([aiodl.Request(url, "mirror")], deep, include=["sub dir/*/*.bin"])
    assert saved(deep) == {
        "mirror/" + k: v for k, v in wanted(files, "sub dir/deeper/z.bin").items()
    }


@pytest.fixture(scope="module")
def nginx(
    served: tuple[Path, dict[str, bytes]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with autoindex.serve("nginx", served[0], tmp_path_factory.mktemp("nginx-cli")) as base:
        yield base


async def test_the_cli_walks_a_folder_url(
    nginx: str, served: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", "-d", str(tmp_path),
        "--include", "*.bin", "--include", "*.log", f"{nginx}/tree/",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err
    assert saved(tmp_path) == wanted(served[1], "sub dir/deeper/z.bin", "logs/skip.log")


def page(*hrefs: str) -> bytes:
    return "".join(f'<a href="{href}">{href}</a><br>\n' for href in hrefs).encode()


@pytest.fixture
async def other() -> AsyncIterator[FaultServer]:
    async with running() as server:
        yield server


async def test_a_hostile_page_cannot_lead_out_of_the_tree_or_dest(
    http_server: FaultServer, other: FaultServer, tmp_path: Path
) -> None:
    port = http_server.port
    http_server.add("outside.txt", b"outside")
    http_server.add("abs/outside", b"outside")
    http_server.add("h/ok.txt", b"ok")
    http_server.add("h/.ok.txt.aiodl-part", b"trap")
    http_server.add("h/sub/in.txt", b"in")
    other.add("h/x", b"elsewhere")
    http_server.add(
        "h/",
        page(
            "../outside.txt",
            "./../outside.txt",
            "%2e%2e/outside.txt",
            "..%2foutside.txt",
            "/abs/outside",
            "/outside.txt",
            other.url("h/x"),
            f"http://localhost:{port}/h/x",
            "?C=M;O=A",
            "?C=N;O=D",
            "#top",
            "./",
            "/h/",
            "sub/../",
            "mailto:a@b",
            "javascript:x()",
            "ok.txt",
            ".ok.txt.aiodl-part",
            "sub/",
        ),
        headers=HTML,
    )
    http_server.add("h/sub/", page("../", "/h/", "./", "in.txt", "../sub/"), headers=HTML)
    dest = tmp_path / "dest"
    results = await aiodl.download_many([http_server.url("h/")], dest)
    assert all(r.ok for r in results), [r.error for r in results]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "ok.txt", "ok.txt.aiodl-part", "sub", "sub/in.txt"
    ]  # fmt: skip
    assert list(tmp_path.iterdir()) == [dest]
    asked = sorted({seen.path for seen in http_server.seen})
    assert asked == ["/h/", "/h/.ok.txt.aiodl-part", "/h/ok.txt", "/h/sub/", "/h/sub/in.txt"]
    assert other.seen == []


async def test_an_endless_tree_stops_at_the_depth_limit(
    http_server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose every folder holds another (a symlink loop on its disk) is walked
    down to the depth limit, as an FTP one is; the files found on the way are fetched."""
    monkeypatch.setattr(treewalk, "MAX_DEPTH", 3)
    for depth in range(6):
        folder = "e/" + "d/" * depth
        http_server.add(folder, page("d/", "f.txt", "./", "../"), headers=HTML)
        http_server.add(folder + "f.txt", b"f")
    results = await aiodl.download_many([http_server.url("e/")], tmp_path)
    [refused] = [r for r in results if not r.ok]
    assert len(results) == 5
    assert "deeper than 3 folders" in str(refused.error)
    assert len(list(tmp_path.rglob("f.txt"))) == 4


async def test_a_folder_url_that_is_not_html_is_saved_as_a_file(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """What curl and wget (without -r) do with it: the body, named from
    Content-Disposition or the URL."""
    http_server.add("data/", b'{"a": 1}', headers={"Content-Type": "application/json"})
    http_server.add("named/", b"csv", content_disposition='attachment; filename="r.csv"')
    results = await aiodl.download_many(
        [http_server.url("data/"), http_server.url("named/")], tmp_path
    )
    assert [r.ok for r in results] == [True, True]
    assert (tmp_path / "data").read_bytes() == b'{"a": 1}'
    assert (tmp_path / "r.csv").read_bytes() == b"csv"


async def test_a_link_to_a_folder_that_is_not_html_fails_alone(
    http_server: FaultServer, tmp_path: Path
) -> None:
    http_server.add("t/", page("odd/", "f.txt"), headers=HTML)
    http_server.add("t/odd/", b"binary")
    http_server.add("t/f.txt", b"f")
    results = await aiodl.download_many([http_server.url("t/")], tmp_path)
    failed = [r for r in results if not r.ok]
    assert [r.url for r in failed] == [http_server.url("t/odd/")]
    assert str(failed[0].error).startswith("not a folder listing: the server answered ")
    assert (tmp_path / "f.txt").read_bytes() == b"f"


async def test_redirects_of_a_folder(
    http_server: FaultServer, other: FaultServer, tmp_path: Path
) -> None:
    """To its own index page: walked there. To another origin: the tree stops, saying
    where it went."""
    http_server.add("r/", b"", redirect_to=http_server.url("r/index.html"))
    http_server.add("r/index.html", page("f.txt", "index.html"), headers=HTML)
    http_server.add("r/f.txt", b"f")
    http_server.add("away/", b"", redirect_to=other.url("away/"))
    other.add("away/", page("x.txt"), headers=HTML)
    results = await aiodl.download_many([http_server.url("r/"), http_server.url("away/")], tmp_path)
    by_url = {r.url: r for r in results}
    assert by_url[http_server.url("r/f.txt")].ok
    refused = by_url[http_server.url("away/")]
    assert str(refused.error) == (
        f"the folder's listing redirected to {other.url('away/')}, outside the tree being "
        "walked; walk that URL itself if it is wanted"
    )
    assert other.requests_for("x.txt") == []


async def test_the_index_page_gets_the_runs_login_and_retries(
    http_server: FaultServer, tmp_path: Path
) -> None:
    login = "Basic dTpw"  # u:p
    http_server.add("p/", page("f.txt"), headers=HTML, authorization=login, statuses=[503])
    http_server.add("p/f.txt", b"secret", authorization=login)
    results = await aiodl.download_many(
        [http_server.url("p/")], tmp_path, auth=("u", "p"), backoff=0.01
    )
    assert [r.ok for r in results] == [True]
    assert (tmp_path / "f.txt").read_bytes() == b"secret"
    assert len(http_server.requests_for("p/")) == 2


async def test_an_https_tree(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with running(tls=context) as server:
        server.add("s/", page("a.bin", "in/"), headers=HTML)
        server.add("s/in/", page("b.bin"), headers=HTML)
        server.add("s/a.bin", b"a" * 1000)
        server.add("s/in/b.bin", b"b" * 2000)
        results: list[Result] = await aiodl.download_many(
            [server.url("s/")], tmp_path, verify=client
        )
    assert [r.ok for r in results] == [True, True]
    assert (tmp_path / "in" / "b.bin").read_bytes() == b"b" * 2000
