"""The scheduler: bounded workers pull sources, one semaphore bounds all connections.

Everything runs on the caller's event loop. ``connections`` workers pull from the source
iterator as they free up, so a million sources never become a million tasks; each file
holds one connection slot for its first request and its extra segments take more slots as
they are free, under the global bound and a per-host bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from ._config import Config
from ._driver import Body, Driver, RemoteFile, Source
from ._exceptions import DownloadError, IntegrityError
from ._models import Advanced, Event, Finished, Request, Result, Retried, Started
from ._names import choose_name
from ._rules import mask_url
from ._transfer import Transfer, first_failure, retrying
from ._writer import PartFile, open_part, sync_folders

T = TypeVar("T")
log = logging.getLogger("aiodl")
# Background flushes every 64 MiB keep the disk busy during the transfer, not after it.
SYNC_EVERY = 64 << 20


def as_request(source: str | Request) -> Request:
    """Accept a URL string or a Request; anything else is a caller's bug."""
    if isinstance(source, Request):
        return source
    if isinstance(source, str):
        return Request(source)
    raise TypeError(f"sources must be URL strings or aiodl.Request, got {type(source).__name__}")


@dataclass
class _Job:
    """One file in flight: what was asked, its masked URL, and where it is going."""

    index: int
    request: Request
    url: str
    path: Path | None = None


class Engine:
    """Runs downloads for one ``download_many`` call, sharing connections and limits."""

    def __init__(self, config: Config, dest: Path, drivers: Mapping[str, Driver]) -> None:
        self._config = config
        self._dest = dest
        self._drivers = drivers
        self._slots = asyncio.Semaphore(config.connections)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._synced_folders: set[Path] = set()
        # Derived once per run, not per file: a run may hold millions of files.
        self._headers = {**config.headers, **config.auth_headers()}
        self._credentials = config.credential_names()
        self._emit: Callable[[Event], None] | None = (
            config.progress if callable(config.progress) else None
        )

    async def run(self, sources: Iterable[str | Request]) -> list[Result]:
        """Download every source; results in input order."""
        results: dict[int, Result] = {}
        pending = enumerate(sources)

        async def worker() -> None:
            for index, source in pending:
                results[index] = await self.fetch(index, as_request(source))

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._config.connections):
                    group.create_task(worker())
        except BaseExceptionGroup as failures:
            raise first_failure(failures) from None
        finally:
            await self._blocking(partial(sync_folders, self._synced_folders))
        return [results[index] for index in range(len(results))]

    @staticmethod
    async def _blocking(call: Callable[[], T]) -> T:
        """Run a blocking file-system call in the loop's default thread pool.

        Plain ``run_in_executor``: measured cheaper per call than anyio.to_thread, which
        matters at two calls per file for thousands of small files.
        """
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def fetch(self, index: int, request: Request) -> Result:
        """Download one source; every failure becomes a Result, never an exception."""
        job = _Job(index, request, mask_url(request.url))
        url = job.url
        try:
            result = await self._download(job)
        except DownloadError as error:
            result = Result(url, job.path, ok=False, error=error)
        except OSError as error:
            message = f"local file error: {error.strerror or error} ({error.filename or ''})"
            result = Result(url, job.path, ok=False, error=DownloadError(message, url=url))
        if result.error is not None:
            log.warning("failed %s: %s", url, result.error)
        self._report(Finished(index, result))
        return result

    async def _download(self, job: _Job) -> Result:
        source = self._source(job)
        async with self._slot(source.url):
            probe = await retrying(
                self._config.retry_policy,
                lambda: source.driver.open(source, 0, None, None),
                progress=lambda: 0,
                on_retry=self._retry_hook(job.index),
            )
            try:
                return await self._store(job, source, probe)
            finally:
                await probe.aclose()

    async def _store(self, job: _Job, source: Source, probe: Body) -> Result:
        """Decide the target from the first response, then fill and commit it."""
        info = probe.info
        _check_expected_size(job.request, info)
        relative = choose_name(job.request.path, info.disposition, job.request.url)
        url = job.url
        target, part = await self._blocking(
            partial(
                open_part,
                self._dest,
                relative,
                info.size,
                overwrite=self._config.overwrite,
                sync_every=SYNC_EVERY if self._config.sync else None,
            )
        )
        job.path = target
        if part is None:
            log.info("skipped %s: %s is complete", url, target)
            return Result(url, target, ok=True, size=info.size, skipped=True)
        try:
            self._report(Started(job.index, url, target, info.size))
            size = await self._transfer(job, source, part, info).run(probe)
            await part.settle()
            await self._blocking(partial(part.commit, size, sync=self._config.sync))
            if self._config.sync:
                self._synced_folders.add(target.parent)
        except BaseException:
            part.discard()
            raise
        log.info("saved %s -> %s (%d bytes)", url, target, size)
        return Result(url, target, ok=True, size=size)

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

    @asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        """One connection: the host's bound first, then the global one."""
        host = urlsplit(url).netloc.lower()
        limit = self._hosts.setdefault(host, asyncio.Semaphore(self._config.per_host))
        async with limit, self._slots:
            yield

    def _retry_hook(self, index: int) -> Callable[[DownloadError, float], None]:
        def hook(error: DownloadError, delay: float) -> None:
            log.info("retrying in %.1fs after: %s", delay, error)
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
    """The destination folder as a Path, created if missing."""
    path = Path(dest)
    path.mkdir(parents=True, exist_ok=True)
    return path
