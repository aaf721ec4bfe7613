"""The tree walk of ``ftp://host/dir/`` folders from a real pyftpdlib server on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import aiodl
from testing import sha, write_tree
from testing.servers.ftp import RunningFTP

pytestmark = pytest.mark.anyio

TREE = {
    "top.txt": 1000,
    "2026/01/a.bz2": 20_000,
    "2026/01/b.txt": 3000,
    "2026/02/c.bz2": 40_000,
    "2026/02/deep/er/d.bz2": 5000,
    "other/e.bin": 70_000,
}


def local_files(dest: Path) -> dict[str, str]:
    """Every file below ``dest``, relative path -> sha256."""
    return {
        path.relative_to(dest).as_posix(): sha(path.read_bytes())
        for path in dest.rglob("*")
        if path.is_file()
    }


async def test_nested_tree_is_mirrored_identically(ftp: RunningFTP, tmp_path: Path) -> None:
    files = write_tree(ftp.root / "pub", TREE)
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest, connections=4)
    assert all(r.ok for r in results)
    assert len(results) == len(TREE)
    assert local_files(dest) == {name: sha(data) for name, data in files.items()}
    assert {r.path for r in results} == {dest / name for name in TREE}


async def test_second_run_transfers_nothing(ftp: RunningFTP, tmp_path: Path) -> None:
    write_tree(ftp.root / "pub", TREE)
    dest = tmp_path / "d"
    await aiodl.download_many([ftp.url("pub/")], dest)
    ftp.log.commands.clear()
    ftp.log.data_connections = 0
    again = await aiodl.download_many([ftp.url("pub/")], dest)
    assert all(r.ok and r.skipped for r in again)
    assert ftp.log.count("RETR") == 0
    assert ftp.log.data_connections == ftp.log.count("MLSD")  # only the listings


async def test_saved_files_carry_the_servers_modification_time(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    write_tree(ftp.root / "pub", {"old.txt": 100})
    os.utime(ftp.root / "pub" / "old.txt", (1_600_000_000, 1_600_000_000))
    await aiodl.download_many([ftp.url("pub/")], tmp_path / "d")
    assert (tmp_path / "d" / "old.txt").stat().st_mtime == 1_600_000_000


async def test_changed_and_partial_files_are_fetched_again(ftp: RunningFTP, tmp_path: Path) -> None:
    files = write_tree(ftp.root / "pub", {"same.bin": 5000, "partial.bin": 5000, "new.bin": 10})
    dest = tmp_path / "d"
    await aiodl.download_many([ftp.url("pub/")], dest)
    (dest / "partial.bin").write_bytes(files["partial.bin"][:100])  # a crashed copy
    os.utime(ftp.root / "pub" / "new.bin", (1_700_000_000, 1_700_000_000))  # same size, newer
    ftp.log.commands.clear()
    results = await aiodl.download_many([ftp.url("pub/")], dest)
    fetched = {r.path.name for r in results if r.path is not None and not r.skipped}
    assert fetched == {"partial.bin", "new.bin"}
    assert sorted(ftp.log.args("RETR")) == ["pub/new.bin", "pub/partial.bin"]
    assert local_files(dest) == {name: sha(data) for name, data in files.items()}


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["*.bz2"], [], {"2026/01/a.bz2", "2026/02/c.bz2", "2026/02/deep/er/d.bz2"}),
        (["2026/01/*"], [], {"2026/01/a.bz2", "2026/01/b.txt"}),
        ([], ["*.bz2", "other/*"], {"top.txt", "2026/01/b.txt"}),
        (["*.bz2"], ["2026/02/deep/*"], {"2026/01/a.bz2", "2026/02/c.bz2"}),
    ],
)
async def test_include_and_exclude_patterns(
    ftp: RunningFTP, tmp_path: Path, include: list[str], exclude: list[str], expected: set[str]
) -> None:
    write_tree(ftp.root / "pub", TREE)
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest, include=include, exclude=exclude)
    assert all(r.ok for r in results)
    assert set(local_files(dest)) == expected
    assert ftp.log.count("RETR") == len(expected)


async def test_request_path_names_the_local_folder(ftp: RunningFTP, tmp_path: Path) -> None:
    write_tree(ftp.root / "pub", {"x/y.txt": 10})
    dest = tmp_path / "d"
    results = await aiodl.download_many([aiodl.Request(ftp.url("pub/"), "mirror/here")], dest)
    assert [r.path for r in results] == [dest / "mirror" / "here" / "x" / "y.txt"]


async def test_mirror_takes_its_place_among_other_sources(ftp: RunningFTP, tmp_path: Path) -> None:
    write_tree(ftp.root / "pub", {"b.txt": 10, "a.txt": 20})
    (ftp.root / "first.txt").write_bytes(b"first")
    (ftp.root / "last.txt").write_bytes(b"last")
    urls = [ftp.url("first.txt"), ftp.url("pub/"), ftp.url("last.txt")]
    results = await aiodl.download_many(urls, tmp_path / "d")
    names = [r.path.name if r.path else None for r in results]
    assert names == ["first.txt", "a.txt", "b.txt", "last.txt"]


async def test_first_download_starts_before_the_walk_ends(ftp: RunningFTP, tmp_path: Path) -> None:
    """The work list is a stream: files start while folders remain to be listed."""
    write_tree(ftp.root / "pub", {f"d{i:02}/f.txt": 100 for i in range(20)})
    listed_at_first_start: list[int] = []

    def on_event(event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Started) and not listed_at_first_start:
            listed_at_first_start.append(ftp.log.count("MLSD"))

    results = await aiodl.download_many(
        [ftp.url("pub/")], tmp_path / "d", connections=2, progress=on_event
    )
    assert len(results) == 20
    assert ftp.log.count("MLSD") == 21
    assert listed_at_first_start[0] < 21


@pytest.mark.parametrize("style", ["unix", "dos"])
async def test_list_is_used_when_mlsd_is_missing(
    ftp: RunningFTP, tmp_path: Path, style: str
) -> None:
    files = write_tree(ftp.root / "pub", TREE)
    ftp.faults.unsupported = {"MLSD"}
    ftp.faults.list_style = style  # type: ignore[assignment]
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest)
    assert all(r.ok for r in results)
    assert local_files(dest) == {name: sha(data) for name, data in files.items()}
    assert ftp.log.count("MLSD") == 1  # refused once, not asked again on this server
    assert ftp.log.count("NLST") == 0


async def test_nlst_is_the_last_resort(ftp: RunningFTP, tmp_path: Path) -> None:
    """MLSD refused and LIST in a format nobody parses: names from NLST, and a name that
    answers SIZE is a file, the others folders."""
    files = write_tree(ftp.root / "pub", {"a.txt": 10, "sub/b.txt": 20})
    ftp.faults.unsupported = {"MLSD"}
    ftp.faults.listings = {"/pub": ["weird a.txt", "weird sub"], "/pub/sub": ["?? b.txt"]}
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest)
    assert all(r.ok for r in results)
    assert local_files(dest) == {name: sha(data) for name, data in files.items()}
    assert ftp.log.count("NLST") == 2


async def test_hostile_listing_names_are_refused(ftp: RunningFTP, tmp_path: Path) -> None:
    """Names that climb out, are absolute, or are symlinks become failed Results with
    UnsafePathError; nothing is written outside dest and no RETR is sent for them."""
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "good.txt").write_bytes(b"good")
    ftp.faults.listings["/pub"] = [
        "type=file;size=4; ../escape.txt",
        "type=file;size=4; /etc/passwd",
        "type=file;size=4; ..",
        "type=OS.unix=slink:/etc;size=4; link",
        "type=dir; ../../up",
        "type=file;size=4; good.txt",
    ]
    dest = tmp_path / "d"
    results = await aiodl.download_many([ftp.url("pub/")], dest)
    refused = [r for r in results if not r.ok]
    assert len(refused) == 5
    assert all(isinstance(r.error, aiodl.UnsafePathError) for r in refused)
    assert all(r.path is None for r in refused)
    assert [r.path for r in results if r.ok] == [dest / "good.txt"]
    assert ftp.log.args("RETR") == ["pub/good.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "served"]
    assert local_files(dest) == {"good.txt": sha(b"good")}


async def test_listing_failure_of_one_folder_is_a_failed_result(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    (ftp.root / "pub").mkdir()
    (ftp.root / "pub" / "ok.txt").write_bytes(b"ok")
    ftp.faults.listings["/pub"] = ["type=dir; missing", "type=file;size=2; ok.txt"]
    results = await aiodl.download_many([ftp.url("pub/")], tmp_path / "d", backoff=0.01)
    assert [r.ok for r in results] == [True, False]  # a folder's files, then its subfolders
    assert isinstance(results[1].error, aiodl.FTPError)
    assert results[1].url.endswith("/pub/missing/")


async def test_credentials_never_appear_in_mirror_results(ftp: RunningFTP, tmp_path: Path) -> None:
    (ftp.root / "pub").mkdir()
    ftp.faults.listings["/pub"] = ["type=file;size=4; ../x"]
    url = ftp.url("pub/", user="alice:wonder")
    results = await aiodl.download_many([url], tmp_path / "d")
    assert results[0].error is not None
    assert "wonder" not in results[0].url
    assert "wonder" not in str(results[0].error)
