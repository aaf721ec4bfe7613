"""One file, from its first request to its rename: resumed, fetched fresh, or skipped.

The engine schedules; a ``FileDownload`` decides how one file is fetched:

- **resumed** when the journal holds durable bytes of it: the first request asks for the
  first missing byte with the file's validators (HTTP If-Range; FTP SIZE and MDTM), and
  only the gaps are fetched. A changed file, a server that now ignores ranges, or a part
  file that is gone starts the file over.
- **listed** when a folder listing named it with its size (an HTTP index page tells
  none): a complete copy is skipped without any connection.
- **fresh** otherwise: the first response names the target (Content-Disposition) and
  tells the size.

With mirrors, the first endpoint that answers is the reference (see ``transfer``). A
file changed on the server meanwhile is fetched again from byte 0, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path, PurePosixPath

from .._credentials import mask_url
from .._digests import Checksum
from .._disk.hashing import check_file
from .._disk.journal import Checkpoint
from .._disk.names import choose_name, sharded
from .._disk.partfile import PartFile, open_part, open_soon
from .._disk.ranges import RangeSet
from .._disk.validators import NO_VALIDATORS
from .._exceptions import DownloadError, FileChangedError, IntegrityError, LocalFileError
from .._models import Result, Started
from .._pacing.hosts import Slot
from .._pacing.retrying import retried_under_limit
from .._protocols.driver import Body, Endpoint, Held, NotModified, RangeIgnored, RemoteFile
from .._protocols.entries import Entry
from .context import RunContext
from .expected import Expected
from .job import (
    Claim,
    Job,
    as_remote,
    check_announced_size,
    check_received_size,
    listed_info,
    transfer_options,
)
from .mirrors import RETRIES_WITH_FALLBACK, Mirror, provenance
from .resync import asking, held_copy, not_modified, validators
from .transfer import Transfer

log = logging.getLogger("aiodl")
SYNC_EVERY = 64 << 20  # background flushes keep the disk busy during the transfer
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
        self._relative_to: tuple[Path | None, str] = (None, "")

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
        info = as_remote(checkpoint, self._endpoint.url)
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
        """Probe first: the response names the target and tells the size. A copy already
        at the URL's target is asked about ("only if changed"): it stays on a 304 that
        proves it the server's version, else the file is asked for again."""
        target = self._target(None, self._job.request.url)
        copy = held_copy(self._context, target)
        try:
            probe = await self._probe_any(asking(copy))
        except NotModified as answer:
            seen = not_modified(answer.info, copy)
            part = None if seen is None else await self._stage(target, seen)
            if seen is not None and part is None:
                return self._skipped(seen)
            if part is not None:
                part.discard()
            probe = await self._probe_any()
        try:
            info = probe.info
            check_announced_size(self._job.request, info, self._config.max_size)
            relative = self._target(info.disposition, self._job.request.url)
            part = await self._stage(relative, info, served=info.digest)
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

    async def _probe_any(self, held: Held | None = None) -> Body:
        """The first endpoint that answers, in the order given, becomes the reference: a
        endpoint that fails while others are left gets one retry, the last one every retry;
        ``held``: the copy there, so only a changed file is sent."""
        for endpoint in self._endpoints[:-1]:
            try:
                return await self._probe(None, endpoint=endpoint, fallback=True, held=held)
            except LocalFileError:
                raise
            except DownloadError as error:
                log.warning("%s: %s; trying the next endpoint", mask_url(endpoint.url), error)
        return await self._probe(None, endpoint=self._endpoints[-1], held=held)

    async def _probe(
        self,
        known: RemoteFile | None,
        start: int = 0,
        *,
        endpoint: Endpoint | None = None,
        fallback: bool = False,
        held: Held | None = None,
    ) -> Body:
        """The first request of a file, retried under the host's limit (from the
        reference, or from ``endpoint``, which then becomes the reference; with
        ``fallback``, other endpoints are left to try, so this one gets fewer retries)."""
        if endpoint is not None and endpoint is not self._endpoint:
            await self._move_to(endpoint)
        endpoint, policy = self._endpoint, self._config.retry_policy
        target = endpoint if held is None else replace(endpoint, held=held)
        if fallback:
            policy = policy.at_most(RETRIES_WITH_FALLBACK)
        assert self._slot is not None
        return await retried_under_limit(
            policy,
            self._context.hosts.host(endpoint.url),
            lambda: endpoint.driver.open(target, start, None, known),
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
        keep: RangeSet | None = None,
        served: Checksum | None = None,
    ) -> PartFile | None:
        """Open the part file; None when a complete copy is already there.

        A small file is opened right here: a handful of metadata calls, where a thread hop
        each (GIL hand-offs included) cost a fifth of a small-file mirror's time. A large
        or unknown size goes to a thread, where a file system that emulates preallocation
        by writing zeros cannot stall the transfers. A copy counts as complete by size,
        and by the server's time or ETag where it told one, and by its digest when one
        is known (the request's, the checksums file's, or ``served``, the server's): it
        is hashed, in the worker thread too when large.
        """
        context = self._context
        await self._claim(context.dest.joinpath(*relative.parts))
        opening = partial(
            open_part,
            context.folders,
            relative,
            info.size,
            version=validators(info),
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
        """A complete copy is there: unverified when only its size said so (the server
        told no time, ETag or digest), or when a checksums file has no line for it."""
        job, saved = self._job, self._saved()
        log.info("skipped %s: %s is complete", job.url, job.path)
        digest = self._expected.digest(info.digest, saved)
        unproven = validators(info) == NO_VALIDATORS and digest is None
        unverified = self._expected.unlisted(job.url, saved) or unproven  # it warns
        return Result(
            job.url, job.path, ok=True, size=info.size, skipped=True, unverified=unverified
        )

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
            part.on_checkpoint = partial(self._save, info)
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
            await context.committer.commit(part, size, validators(info))
        except BaseException as error:
            self._abandon(part, error)
            raise
        if self._journaled:
            context.journal.forget(self._name())
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
        return PurePosixPath(self._name())

    async def _verify(self, part: PartFile, size: int, served: Checksum | None) -> None:
        """Hash the file if a digest is expected (a mismatch names each mirror's ranges)."""
        expected = self._expected.digest(served, self._saved())
        if expected is None:
            return
        self._verified = True
        name = self._name()
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
        strict = self._expected.digest(None, self._saved()) is None
        options = transfer_options(config, context.throttle, self._job.request, info, strict)
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

    def _save(self, info: RemoteFile, durable: RangeSet, written: RangeSet) -> None:
        """Journal the ranges flushed to disk and those written (the part file calls)."""
        self._context.journal.save(
            Checkpoint.of(self._name(), self._job.url, info, durable, written)
        )
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
            self._context.journal.forget(self._name())
            self._journaled = False

    def _name(self) -> str:
        """The file's path below dest, as text (remembered: asked several times a file)."""
        path = self._job.path
        assert path is not None
        if self._relative_to[0] != path:
            self._relative_to = (path, path.relative_to(self._context.dest).as_posix())
        return self._relative_to[1]
