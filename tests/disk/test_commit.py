"""Group commit (aiodl._disk.commit) against the real file system."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from aiodl import IntegrityError
from aiodl._disk.commit import Committer
from aiodl._disk.folders import Folders
from aiodl._disk.partfile import PartFile, open_part

pytestmark = pytest.mark.anyio


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[Folders]:
    opened = Folders(tmp_path)
    yield opened
    opened.close()


def written(folders: Folders, name: str, data: bytes) -> PartFile:
    _, part = open_part(folders, PurePosixPath(name), len(data), overwrite=False)
    assert part is not None
    part.write(0, [data])
    return part


@pytest.mark.parametrize("sync", [True, False])
async def test_many_files_commit_together(tmp_path: Path, folders: Folders, sync: bool) -> None:
    committer = Committer(sync)
    parts = [written(folders, f"f{i}", bytes([i]) * (i + 1)) for i in range(20)]
    await asyncio.gather(*(committer.commit(part, i + 1, None) for i, part in enumerate(parts)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"f{i}" for i in range(20))
    for i in range(20):
        assert (tmp_path / f"f{i}").read_bytes() == bytes([i]) * (i + 1)


async def test_one_bad_file_does_not_fail_its_group(tmp_path: Path, folders: Folders) -> None:
    committer = Committer(sync=True)
    good, bad = written(folders, "good", b"12345"), written(folders, "bad", b"123")
    results = await asyncio.gather(
        committer.commit(good, 5, None), committer.commit(bad, 4, None), return_exceptions=True
    )
    assert results[0] is None
    assert isinstance(results[1], IntegrityError)
    assert (tmp_path / "good").read_bytes() == b"12345"
    assert not (tmp_path / "bad").exists()
    bad.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good"]


async def test_cancelled_commit_waits_for_its_flush_and_installs_nothing(
    tmp_path: Path, folders: Folders
) -> None:
    """The worker thread uses the descriptor until the flush is over: the cancellation
    is raised only then, nothing reaches the final path, and cleanup can discard."""
    committer = Committer(sync=True)
    part = written(folders, "f", b"data")
    task = asyncio.create_task(committer.commit(part, 4, None))
    await asyncio.sleep(0)  # the flush has started in its thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (tmp_path / "f").exists()
    part.discard()  # what the engine's cleanup does
    assert list(tmp_path.iterdir()) == []
