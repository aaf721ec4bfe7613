"""The scheduler: a producer turns sources into jobs, bounded workers download them.

Everything runs on the caller's event loop. The producer pulls sources lazily and walks
folder URLs (tree walks) as it goes, feeding a small queue, so a million sources or a
tree of a million files never become a million tasks and the first download starts after
the first listing. Workers, started as jobs come (at most twice ``connections``), take
jobs from the queue; each file holds one connection slot for its first request and its
extra segments take more slots as they are free, under the global bound and a per-host
bound. Whatever goes wrong with one file (a malformed URL, a bug) is that file's failed
Result: nothing but the sources themselves or the manifest can end a run early.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlsplit

from .._config import Config
from .._credentials import looks_secret, mask_url
from .._digests import Checksum
from .._disk.commit import finish
from .._disk.manifest import Ledger, Manifest
from .._disk.names import sanitize_relative
from .._disk.partfile import sync_folders
from .._exceptions import DownloadError, LocalFileError
from .._models import (
    Failed,
    Finished,
    Listed,
    Request,
    Result,
    Sources,
    as_request,
)
from .._pacing.retrying import first_failure, retried_under_limit
from .._protocols.driver import Driver, Endpoint, NotAFolder, TreeDriver
from .._protocols.entries import Listing
from .._urls import is_tree_url, url_problem
from .context import RunContext
from .download import FileDownload
from .drivers import Drivers
from .events import log_traceback
from .job import Job
from .treewalk import Folder, Found, Refused, TreeWalk
from .workers import Workers

T = TypeVar("T")
log = logging.getLogger("aiodl")
Deliver = Callable[[int, Result], Awaitable[None]]
INLINE_LISTING = 1000  # entries a folder walk takes on the loop; more go to a thread


class Engine:
    """Runs downloads for one ``download_many`` call, sharing connections and limits."""

    def __init__(
        self,
        config: Config,
        dest: Path,
        drivers: Mapping[str, Driver],
        sums: Mapping[str, Checksum] | None = None,
    ) -> None:
        self._drivers = drivers
        self._schemes = tuple(drivers)  # iterated: looking a scheme up makes its driver
        self.config = config
        self.context = RunContext.of(config, dest, sums or {})
        self.ledger = (
            Ledger(Manifest(config.manifest), dest, config.max_attempts)
            if config.manifest is not None
            else None
        )
        # Derived once per run, not per file: a run may hold millions of files.
        self._headers = {**config.headers, **config.auth_headers()}
        self._credentials = config.credential_names()

    async def run(self, sources: Sources, deliver: Deliver) -> None:
        """Download every source, handing each Result to ``deliver`` with the file's
        number (a folder's files numbered in its place) as soon as it is known. Sources
        are drawn lazily, a few ahead of the connections: any number fits in memory, and
        a slow ``deliver`` holds the run back instead of piling results up."""

        async def handle(job: Job) -> None:
            await deliver(job.number, await self.fetch(job))

        async def produce(workers: Workers[Job]) -> None:
            index = 0
            async for position, source in _numbered(sources):
                async for job in self._jobs(as_request(source)):
                    job.number, job.position = index, position
                    index += 1
                    await workers.put(job)
            await workers.close()

        try:
            async with asyncio.TaskGroup() as group:
                # Twice as many files in hand as connections: a file waiting out a retry
                # lends its connection to another file instead of leaving it idle.
                group.create_task(produce(Workers(group, 2 * self.config.connections, handle)))
        except BaseExceptionGroup as failures:
            raise first_failure(failures) from None
        finally:
            self.context.folders.close()
            if self.ledger is not None:
                self.ledger.close()
            await self._blocking(self._close_disk)

    def _close_disk(self) -> None:
        """Write the journal's last rows and sync the folders renamed into. Blocking."""
        self.context.journal.close()
        sync_folders(self.context.synced_folders)

    async def _jobs(self, request: Request) -> AsyncIterator[Job]:
        """The jobs of one source: itself, or every file of the folder it names."""
        invalid = self._invalid(request)
        if invalid is not None:
            yield Job(request, mask_url(request.url), refused=invalid)
            return
        scheme = urlsplit(request.url).scheme.lower()
        if isinstance(self._drivers, Drivers):
            await self._drivers.load(scheme)
        driver = self._drivers.get(scheme)
        if not (is_tree_url(request.url) and isinstance(driver, TreeDriver)):
            yield Job(request, mask_url(request.url))
            return
        try:
            base = sanitize_relative(request.path) if request.path else PurePosixPath()
        except DownloadError as error:
            yield Job(request, mask_url(request.url), refused=error)
            return
        walk = TreeWalk(request.url, base, self.config.include, self.config.exclude)
        while (folder := walk.next_folder()) is not None:
            try:
                entries = await self._list(driver, folder.url, request)
            except Exception as error:  # this folder fails, the walk and the run go on
                if isinstance(error, NotAFolder) and not walk.folders:
                    # The URL given names no folder (an HTTP page, not HTML): a file.
                    yield Job(request, mask_url(request.url))
                    return
                yield self._refused(request, Refused(folder.url, _failure(folder.url, error)))
                continue
            for item in await self._taken(walk, folder, entries):
                if isinstance(item, Found):
                    child = Request(item.url, item.path.as_posix(), headers=request.headers)
                    yield Job(child, mask_url(item.url), listed=item.entry)
                else:
                    yield self._refused(request, item)
        self._walked(request, walk)

    def _walked(self, request: Request, walk: TreeWalk) -> None:
        """Tell what a folder URL's walk found: patterns that match none of the files it
        listed are most likely wrong, so that one is a warning."""
        url, patterns = mask_url(request.url), self._patterns()
        if patterns and walk.files and not walk.matched:
            log.warning("%s: %d files listed, none matched %s", url, walk.files, patterns)
        else:
            log.info("%s: %d files listed, %d matched", url, walk.files, walk.matched)
        self.context.events.report(Listed(url, walk.folders, walk.files, walk.matched))

    def _patterns(self) -> str:
        """The run's include/exclude patterns as a log line shows them ("" for none)."""
        chosen = {"include": self.config.include, "exclude": self.config.exclude}
        return " ".join(f"{name}={list(given)!r}" for name, given in chosen.items() if given)

    async def _taken(
        self, walk: TreeWalk, folder: Folder, entries: Listing
    ) -> list[Found | Refused]:
        """What the walk makes of a listing; a big one in a worker thread, where sorting
        and checking its names (seconds for 200,000), and freeing them, cannot stall the
        transfers."""
        if len(entries) <= INLINE_LISTING:
            return walk.listed(folder, entries)

        def take() -> list[Found | Refused]:
            try:
                return walk.listed(folder, entries)
            finally:
                entries.clear()

        return await self._blocking(take)

    def _invalid(self, request: Request) -> DownloadError | None:
        """Why no request can be made for ``request`` (its URL or a mirror's is malformed),
        told before any connection, or None."""
        for url in (request.url, *request.mirrors):
            problem = url_problem(url, self._schemes)
            if problem is not None:
                what = "URL" if url == request.url else f"mirror URL {mask_url(url)}"
                message = f"not a usable {what}: {problem}; correct it and run again"
                return DownloadError(message, url=mask_url(url))
        return None

    def _refused(self, request: Request, item: Refused) -> Job:
        url = mask_url(item.url)
        item.error.url = url
        log.info("not fetching %s: %s", url, item.error)
        return Job(Request(item.url, headers=request.headers), url, refused=item.error)

    async def _list(self, driver: TreeDriver, url: str, request: Request) -> Listing:
        """One folder listing, under the host's limits and the retry policy, asked with
        the headers and login a file of ``request`` would get."""
        endpoint = self._endpoint(url, request)
        hosts = self.context.hosts
        async with hosts.slot(url) as slot:
            return await retried_under_limit(
                self.config.retry_policy,
                hosts.host(url),
                lambda: driver.list_folder(endpoint),
                slot=slot,
                on_retry=self.context.events.retry_hook(None),
            )

    @staticmethod
    async def _blocking(call: Callable[[], T]) -> T:
        """Run a blocking file-system call in the loop's default thread pool, to its end
        even if the caller is cancelled meanwhile (plain ``run_in_executor``: measured
        cheaper per call than anyio.to_thread)."""
        return await finish(asyncio.get_running_loop().run_in_executor(None, call))

    async def fetch(self, job: Job) -> Result:
        """Download one job, unless the manifest settled it in an earlier run; every
        failure becomes a Result, never an exception."""
        ledger = self.ledger
        known = None if ledger is None or job.refused else ledger.known(job.request)
        if known is not None:
            return self._settle(job, dataclasses.replace(known, index=job.position))
        result = await self._download(job)
        if ledger is not None:
            await ledger.record(job.request, result)
        return self._settle(job, result)

    async def _download(self, job: Job) -> Result:
        url = job.url
        began = time.monotonic()
        try:
            if job.refused is not None:
                raise job.refused
            result = await FileDownload(job, self._endpoints(job), self.context).run()
        except Exception as error:  # whatever it is, this file fails and the others go on
            result = Result(url, job.path, ok=False, error=_failure(url, error))
        return dataclasses.replace(result, seconds=time.monotonic() - began, index=job.position)

    def _settle(self, job: Job, result: Result) -> Result:
        if result.error is None:
            self.context.events.report(Finished(job.number, result))
            return result
        if job.refused is None:  # info: the Result carries it, the caller decides
            log.info("failed %s: %s", job.url, result.error)
        self.context.events.report(Failed(job.number, result))
        return result

    def _endpoints(self, job: Job) -> list[Endpoint]:
        """The job's URL and its mirrors, each with the headers and login it needs."""
        request = job.request
        return [self._endpoint(url, request) for url in (request.url, *request.mirrors)]

    def _endpoint(self, url: str, request: Request) -> Endpoint:
        scheme = urlsplit(url).scheme.lower()
        driver = self._drivers.get(scheme)
        if driver is None:
            raise DownloadError(f"unsupported URL scheme {scheme!r}", url=mask_url(url))
        headers = {**self._headers, **(request.headers or {})}
        credentials = self._credentials
        if request.headers:  # a request's own secret-looking headers stay with its origin
            credentials |= {name.lower() for name in request.headers if looks_secret(name)}
        return Endpoint(url, headers, credentials, driver)


def _failure(url: str, error: Exception) -> DownloadError:
    """``error`` as the DownloadError of the masked ``url``'s file (or folder): its own,
    a local file error, or a bug that fails this one alone."""
    masked = mask_url(url)
    if isinstance(error, DownloadError):
        error.url = mask_url(error.url) if error.url else masked  # whoever raised it
        return error
    if isinstance(error, OSError):
        message = f"local file error: {error.strerror or error} ({error.filename or ''})"
        return LocalFileError(message, url=masked)
    return _unexpected(masked, error)


def _unexpected(url: str, error: Exception) -> DownloadError:
    """The failure of one file that met a bug in aiodl, wrapping it."""
    log_traceback(error)
    failure = DownloadError(
        f"unexpected {type(error).__name__} while downloading {url}: a bug in aiodl; "
        "please report it with the traceback logged at DEBUG level",
        url=url,
    )
    failure.__cause__ = error
    return failure


async def _numbered(sources: Sources) -> AsyncIterator[tuple[int, str | Request]]:
    """The sources with their positions, from a plain or an async iterable, one at a time."""
    if isinstance(sources, AsyncIterable):
        position = 0
        async for source in sources:
            yield position, source
            position += 1
    else:
        for item in enumerate(sources):
            yield item


def default_dest(dest: str | os.PathLike[str]) -> Path:
    """The destination folder, created if missing, as an absolute path without symlinks."""
    path = Path(dest)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
