"""Run a manifest job on a Dask cluster (``pip install aiodl[dask]``).

    from aiodl.distributed import download_on_dask
    summary = download_on_dask(urls, "/shared/images", "job.sqlite", scheduler="tcp://sched:8786")

The caller's process reads the sources lazily, asks the manifest first (done files are
skipped there, without a task), and cuts the rest into partitions of ``partition_size``.
Each partition is one Dask task: ``download_many`` on the worker's own event loop, with
its own bounded connections, returning one small Outcome per file (where it went, size,
sha256, or why it failed). Only the caller writes the manifest, so it is one SQLite file
on a local disk, never shared between machines. ``dest`` must be the same folder for
every worker (a shared filesystem path).

Politeness holds across the cluster: every worker thread gets an equal share of
``per_host`` and ``host_rate_limit`` (at least one connection each), so N workers ask a
host no harder than one process would. At most two partitions per worker thread are in
flight, so memory stays flat however long the source list.

When a worker dies, Dask runs its partition again elsewhere; the files that worker
finished are complete at their targets and are skipped there (the engine finds them
complete), and its part files resume from the journal. A partition that fails for good
(Dask gives up after repeated worker deaths) records its files as failed, for a rerun.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from distributed import Client, Future, LocalCluster, as_completed

from ._api import stream
from ._config import Config
from ._core.engine import default_dest
from ._disk.manifest import Ledger, Manifest, Outcome, outcome
from ._models import Request, as_request
from ._urls import is_tree_url

__all__ = ["Summary", "download_on_dask"]

Portable = tuple[str, str | None, tuple[str, ...], str | None, int | None, dict[str, str] | None]


@dataclass(frozen=True)
class Summary:
    """What a cluster run did: files done and failed in this run, files skipped as
    already done (or failed too often) by the manifest, partitions run, and seconds."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    partitions: int = 0
    seconds: float = 0.0


def download_on_dask(
    sources: Iterable[str | Request],
    dest: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    local_workers: int | None = None,
    partition_size: int = 500,
    on_partition: Callable[[Summary], None] | None = None,
    **options: Any,
) -> Summary:
    """Download ``sources`` into ``dest`` on a Dask cluster, recording every file in
    ``manifest``. The cluster is ``client``'s, the scheduler at ``scheduler``, or a
    ``LocalCluster`` of ``local_workers`` processes started (and stopped) here; exactly
    one of them. ``options`` are :class:`aiodl.Config` fields for every worker
    (``progress`` excepted). Blocks until done; ``on_partition`` hears the running
    totals after each partition."""
    if sum(x is not None for x in (client, scheduler, local_workers)) != 1:
        raise ValueError("give exactly one of client, scheduler or local_workers")
    if partition_size < 1:
        raise ValueError("partition_size must be >= 1")
    settings = Config.build(None, {**options, "manifest": None, "progress": False})
    folder = default_dest(dest)
    with ExitStack() as stack:
        if client is None:
            if local_workers is not None:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
                scheduler = cluster.scheduler_address
            client = stack.enter_context(Client(scheduler))
        ledger = Ledger(Manifest(manifest), folder, settings.max_attempts)
        stack.callback(ledger.close)
        job = _Job(client, ledger, _shared(options, _threads(client)), str(folder))
        return job.run(_partitions(sources, ledger, partition_size, job), on_partition)


class _Job:
    """One cluster run: partitions in flight, and the totals so far."""

    def __init__(self, client: Client, ledger: Ledger, options: dict[str, Any], dest: str):
        self._client = client
        self._ledger = ledger
        self._options = options
        self._dest = dest
        self._window = 2 * _threads(client)
        self.totals = Summary()

    def run(
        self, partitions: Iterator[list[Request]], on_partition: Callable[[Summary], None] | None
    ) -> Summary:
        began = time.monotonic()
        running: dict[Future[list[Outcome]], list[Request]] = {}
        for batch in partitions:
            running[self._submit(batch)] = batch
            if len(running) < self._window:
                continue
            self._settle(next(iter(as_completed(running))), running, on_partition)
        for future in as_completed(list(running)):
            self._settle(future, running, on_partition)
        return dataclasses.replace(self.totals, seconds=time.monotonic() - began)

    def count(self, field: str) -> None:
        self.totals = dataclasses.replace(self.totals, **{field: getattr(self.totals, field) + 1})

    def _submit(self, batch: list[Request]) -> Future[list[Outcome]]:
        portable = [_portable(request) for request in batch]
        return self._client.submit(run_partition, portable, self._dest, self._options, pure=False)

    def _settle(
        self,
        future: Future[list[Outcome]],
        running: dict[Future[list[Outcome]], list[Request]],
        on_partition: Callable[[Summary], None] | None,
    ) -> None:
        """Record a finished partition's outcomes (all failed if the task failed)."""
        batch = running.pop(future)
        try:
            outcomes: list[Outcome] = future.result()
        except Exception as error:  # any task failure (KilledWorker...) fails its files
            outcomes = [Outcome(reason=f"partition failed: {error!r}")] * len(batch)
        for request, result in zip(batch, outcomes, strict=True):
            self._ledger.manifest.settle(request, result)
            self.count("done" if result.reason is None else "failed")
        self.count("partitions")
        if on_partition is not None:
            on_partition(self.totals)


def _partitions(
    sources: Iterable[str | Request], ledger: Ledger, size: int, job: _Job
) -> Iterator[list[Request]]:
    """Lists of up to ``size`` requests the manifest has not settled, drawn lazily."""
    batch: list[Request] = []
    for source in sources:
        request = as_request(source)
        if is_tree_url(request.url):
            raise ValueError(f"folder URLs are walked by one process, not a cluster: {request.url}")
        if ledger.known(request) is not None:
            job.count("skipped")
            continue
        batch.append(request)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_partition(portable: list[Portable], dest: str, options: dict[str, Any]) -> list[Outcome]:
    """A Dask task: download one partition on this worker, one Outcome per request."""
    return asyncio.run(_download(portable, dest, options))


async def _download(portable: list[Portable], dest: str, options: dict[str, Any]) -> list[Outcome]:
    requests = [_request(item) for item in portable]
    outcomes: list[Outcome | None] = [None] * len(requests)
    folder = default_dest(dest)
    async for result in stream(requests, folder, **options):
        outcomes[result.index] = await outcome(result, folder)
    return [found or Outcome(reason="no result") for found in outcomes]


def _threads(client: Client) -> int:
    workers = client.scheduler_info()["workers"].values()
    return max(1, sum(int(worker["nthreads"]) for worker in workers))


def _shared(options: dict[str, Any], threads: int) -> dict[str, Any]:
    """Options for each worker thread: an equal share of the per-host limits."""
    settings = Config.build(None, {**options, "manifest": None, "progress": False})
    shared = {**options, "manifest": None, "progress": False}
    shared["per_host"] = max(1, settings.per_host // threads)
    if settings.host_rate_limit is not None:
        shared["host_rate_limit"] = settings.host_rate_limit / threads
    return shared


def _portable(request: Request) -> Portable:
    """A Request as plain data (its header mapping is read-only, which pickle refuses)."""
    headers = dict(request.headers) if request.headers is not None else None
    return (
        request.url,
        request.path,
        tuple(request.mirrors),
        request.checksum,
        request.size,
        headers,
    )


def _request(item: Portable) -> Request:
    url, path, mirrors, checksum, size, headers = item
    return Request(url, path, mirrors=mirrors, checksum=checksum, size=size, headers=headers)
