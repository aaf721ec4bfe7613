"""One file, from its first request to its rename: resumed, fetched fresh, or skipped.

The engine schedules; a ``FileDownload`` decides how one file is fetched:

- **resumed** when the journal holds durable bytes of it: the first request asks for the
  first missing byte with the file's validators (HTTP If-Range; FTP SIZE and MDTM), and
  only the gaps are fetched. A changed file, a server that now ignores ranges, or a part
  file that is gone starts the file over.
- **listed** when a folder listing named it with its size: size and time are known
  before connecting, so a complete copy is skipped without any connection. A listing
  that tells no size (an HTTP index page) leaves it to the file's own response.
- **fresh** otherwise: the first response names the target (Content-Disposition) and
  tells the size.

With mirrors, the first endpoint that answers is the reference and the others add
connections (see ``transfer``). A file that changes on the server while it is fetched
(FileChangedError) is fetched again from byte 0, once. A failure keeps the part file for
the next run only when the journal holds some of its bytes and they can be trusted (not
an IntegrityError).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path, PurePosixPath

from .._credentials import mask_url
from .._digests import Checksum
from .._disk.hashing import check_file
from .._disk.journal import Checkpoint
from .._disk.names import choose_name, sharded
from .._disk.partfile import PartFile, open_part, open_soon
from .._disk.ranges import RangeSet
from .._exceptions import DownloadError, FileChangedError, IntegrityError, LocalFileError
from .._models import Result, Started
from .._pacing.hosts import Slot
from .._pacing.retrying import retried_under_limit
from .._protocols.driver import Body, Endpoint, RangeIgnored, RemoteFile
from .._protocols.entries import Entry
from .context import RunContext
from .expected import Expected
from .job import Claim, Job, body_cap, check_announced_size, check_received_size, listed_info
from .mirrors import RETRIES_WITH_FALLBACK, Mirror, provenance
from .transfer import Transfer, TransferOptions

log = logging.getLogger("aiodl")
# Background flushes every 64 MiB keep the disk busy during the transfer, not after it.
SYNC_EVERY = 64 << 20
# Files up to this size are created on the event loop, larger ones in a worker thread.
INLINE_OPEN = 1 << 20


class FileDownload:
    """Fetches ``job`` from ``endpoint``; ``run`` returns its Result or raises its error."""

    def __init__(self, job: Job, endpoints: Sequence[Endpoint], context: RunContext) -> None:
        self._job = job
        self._endpoints = list(endpoints)
        self._endpoint = endpoints[0]  # the reference: the endpoint whose answer is the file
        self._context = context
        self._config = context.config
        self._journaled = False
        self._slot: Slot | None = None
        self._mirrors: list[Mirror] = []
        self._verified = False  # a digest confirmed the bytes
        self._claims: dict[Path, Claim] = {}  # targets this file took
        self._expected = Expected(job.request, context.sums, self._config.checksums)

    async def run(self) -> Result:
        self._slot = self._context.hosts.slot(self._endpoint.url)
        await self._slot.take()
        try:
            try:
                return await self._attempt(resume=True)
            except FileChangedError as error:
                log.warning("%s: %s; fetching it again from byte 0", self._job.url, error)
                return await self._attempt(resume=False)
        finally:
            self._slot.give_back()
            for target in self._claims:
                self._context.targets.release(target)

    async def _attempt(self, *, resume: bool) -> Result:
        checkpoint = self._checkpoint() if resume else None
        if checkpoint is not None:
            result = await self._resume(checkpoint)
            if result is not None:
                return result
        listed = self._job.listed
        if listed is not None and listed.size is not None:
            return await self._listed(listed)
        return await self._fresh()

    def _checkpoint(self) -> Checkpoint | None:
        """The journal's record of this file, if it has one for this URL and target."""
        request = self._job.request
        wanted = None if request.path is None else self._target(None, "").as_posix()
        return self._context.journal.find(self._job.url, wanted)

    def _target(self, disposition: str | None, url: str) -> PurePosixPath:
        """Where the file goes below dest: the request's path, else the server's name,
        else the URL's; sharded when the run asks for it."""
        named = choose_name(self._job.request.path, disposition, url)
        return sharded(named, self._config.shard)

    async def _resume(self, checkpoint: Checkpoint) -> Result | None:
        """Fetch only what the journal lacks; None when the file must start over."""
        info = _as_remote(checkpoint, self._endpoint.url)
        listed = self._job.listed
        if listed is not None and not checkpoint.matches(listed_info(self._endpoint, listed)):
            self._start_over(checkpoint, None, "the listing shows another version")
            return None
        part = await self._stage(PurePosixPath(checkpoint.path), info, keep=checkpoint.ranges)
        if part is None:
            self._context.journal.forget(checkpoint.path)
            return self._skipped(info)
        if not part.reused:
            self._start_over(checkpoint, part, f"{part.path.name} is gone or damaged")
            return None
        self._journaled = True
        assert info.size is not None
        gaps = part.reused.gaps(info.size)
        probe = None
        if gaps:
            try:
                probe = await self._probe(info, start=gaps[0][0])
            except (FileChangedError, RangeIgnored) as error:
                self._start_over(checkpoint, part, str(error))
                return None
            except BaseException as error:
                self._abandon(part, error)
                raise
        log.info("resuming %s: %d of %d bytes on disk", self._job.url, part.reused.total, info.size)
        return await self._fill(part, info, probe, gaps)

    def _start_over(self, checkpoint: Checkpoint, part: PartFile | None, why: str) -> None:
        """The journal's bytes cannot be used: forget them; the caller starts afresh."""
        log.warning("not resuming %s (%s); fetching it from byte 0", self._job.url, why)
        if part is not None:
            part.discard()
        self._context.journal.forget(checkpoint.path)
        self._journaled = False

    async def _fresh(self) -> Result:
        """Probe first: the response names the target and tells the size."""
        probe = await self._probe_any()
        try:
            info = probe.info
            check_announced_size(self._job.request, info, self._config.max_size)
            request = self._job.request
            relative = self._target(info.disposition, request.url)
            part = await self._stage(relative, info, compare_time=False, served=info.digest)
            if part is None:
                return self._skipped(info)
            return await self._fill(part, info, probe)
        finally:
            await probe.aclose()

    async def _listed(self, entry: Entry) -> Result:
        """A file from a folder listing: a complete copy (same size and time) is skipped
        without opening any connection."""
        info = listed_info(self._endpoint, entry)
        check_announced_size(self._job.request, info, self._config.max_size)
        relative = self._target(None, self._endpoint.url)
        part = await self._stage(relative, info)
        if part is None:
            return self._skipped(info)
        try:
            probe = await self._probe(info)
        except BaseException:
            part.discard()
            raise
        try:  # the probe's word on ranges counts: the driver may know the server refuses
            return await self._fill(part, probe.info, probe)
        finally:
            await probe.aclose()

    async def _probe_any(self) -> Body:
        """The first endpoint that answers, in the order given, becomes the reference: a
        endpoint that fails while others are left gets one retry, the last one every retry."""
        for endpoint in self._endpoints[:-1]:
            try:
                return await self._probe(None, endpoint=endpoint, fallback=True)
            except LocalFileError:
                raise
            except DownloadError as error:
                log.warning("%s: %s; trying the next endpoint", mask_url(endpoint.url), error)
        return await self._probe(None, endpoint=self._endpoints[-1])

    async def _probe(
        self,
        known: RemoteFile | None,
        start: int = 0,
        *,
        endpoint: Endpoint | None = None,
        fallback: bool = False,
    ) -> Body:
        """The first request of a file, retried under the host's limit (from the
        reference, or from ``endpoint``, which then becomes the reference; with
        ``fallback``, other endpoints are left to try, so this one gets fewer retries)."""
        if endpoint is not None and endpoint is not self._endpoint:
            await self._move_to(endpoint)
        endpoint, policy = self._endpoint, self._config.retry_policy
        if fallback:
            policy = policy.at_most(RETRIES_WITH_FALLBACK)
        assert self._slot is not None
        return await retried_under_limit(
            policy,
            self._context.hosts.host(endpoint.url),
            lambda: endpoint.driver.open(endpoint, start, None, known),
            slot=self._slot,
            on_retry=self._context.events.retry_hook(self._job.number),
        )

    async def _move_to(self, endpoint: Endpoint) -> None:
        """Make ``endpoint`` the reference, holding a place on its host instead."""
        assert self._slot is not None
        self._slot.give_back()
        self._endpoint = endpoint
        self._slot = self._context.hosts.slot(endpoint.url)
        await self._slot.take()

    async def _stage(
        self,
        relative: PurePosixPath,
        info: RemoteFile,
        *,
        compare_time: bool = True,
        keep: RangeSet | None = None,
        served: Checksum | None = None,
    ) -> PartFile | None:
        """Open the part file; None when a complete copy is already there.

        A small file is opened right here: a handful of metadata calls, where a thread hop
        each (GIL hand-offs included) cost a fifth of a small-file mirror's time. A large
        or unknown size goes to a thread, where a file system that emulates preallocation
        by writing zeros cannot stall the transfers. A copy counts as complete by size,
        by time too where a listing gave one (``compare_time``), and by its digest when
        one is known (the request's, the checksums file's, or ``served``, the server's):
        it is hashed, in the worker thread too when large.
        """
        context = self._context
        await self._claim(context.dest.joinpath(*relative.parts))
        opening = partial(
            open_part,
            context.folders,
            relative,
            info.size,
            modified=info.modified if compare_time else None,
            overwrite=self._config.overwrite,
            sync_every=SYNC_EVERY if self._config.sync else None,
            keep=keep,
            expected=self._expected.digest(served, relative),
        )
        try:
            target, part = await open_soon(opening, info.size, inline=INLINE_OPEN)
        except (LocalFileError, OSError):
            self._job.path = context.dest.joinpath(*relative.parts)  # where it would be
            raise
        self._job.path = target
        return part

    async def _claim(self, target: Path) -> None:
        if target not in self._claims:
            self._claims[target] = await self._context.targets.claim(target, self._job.request.url)

    def _skipped(self, info: RemoteFile) -> Result:
        job = self._job
        log.info("skipped %s: %s is complete", job.url, job.path)
        unlisted = self._expected.unlisted(job.url, self._saved())
        return Result(job.url, job.path, ok=True, size=info.size, skipped=True, unverified=unlisted)

    async def _fill(
        self,
        part: PartFile,
        info: RemoteFile,
        probe: Body | None,
        gaps: list[tuple[int, int]] | None = None,
    ) -> Result:
        """Fetch the missing bytes into ``part``, then check, flush and rename it."""
        job, context = self._job, self._context
        assert job.path is not None
        if info.ranged and info.size is not None and self._config.sync:
            part.on_durable = partial(self._save, info)
        try:
            context.events.report(
                Started(job.number, job.url, job.path, info.size, part.reused.total)
            )
            size = info.size or 0
            if probe is not None:
                size = await self._transfer(part, info, gaps).run(probe)
            check_received_size(job.request, size)
            await part.settle()
            served = info.digest or (probe.info.digest if probe is not None else None)
            await self._verify(part, size, served)
            await context.committer.commit(part, size, info.modified)
        except BaseException as error:
            self._abandon(part, error)
            raise
        if self._journaled:
            context.journal.forget(self._relative(job.path))
        if self._config.sync:
            context.synced_folders.add(job.path.parent)
        log.info("saved %s -> %s (%d bytes)", job.url, job.path, size)
        return Result(
            job.url,
            job.path,
            ok=True,
            size=size,
            resumed=bool(part.reused),
            delivered={mask_url(o.url): o.delivered.total for o in self._mirrors if o.delivered},
            unverified=(info.unframed and job.request.size is None and not self._verified)
            or self._expected.unlisted(job.url, self._saved()),
        )

    def _saved(self) -> PurePosixPath:
        """Where the file is saved, below dest."""
        assert self._job.path is not None
        return PurePosixPath(self._relative(self._job.path))

    async def _verify(self, part: PartFile, size: int, served: Checksum | None) -> None:
        """Hash the file if a digest is expected; with mirrors, a mismatch names the
        ranges each endpoint sent."""
        expected = self._expected.digest(served, self._saved())
        if expected is None:
            return
        self._verified = True
        assert self._job.path is not None
        name = self._relative(self._job.path)
        detail = f" ({provenance(self._mirrors)})" if len(self._mirrors) > 1 else ""
        try:
            await check_file(part.fileno(), size, expected, name, detail, inline=INLINE_OPEN)
        except IntegrityError as error:
            error.url = self._job.url
            raise

    def _transfer(
        self, part: PartFile, info: RemoteFile, gaps: list[tuple[int, int]] | None
    ) -> Transfer:
        assert self._slot is not None
        config, context = self._config, self._context
        others = [endpoint for endpoint in self._endpoints if endpoint is not self._endpoint]
        self._mirrors = [Mirror(self._endpoint, info), *(Mirror(endpoint) for endpoint in others)]
        options = TransferOptions(
            split=config.split,
            min_segment_size=config.min_segment_size,
            policy=config.retry_policy,
            strict=self._expected.digest(None, self._saved()) is None,
            cap=None if info.size is not None else body_cap(self._job.request, config.max_size),
            min_speed=config.min_speed,
            throttle=context.throttle,
        )
        number = self._job.number
        return Transfer(
            options,
            self._mirrors,
            part,
            info,
            self._slot,
            context.hosts,
            on_retry=context.events.retry_hook(number),
            on_progress=context.events.progress_hook(number),
            gaps=gaps,
        )

    def _save(self, info: RemoteFile, durable: RangeSet) -> None:
        """Journal the ranges now safely on disk (called after each background flush)."""
        assert self._job.path is not None
        path = self._relative(self._job.path)
        self._context.journal.save(Checkpoint.of(path, self._job.url, info, durable))
        self._journaled = True

    def _abandon(self, part: PartFile, error: BaseException) -> None:
        """After a failure: keep the part file for the next run when the journal holds
        some of its bytes and they can be trusted; otherwise remove it and its record."""
        if self._journaled and not isinstance(error, IntegrityError):
            part.close()
            log.info("kept %s to resume later", part.path)
            return
        part.discard()
        if self._journaled and self._job.path is not None:
            self._context.journal.forget(self._relative(self._job.path))
            self._journaled = False

    def _relative(self, path: Path) -> str:
        return path.relative_to(self._context.dest).as_posix()


def _as_remote(checkpoint: Checkpoint, url: str) -> RemoteFile:
    """The file as the journal knows it, for validating a resumed request."""
    return RemoteFile(
        url,
        checkpoint.size,
        True,
        etag=checkpoint.etag,
        last_modified=checkpoint.last_modified,
        modified=checkpoint.modified,
    )
