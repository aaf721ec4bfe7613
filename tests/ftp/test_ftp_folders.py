"""FTP folder URLs that name nothing, a folder named like a file, and patterns that match
nothing, against pyftpdlib and vsftpd on 127.0.0.1 (and the ``aiodl`` command)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import aiodl
from aiodl._protocols.ftp.wire import parse_pwd
from testing import require_vsftpd, run_cli
from testing.servers import vsftpd
from testing.servers.ftp import RunningFTP

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def vsftpd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """vsftpd serving ``pub/a.txt``; it answers LIST of a missing folder with an empty
    listing and 226, so only entering the folder tells it is not there."""
    require_vsftpd()
    root = tmp_path_factory.mktemp("vsftpd-folders")
    root.chmod(0o755)
    (root / "pub").mkdir(mode=0o755)
    (root / "pub" / "a.txt").write_bytes(b"a")
    with vsftpd.serve(root, tmp_path_factory.mktemp("vsftpd-folders-work")) as port:
        yield f"ftp://127.0.0.1:{port}"


@pytest.fixture
def pyftpdlib_url(ftp: RunningFTP) -> str:
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "a.txt").write_bytes(b"a")
    return f"ftp://127.0.0.1:{ftp.port}"


@pytest.fixture(params=["pyftpdlib", "vsftpd"])
def server(request: pytest.FixtureRequest) -> str:
    name = "pyftpdlib_url" if request.param == "pyftpdlib" else "vsftpd_url"
    url: str = request.getfixturevalue(name)
    return url


async def test_a_missing_folder_is_a_failed_result_with_the_servers_reply(
    server: str, tmp_path: Path
) -> None:
    url = f"{server}/nosuchdir/"
    [result] = await aiodl.download_many([url], tmp_path / "d", retries=0)
    assert isinstance(result.error, aiodl.FTPError)
    assert result.url == url
    assert "550" in str(result.error)
    assert "cannot enter the folder" in str(result.error)
    assert list((tmp_path / "d").iterdir()) == []


async def test_a_folder_url_without_its_slash_fails_with_a_hint(
    server: str, tmp_path: Path
) -> None:
    [result] = await aiodl.download_many([f"{server}/pub"], tmp_path / "d", retries=0)
    assert isinstance(result.error, aiodl.FTPError)
    assert f"{server}/pub is a folder: add a '/' at its end" in str(result.error)
    assert list((tmp_path / "d").iterdir()) == []


async def test_a_missing_file_gets_no_folder_hint(server: str, tmp_path: Path) -> None:
    [result] = await aiodl.download_many([f"{server}/pub/nope"], tmp_path / "d", retries=0)
    assert isinstance(result.error, aiodl.FTPError)
    assert "550" in str(result.error)
    assert "folder" not in str(result.error)


async def test_a_plain_file_costs_no_folder_check(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "f.txt").write_bytes(b"f")
    assert (await aiodl.download(ftp.url("f.txt"), tmp_path / "d")).ok
    assert ftp.log.count("CWD") == ftp.log.count("PWD") == 0


async def test_each_folder_is_entered_before_it_is_listed(ftp: RunningFTP, tmp_path: Path) -> None:
    for name in ("pub/a/x.txt", "pub/b/y.txt"):
        (ftp.root / name).parent.mkdir(parents=True, exist_ok=True)
        (ftp.root / name).write_bytes(b"x")
    results = await aiodl.download_many([ftp.url("pub/")], tmp_path / "d", connections=1)
    assert [r.ok for r in results] == [True, True]
    assert ftp.log.args("CWD")[:2] == ["pub", "/"]  # in, and back to the login folder
    assert ftp.log.count("MLSD") == 3
    assert ftp.log.count("CWD") == 2 * 3
    assert ftp.log.count("PWD") == 1  # once per connection


async def test_the_walk_tells_how_many_files_it_listed_and_matched(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "pub" / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.bz2", "sub/c.txt"):
        (ftp.root / "pub" / name).write_bytes(b"x")
    events: list[aiodl.Event] = []
    results = await aiodl.download_many(
        [ftp.url("pub/")], tmp_path / "d", include=["*.bz2"], progress=events.append
    )
    assert [r.ok for r in results] == [True]
    walks = [e for e in events if isinstance(e, aiodl.Listed)]
    assert walks == [aiodl.Listed(ftp.url("pub/"), folders=2, files=3, matched=1)]


async def test_cli_a_missing_folder_fails_and_exits_1(pyftpdlib_url: str, tmp_path: Path) -> None:
    code, _, err = await run_cli("-d", str(tmp_path), "--retries", "0", f"{pyftpdlib_url}/nope/")
    assert code == 1
    assert "0 ok, 1 failed" in err
    assert "cannot enter the folder" in err
    assert "Traceback" not in err


async def test_cli_summary_says_when_patterns_match_nothing(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "pub").mkdir()
    for i in range(20):
        (ftp.root / "pub" / f"f{i}.gz").write_bytes(b"x")
    code, _, err = await run_cli("-d", str(tmp_path), "--include", "*.bz2", ftp.url("pub/"))
    assert code == 0, err
    assert "0 ok, 0 failed" in err
    assert "20 listed, 0 matched --include '*.bz2'" in err


@pytest.mark.parametrize(
    ("reply", "folder"),
    [
        ('"/" is the current directory', "/"),
        ('"/home/a ""quoted"" name" is current', '/home/a "quoted" name'),
        ("no quotes here", None),
        ('""', None),
    ],
)
def test_parse_pwd(reply: str, folder: str | None) -> None:
    assert parse_pwd(reply) == folder
