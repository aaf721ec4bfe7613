"""What one file's download is given: the job, the engine services it uses, and the
checks of a size against what the request and the run allow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from .._config import Config
from .._credentials import mask_url
from .._disk.journal import Checkpoint
from .._exceptions import DownloadError, IntegrityError
from .._models import Request
from .._pacing.bucket import Throttle
from .._protocols.driver import Endpoint, RemoteFile
from .._protocols.entries import Entry
from .transfer import TransferOptions


@dataclass
class Job:
    """One file to fetch: what was asked, its masked URL, and where it is going.

    ``listed`` is what a folder listing said of it (size and time known before connecting);
    ``refused`` is set for an entry that is a failure before any request (an unsafe name).
    """

    request: Request
    url: str
    listed: Entry | None = None
    refused: DownloadError | None = None
    number: int = -1  # the file's number in this run (events carry it as ``index``)
    position: int = -1  # the position of its source among the sources given
    path: Path | None = None


@dataclass
class Claim:
    """A target taken by one download of a run: by which URL, and when it is free."""

    url: str
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Targets:
    """The targets being written in one run, right now (bounded by the connections, so
    memory stays flat). The same URL twice waits for the first copy (and then finds it
    complete); another endpoint naming a taken target is refused: one file would silently
    replace the other, and both Results would say ok. A target finished earlier in the
    run is a file already there, as on a rerun. A claim covers the target's part file
    too: no final name is ever a part file's name (``part_name``)."""

    def __init__(self) -> None:
        self._taken: dict[Path, Claim] = {}

    async def claim(self, target: Path, url: str) -> Claim:
        while (claim := self._taken.get(target)) is not None:
            if claim.url != url:
                raise DownloadError(
                    f"{target.name} is already the target of {mask_url(claim.url)} in this "
                    "run; give one of them another name (Request.path, out=)"
                )
            await claim.done.wait()
        claim = self._taken[target] = Claim(url)
        return claim

    def release(self, target: Path) -> None:
        self._taken.pop(target).done.set()


def listed_info(endpoint: Endpoint, entry: Entry) -> RemoteFile:
    return RemoteFile(endpoint.url, entry.size, entry.size is not None, modified=entry.modified)


def check_announced_size(request: Request, info: RemoteFile, max_size: int | None) -> None:
    """Before anything is written: the announced size against the declared one and the cap."""
    if info.size is None:
        return
    if request.size is not None and request.size != info.size:
        raise IntegrityError(f"server reports {info.size} bytes, expected {request.size}")
    if max_size is not None and info.size > max_size:
        raise IntegrityError(f"server reports {info.size} bytes, above max_size ({max_size})")


def check_received_size(request: Request, size: int) -> None:
    """After a body of unknown length: the bytes that came against the declared size."""
    if request.size is not None and size != request.size:
        raise IntegrityError(f"received {size} bytes, expected {request.size}")


def body_cap(request: Request, max_size: int | None) -> tuple[int, str] | None:
    """How many bytes a body of unknown length may have (and why): the declared size,
    else ``max_size``."""
    if request.size is not None:
        return request.size, f"the {request.size} bytes the request declares"
    return None if max_size is None else (max_size, f"max_size ({max_size} bytes)")


def transfer_options(
    config: Config, throttle: Throttle | None, request: Request, info: RemoteFile, strict: bool
) -> TransferOptions:
    """How the run's settings shape the transfer of ``info`` (``strict``: mirrors must
    agree on the ETag too, when no digest will check the bytes)."""
    return TransferOptions(
        split=config.split,
        min_segment_size=config.min_segment_size,
        policy=config.retry_policy,
        strict=strict,
        cap=None if info.size is not None else body_cap(request, config.max_size),
        min_speed=config.min_speed,
        throttle=throttle,
    )


def as_remote(checkpoint: Checkpoint, url: str) -> RemoteFile:
    """The file as the journal knows it, for validating a resumed request."""
    return RemoteFile(
        url,
        checkpoint.size,
        True,
        etag=checkpoint.etag,
        last_modified=checkpoint.last_modified,
        modified=checkpoint.modified,
    )
