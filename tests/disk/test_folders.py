"""The destination's folder descriptors (aiodl._disk.folders) and part-file names, against
the real file system: bounded, never closed under a part file, re-checked by name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiodl
from aiodl import UnsafePathError
from aiodl._disk.folders import Folders
from aiodl._disk.journal import FOLDER
from aiodl._disk.names import part_name, sanitize_name
from aiodl._disk.partfile import open_part
from testing import random_bytes
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


def held_below(folder: Path) -> list[str]:
    """What this process holds open below ``folder`` (``folder`` itself included)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == str(folder) or target.startswith(f"{folder}/"):
            held.append(target)
    return held


@pytest.fixture
def few(tmp_path: Path) -> Iterator[Folders]:
    folders = Folders(tmp_path, keep=4)
    yield folders
    folders.close()


def test_open_folders_stay_bounded(tmp_path: Path, few: Folders) -> None:
    for i in range(50):
        few.open((f"d{i}", "inner")).release()
    assert len(held_below(tmp_path)) <= 4 + 1  # the bound, and dest itself
    few.close()
    assert held_below(tmp_path) == []


def test_a_folder_a_part_file_holds_is_not_closed_by_the_bound(
    tmp_path: Path, few: Folders
) -> None:
    _, part = open_part(few, PurePosixPath("kept/f.bin"), 3, overwrite=False)
    assert part is not None
    for i in range(20):
        few.open((f"other{i}",)).release()
    part.write(0, [b"abc"])
    part.seal(3)
    part.install()
    assert (tmp_path / "kept" / "f.bin").read_bytes() == b"abc"


def test_a_folder_swapped_after_it_was_opened_is_looked_up_again(
    tmp_path: Path, few: Folders
) -> None:
    few.open(("sub",)).release()
    (tmp_path / "sub").rename(tmp_path / "moved")
    (tmp_path / "sub").mkdir()
    folder = few.open(("sub",))
    assert os.fstat(folder.fd).st_ino == (tmp_path / "sub").stat().st_ino
    folder.release()
    (tmp_path / "sub").rmdir()
    (tmp_path / "sub").symlink_to(tmp_path / "moved")
    with pytest.raises(UnsafePathError, match="sub"):
        few.open(("sub",))


async def test_a_run_leaves_no_descriptor_open(http_server: FaultServer, tmp_path: Path) -> None:
    requests = [
        aiodl.Request(http_server.add(f"f{i}", random_bytes(100)), f"d{i % 7}/e{i % 3}/f{i}")
        for i in range(30)
    ]
    results = await aiodl.download_many(requests, tmp_path / "dest")
    assert all(r.ok for r in results)
    assert held_below(tmp_path / "dest") == []


names = st.text(min_size=1, max_size=300).filter(lambda name: "/" not in name and "\0" not in name)


@given(names)
def test_part_names_fit_and_no_final_name_is_one(raw: str) -> None:
    try:
        name = sanitize_name(raw)
    except UnsafePathError:
        return
    part = part_name(name)
    assert len(part.encode()) <= 255
    assert part.startswith(".")
    assert part != FOLDER
    assert not name.startswith(".")  # so no final name is ever a part file's


@given(st.lists(names, min_size=2, max_size=6, unique=True))
def test_different_names_have_different_part_files(raws: list[str]) -> None:
    finals = set()
    for raw in raws:
        try:
            finals.add(sanitize_name(raw))
        except UnsafePathError:
            continue
    assert len({part_name(name) for name in finals}) == len(finals)


def test_a_long_name_and_a_short_one_never_share_a_part_file() -> None:
    """A server that knows a long name's part file names its own file so that its part
    file would be the same: the long form's suffix is one no short form has."""
    long = "x" * 250
    crafted = part_name(long)[1:].removesuffix("-long").removesuffix(".aiodl-part")
    assert len(part_name(crafted).encode()) <= 255
    assert part_name(crafted) != part_name(long)
