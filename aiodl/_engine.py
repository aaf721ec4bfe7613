"""The scheduler: a producer turns sources into jobs, bounded workers download them.

Everything runs on the caller's event loop. The producer pulls sources lazily and walks
folder URLs (FTP mirrors) as it goes, feeding a small queue, so a million sources or a
tree of a million files never become a million tasks and the first download starts after
the first listing. ``connections`` workers take jobs from the queue; each file holds one
connection slot for its first request and its extra segments take more slots as they are
free, under the global bound and a per-host bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlsplit

from ._commit import Committer, finish
from ._config import Config
from ._driver import Body, Driver, RemoteFile, Source, TreeDriver
from ._exceptions import DownloadError, IntegrityError
from ._limits import HostLimit, limited
from ._listing import Entry
from ._mirror import Found, Refused, TreeWalk, is_tree_url
from ._models import Advanced, Event, Finished, Request, Result, Retried, Started
from ._names import choose_name, sanitize_relative
from ._rules import mask_url
from ._transfer import Transfer, first_failure, retrying
from ._writer import PartFile, open_part, sync_folders

T = TypeVar("T")
log = logging.getLogger("aiodl")
# Background flushes every 64 MiB keep the disk busy during the transfer, not after it.
SYNC_EVERY = 64 << 20
# Files up to this size are created on the event loop, larger ones in a worker thread.
INLINE_OPEN = 1 << 20


def as_request(source: str | Request) -> Request:
    """Accept a URL string or a Request; anything else is a caller's bug."""
    if isinstance(source, Request):
        return source
    if isinstance(source, str):
        return Request(source)
    raise TypeError(f"sources must be URL strings or aiodl.Request, got {type(source).__name__}")


@dataclass
class _Job:
    """One file to fetch: what was asked, its masked URL, and where it is going.

    ``listed`` is what a folder listing said of it (size and time known before connecting);
    ``refused`` is set for an entry that is a failure before any request (an unsafe name).
    """

    request: Request
    url: str
    listed: Entry | None = None
    refused: DownloadError | None = None
    index: int = -1
    path: Path | None = None


