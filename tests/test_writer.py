"""The writer against the real file system: containment, locking, commit and discard."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

import pytest

from aiodl import DownloadError, IntegrityError, UnsafePathError
from aiodl._ranges import RangeSet
from aiodl._writer import PartFile, _drop_written, open_part, resolve_target

pytestmark = pytest.mark.anyio


def test_nested_target_is_created_inside_dest(tmp_path: Path) -> None:
    target = resolve_target(tmp_path, PurePosixPath("a/b/c.bin"))
    assert target == tmp_path.resolve() / "a" / "b" / "c.bin"
    assert target.parent.is_dir()


def test_symlinked_folder_is_refused_before_mkdir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        resolve_target(dest, PurePosixPath("link/new/file.bin"))
    assert list(outside.iterdir()) == []


def test_file_in_place_of_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("not a folder")
    with pytest.raises(UnsafePathError):
        resolve_target(tmp_path, PurePosixPath("a/b.bin"))


def test_seal_and_install_write_final_file_and_remove_part(tmp_path: Path) -> None:
    target, part = open_part(tmp_path, PurePosixPath("f.bin"), 6, overwrite=False)
    assert part is not None
    assert not target.exists()
    part.write(3, [b"def"])
    part.write(0, [b"a", b"bc"])
    part.seal(6, modified=1_600_000_000.5)
    assert not target.exists()
    part.install()
    assert target.read_bytes() == b"abcdef"
    assert target.stat().st_mtime == 1_600_000_000.5
    assert not part.path.exists()


def test_seal_with_wrong_size_leaves_no_final_file(tmp_path: Path) -> None:
    _, part = open_part(tmp_path, PurePosixPath("f.bin"), None, overwrite=False)
    assert part is not None
    part.write(0, [b"abc"])
    with pytest.raises(IntegrityError):
        part.seal(4)
    part.discard()
    assert list(tmp_path.iterdir()) == []


def test_complete_target_needs_no_part(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"abc")
    target, part = open_part(tmp_path, PurePosixPath("f.bin"), 3, overwrite=False)
    assert part is None
    assert target.read_bytes() == b"abc"


def test_second_writer_is_refused(tmp_path: Path) -> None:
    first = PartFile(tmp_path / "f.bin")
    first.open(10)
    second = PartFile(tmp_path / "f.bin")
    with pytest.raises(DownloadError, match="another process"):
        second.open(10)
    first.discard()


def test_symlinked_part_file_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "f.bin.part").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        PartFile(tmp_path / "f.bin").open(10)
    assert victim.read_text() == "keep"


def test_preallocation_reserves_the_size(tmp_path: Path) -> None:
    part = PartFile(tmp_path / "f.bin")
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


async def test_durable_ranges_are_reported_after_the_flush(tmp_path: Path) -> None:
    """The journal may only hear of bytes written before a finished fdatasync."""
    part = PartFile(tmp_path / "f.bin", sync_every=4)
    part.open(100)
    reported: list[list[tuple[int, int]]] = []
    part.on_durable = lambda ranges: reported.append(list(ranges))
    part.write(10, [b"abcd"])  # 4 bytes due: a flush starts in a thread
    part.write(50, [b"ef"])  # written while that flush runs: not part of it
    await part.settle()
    await asyncio.sleep(0)  # the done-callback runs on the loop
    assert reported == [[(10, 14)]]
    part.discard()


def test_resuming_keeps_bytes_of_the_right_size_only(tmp_path: Path) -> None:
    part = PartFile(tmp_path / "f.bin")
    part.open(8)
    part.write(0, [b"abcd"])
    part.close()
    kept = PartFile(tmp_path / "f.bin")
    kept.open(8, keep=RangeSet([(0, 4)]))
    assert list(kept.reused) == [(0, 4)]
    assert kept.path.read_bytes()[:4] == b"abcd"
    kept.close()
    other_size = PartFile(tmp_path / "f.bin")
    other_size.open(9, keep=RangeSet([(0, 4)]))
    assert not other_size.reused
    assert other_size.path.read_bytes() == bytes(9)
    other_size.discard()
