"""The writer against the real file system: containment, locking, commit and discard."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from aiodl import DownloadError, IntegrityError, UnsafePathError
from aiodl._digests import Checksum
from aiodl._disk.folders import Folders
from aiodl._disk.names import part_name
from aiodl._disk.partfile import PartFile, _drop_written, open_part
from aiodl._disk.ranges import RangeSet
from aiodl._disk.validators import Validators

pytestmark = pytest.mark.anyio


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[Folders]:
    opened = Folders(tmp_path)
    yield opened
    opened.close()


def part_in(folders: Folders, name: str = "f.bin", sync_every: int | None = None) -> PartFile:
    """A part file for ``name`` straight in dest (not opened yet)."""
    return PartFile(folders.open(()), name, sync_every)


def test_nested_target_is_created_inside_dest(tmp_path: Path, folders: Folders) -> None:
    target, part = open_part(folders, PurePosixPath("a/b/c.bin"), 3, overwrite=False)
    assert part is not None
    assert target == tmp_path / "a" / "b" / "c.bin"
    assert part.path == tmp_path / "a" / "b" / part_name("c.bin")
    assert part.path.is_file()
    part.discard()
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_symlinked_folder_is_refused_before_mkdir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    folders = Folders(dest)
    with pytest.raises(UnsafePathError):
        open_part(folders, PurePosixPath("link/new/file.bin"), 3, overwrite=False)
    folders.close()
    assert list(outside.iterdir()) == []


def test_file_in_place_of_folder_is_refused(tmp_path: Path, folders: Folders) -> None:
    (tmp_path / "a").write_text("not a folder")
    with pytest.raises(UnsafePathError):
        open_part(folders, PurePosixPath("a/b.bin"), 3, overwrite=False)


def test_seal_and_install_write_final_file_and_remove_part(folders: Folders) -> None:
    target, part = open_part(folders, PurePosixPath("f.bin"), 6, overwrite=False)
    assert part is not None
    assert not target.exists()
    part.write(3, [b"def"])
    part.write(0, [b"a", b"bc"])
    part.seal(6, Validators(modified=1_600_000_000.5))
    assert not target.exists()
    part.install()
    assert target.read_bytes() == b"abcdef"
    assert target.stat().st_mtime == 1_600_000_000.5
    assert not part.path.exists()


def test_seal_with_wrong_size_leaves_no_final_file(tmp_path: Path, folders: Folders) -> None:
    _, part = open_part(folders, PurePosixPath("f.bin"), None, overwrite=False)
    assert part is not None
    part.write(0, [b"abc"])
    with pytest.raises(IntegrityError):
        part.seal(4)
    part.discard()
    assert list(tmp_path.iterdir()) == []


def test_complete_target_needs_no_part(tmp_path: Path, folders: Folders) -> None:
    (tmp_path / "f.bin").write_bytes(b"abc")
    target, part = open_part(folders, PurePosixPath("f.bin"), 3, overwrite=False)
    assert part is None
    assert target.read_bytes() == b"abc"


@pytest.mark.parametrize("right", [True, False])
def test_a_complete_target_is_hashed_when_its_digest_is_known(
    tmp_path: Path, folders: Folders, right: bool
) -> None:
    """Same size is not enough when the digest is known: other bytes get a part file
    (the target stays as it is until the rename), the right bytes none."""
    (tmp_path / "f.bin").write_bytes(b"abc")
    digest = hashlib.sha256(b"abc" if right else b"xyz").hexdigest()
    expected = Checksum("sha256", digest)
    _, part = open_part(folders, PurePosixPath("f.bin"), 3, overwrite=False, expected=expected)
    assert (part is None) is right
    assert (tmp_path / "f.bin").read_bytes() == b"abc"
    if part is not None:
        part.discard()


def test_second_writer_is_refused(folders: Folders) -> None:
    first = part_in(folders)
    first.open(10)
    second = part_in(folders)
    with pytest.raises(DownloadError, match="another process"):
        second.open(10)
    first.discard()


@pytest.mark.parametrize("resume", [False, True])
def test_symlinked_part_file_is_not_followed(
    tmp_path: Path, folders: Folders, resume: bool
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / part_name("f.bin")).symlink_to(victim)
    with pytest.raises(UnsafePathError):
        part_in(folders).open(10, keep=RangeSet([(0, 4)]) if resume else None)
    assert victim.read_text() == "keep"


@pytest.mark.parametrize("resume", [False, True])
def test_hard_linked_part_file_is_not_written(
    tmp_path: Path, folders: Folders, resume: bool
) -> None:
    """A second name for the part file (a hard link, maybe to a file elsewhere): opening
    it to write would truncate that file too, resuming would fill it."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me!!!")
    os.link(victim, tmp_path / part_name("f.bin"))
    with pytest.raises(UnsafePathError, match="hard link"):
        part_in(folders).open(10, keep=RangeSet([(0, 4)]) if resume else None)
    assert victim.read_bytes() == b"keep me!!!"


def test_a_part_file_left_by_an_earlier_run_is_started_over(
    tmp_path: Path, folders: Folders
) -> None:
    (tmp_path / part_name("f.bin")).write_bytes(b"stale bytes")
    part = part_in(folders)
    part.open(4)
    assert not part.reused
    assert part.path.read_bytes() == bytes(4)
    part.discard()


def test_preallocation_reserves_the_size(folders: Folders) -> None:
    part = part_in(folders)
    part.open(1 << 20)
    assert part.path.stat().st_size == 1 << 20
    part.discard()
    assert not part.path.exists()


@pytest.mark.parametrize(
    ("written", "left"),
    [(0, [b"ab", b"cd"]), (1, [b"b", b"cd"]), (2, [b"cd"]), (3, [b"d"]), (4, [])],
)
def test_short_writes_resume_at_the_right_byte(written: int, left: list[bytes]) -> None:
    assert _drop_written([b"ab", b"cd"], written) == left


async def test_durable_ranges_are_reported_after_the_flush(folders: Folders) -> None:
    """The journal may only hear of bytes written before a finished fdatasync."""
    part = part_in(folders, sync_every=4)
    part.open(100)
    reported: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
    part.on_checkpoint = lambda durable, written: reported.append((list(durable), list(written)))
    part.write(10, [b"abcd"])  # 4 bytes due: a flush starts in a thread
    part.write(50, [b"ef"])  # written while that flush runs: not part of it
    await part.settle()
    await asyncio.sleep(0)  # the done-callback runs on the loop
    assert reported == [([(10, 14)], [(10, 14), (50, 52)])]  # durable, written
    part.discard()


def test_resuming_keeps_bytes_of_the_right_size_only(folders: Folders) -> None:
    part = part_in(folders)
    part.open(8)
    part.write(0, [b"abcd"])
    part.close()
    kept = part_in(folders)
    kept.open(8, keep=RangeSet([(0, 4)]))
    assert list(kept.reused) == [(0, 4)]
    assert kept.path.read_bytes()[:4] == b"abcd"
    kept.close()
    other_size = part_in(folders)
    other_size.open(9, keep=RangeSet([(0, 4)]))
    assert not other_size.reused
    assert other_size.path.read_bytes() == bytes(9)
    other_size.discard()