class Engine:
    """Runs downloads for one ``download_many`` call, sharing connections and limits."""

    def __init__(self, config: Config, dest: Path, drivers: Mapping[str, Driver]) -> None:
        self._config = config
        self._dest = dest
        self._drivers = drivers
        self._slots = asyncio.Semaphore(config.connections)
        self._hosts: dict[str, HostLimit] = {}
        self._committer = Committer(config.sync)
        self._checked_folders: set[Path] = set()
        self._synced_folders: set[Path] = set()
        # Derived once per run, not per file: a run may hold millions of files.
        self._headers = {**config.headers, **config.auth_headers()}
        self._credentials = config.credential_names()
        self._emit: Callable[[Event], None] | None = (
            config.progress if callable(config.progress) else None
        )

    async def run(self, sources: Iterable[str | Request]) -> list[Result]:
        """Download every source; results in input order, a folder's files in its place."""
        results: dict[int, Result] = {}
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(self._config.connections)

        async def produce() -> None:
            index = 0
            for source in sources:
                async for job in self._jobs(as_request(source)):
                    job.index = index
                    index += 1
                    await queue.put(job)
            for _ in range(self._config.connections):
                await queue.put(None)

        async def work() -> None:
            while (job := await queue.get()) is not None:
                results[job.index] = await self.fetch(job)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                for _ in range(self._config.connections):
                    group.create_task(work())
        except BaseExceptionGroup as failures:
            raise first_failure(failures) from None
        finally:
            await self._blocking(partial(sync_folders, self._synced_folders))
        return [results[index] for index in range(len(results))]

    async def _jobs(self, request: Request) -> AsyncIterator[_Job]:
        """The jobs of one source: itself, or every file of the folder it names."""
        driver = self._drivers.get(urlsplit(request.url).scheme.lower())
        if not (is_tree_url(request.url) and isinstance(driver, TreeDriver)):
            yield _Job(request, mask_url(request.url))
            return
        try:
            base = sanitize_relative(request.path) if request.path else PurePosixPath()
        except DownloadError as error:
            yield _Job(request, mask_url(request.url), refused=error)
            return
        walk = TreeWalk(request.url, base, self._config.include, self._config.exclude)
        while (folder := walk.next_folder()) is not None:
            try:
                entries = await self._list(driver, folder.url)
            except DownloadError as error:
                yield self._refused(request, Refused(folder.url, error))
                continue
            for item in walk.listed(folder, entries):
                if isinstance(item, Found):
                    child = Request(item.url, item.path.as_posix(), headers=request.headers)
                    yield _Job(child, mask_url(item.url), listed=item.entry)
                else:
                    yield self._refused(request, item)

    def _refused(self, request: Request, item: Refused) -> _Job:
        url = mask_url(item.url)
        item.error.url = url
        log.warning("not fetching %s: %s", url, item.error)
        return _Job(Request(item.url, headers=request.headers), url, refused=item.error)

    async def _list(self, driver: TreeDriver, url: str) -> list[Entry]:
        """One folder listing, under the host's limits and the retry policy."""
        source = Source(url, self._headers, self._credentials, driver)
        host = self._host(url)
        async with self._slot(url):
            return await retrying(
                self._config.retry_policy,
                lambda: limited(host, lambda: driver.list_folder(source)),
                progress=lambda: 0,
                on_retry=self._retry_hook(None),
            )

    @staticmethod
    async def _blocking(call: Callable[[], T]) -> T:
        """Run a blocking file-system call in the loop's default thread pool, to its end
        even if the caller is cancelled meanwhile (plain ``run_in_executor``: measured
        cheaper per call than anyio.to_thread)."""
        return await finish(asyncio.get_running_loop().run_in_executor(None, call))

    async def fetch(self, job: _Job) -> Result:
        """Download one job; every failure becomes a Result, never an exception."""
        url = job.url
        try:
            if job.refused is not None:
                raise job.refused
            result = await self._download(job)
        except DownloadError as error:
            result = Result(url, job.path, ok=False, error=error)
        except OSError as error:
            message = f"local file error: {error.strerror or error} ({error.filename or ''})"
            result = Result(url, job.path, ok=False, error=DownloadError(message, url=url))
        if result.error is not None and job.refused is None:
            log.warning("failed %s: %s", url, result.error)
        self._report(Finished(job.index, result))
        return result

    async def _download(self, job: _Job) -> Result:
        source = self._source(job)
        async with self._slot(source.url):
            if job.listed is not None:
                return await self._download_listed(job, source, job.listed)
            probe = await self._probe(job, source, None)
            try:
                info = probe.info
                _check_expected_size(job.request, info)
                relative = choose_name(job.request.path, info.disposition, job.request.url)
                part = await self._stage(job, relative, info)
                if part is None:
                    return self._skipped(job, info)
                return await self._fill(job, source, part, info, probe)
            finally:
                await probe.aclose()

    async def _download_listed(self, job: _Job, source: Source, entry: Entry) -> Result:
        """A file from a folder listing: name, size and time are known before connecting,
        so a complete copy is skipped without opening any connection."""
        info = RemoteFile(source.url, entry.size, entry.size is not None, modified=entry.modified)
        part = await self._stage(job, choose_name(job.request.path, None, source.url), info)
        if part is None:
            return self._skipped(job, info)
        try:
            probe = await self._probe(job, source, info)
        except BaseException:
            part.discard()
            raise
        try:
            return await self._fill(job, source, part, info, probe)
        finally:
            await probe.aclose()

    async def _probe(self, job: _Job, source: Source, known: RemoteFile | None) -> Body:
        """The first request of a file: bytes from 0, retried under the host's limit."""
        host = self._host(source.url)
        return await retrying(
            self._config.retry_policy,
            lambda: limited(host, lambda: source.driver.open(source, 0, None, known)),
            progress=lambda: 0,
            on_retry=self._retry_hook(job.index),
        )

    async def _stage(self, job: _Job, relative: PurePosixPath, info: RemoteFile) -> PartFile | None:
        """Open the part file; None when a complete copy is already there.

        A small file is opened right here: a handful of metadata calls, where a thread hop
        each (GIL hand-offs included) cost a fifth of a small-file mirror's time. A large
        or unknown size goes to a thread, where a file system that emulates preallocation
        by writing zeros cannot stall the transfers.
        """
        opening = partial(
            open_part,
            self._dest,
            relative,
            info.size,
            modified=info.modified,
            overwrite=self._config.overwrite,
            sync_every=SYNC_EVERY if self._config.sync else None,
            checked=self._checked_folders,
        )
        if info.size is not None and info.size <= INLINE_OPEN:
            target, part = opening()
            job.path = target
            return part
        future = asyncio.get_running_loop().run_in_executor(None, opening)
        try:
            target, part = await finish(future)  # not _blocking: the result is needed below
        except asyncio.CancelledError:  # opened after all: nobody else will close it
            if not future.cancelled() and future.exception() is None:
                opened = future.result()[1]
                if opened is not None:
                    opened.discard()
            raise
        job.path = target
        return part

    def _skipped(self, job: _Job, info: RemoteFile) -> Result:
        log.info("skipped %s: %s is complete", job.url, job.path)
        return Result(job.url, job.path, ok=True, size=info.size, skipped=True)

    async def _fill(
        self, job: _Job, source: Source, part: PartFile, info: RemoteFile, probe: Body
    ) -> Result:
        """Fetch the bytes into ``part``, then check, sync and rename it into place."""
        assert job.path is not None
        try:
            self._report(Started(job.index, job.url, job.path, info.size))
            size = await self._transfer(job, source, part, info).run(probe)
            await part.settle()
            await self._committer.commit(part, size, info.modified)
            if self._config.sync:
                self._synced_folders.add(job.path.parent)
        except BaseException:
            part.discard()
            raise
        log.info("saved %s -> %s (%d bytes)", job.url, job.path, size)
        return Result(job.url, job.path, ok=True, size=size)

    def _transfer(self, job: _Job, source: Source, part: PartFile, info: RemoteFile) -> Transfer:
        config = self._config
        return Transfer(
            source=source,
            part=part,
            info=info,
            split=config.split,
            min_segment_size=config.min_segment_size,
            policy=config.retry_policy,
            slot=lambda: self._slot(source.url),
            host=self._host(source.url),
            on_retry=self._retry_hook(job.index),
            on_progress=self._progress_hook(job.index),
        )

    def _source(self, job: _Job) -> Source:
        request = job.request
        scheme = urlsplit(request.url).scheme.lower()
        driver = self._drivers.get(scheme)
        if driver is None:
            raise DownloadError(f"unsupported URL scheme {scheme!r}", url=job.url)
        headers = {**self._headers, **(request.headers or {})}
        return Source(request.url, headers, self._credentials, driver)

    def _host(self, url: str) -> HostLimit:
        host = urlsplit(url).netloc.lower()
        limit = self._hosts.get(host)
        if limit is None:
            limit = self._hosts[host] = HostLimit(self._config.per_host)
        return limit

    @asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        """One connection: the host's bound first, then the global one."""
        async with self._host(url).hold(), self._slots:
            yield

    def _retry_hook(self, index: int | None) -> Callable[[DownloadError, float], None]:
        def hook(error: DownloadError, delay: float) -> None:
            log.info("retrying in %.1fs after: %s", delay, error)
            if index is not None:
                self._report(Retried(index, str(error), delay))

        return hook

    def _progress_hook(self, index: int) -> Callable[[int], None] | None:
        emit = self._emit
        if emit is None:
            return None
        return lambda nbytes: emit(Advanced(index, nbytes))

    def _report(self, event: Event) -> None:
        if self._emit is not None:
            self._emit(event)


def _check_expected_size(request: Request, info: RemoteFile) -> None:
    if request.size is not None and info.size is not None and request.size != info.size:
        raise IntegrityError(f"server reports {info.size} bytes, expected {request.size}")


def default_dest(dest: str | os.PathLike[str]) -> Path:
    """The destination folder, created if missing, as an absolute path without symlinks."""
    path = Path(dest)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
