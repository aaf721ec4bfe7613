"""The public coroutines: ``download_many``, ``stream`` and ``download``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Unpack
from urllib.parse import urlsplit

from ._config import Config
from ._credentials import netrc_logins
from ._digests import Checksum, parse_sums
from ._models import Request, Result, Sources, as_request
from ._options import Options, with_options

if TYPE_CHECKING:
    from ._core.engine import Deliver


@with_options
async def download_many(
    sources: Sources,
    dest: str | os.PathLike[str] = ".",
    *,
    config: Config | None = None,
    **options: Unpack[Options],
) -> list[Result]:
    """Download every source into ``dest``; one Result per source, in input order.

    ``sources`` may be any iterable or async iterable, drawn lazily. A failed file is a
    ``Result(ok=False, error=...)``; only invalid options raise. ``options`` are the
    fields of :class:`Config` and override ``config``.
    """
    results: dict[int, Result] = {}

    async def keep(number: int, result: Result) -> None:
        results[number] = result

    await _run(sources, dest, Config.build(config, options), keep)
    return [results[number] for number in range(len(results))]


@with_options
async def stream(
    sources: Sources,
    dest: str | os.PathLike[str] = ".",
    *,
    config: Config | None = None,
    **options: Unpack[Options],
) -> AsyncGenerator[Result, None]:
    """Download like ``download_many``, yielding each Result as soon as its file is done
    (``Result.index`` is its source's position). Nothing piles up: a consumer that stops
    to think holds the downloads back. To stop early, close it (``contextlib.aclosing``):
    the downloads still running are cancelled, their journaled bytes kept for a rerun.
    It always ends: if the run fails (invalid options, sources that raise), iterating
    raises that error."""
    settings = Config.build(config, options)
    ready: asyncio.Queue[Result | None] = asyncio.Queue(settings.connections)
    reading = True  # until the consumer leaves; the run's task cannot tell (see below)

    async def hand_over(number: int, result: Result) -> None:
        await ready.put(result)

    async def run() -> None:
        try:
            await _run(sources, dest, settings, hand_over)
        finally:
            # Not ``current_task().cancelling()``: on 3.11 a task group whose task failed
            # leaves its parent "cancelling" for good, and the end was never queued.
            if reading:
                await ready.put(None)

    task = asyncio.create_task(run())
    try:
        while (result := await ready.get()) is not None:
            yield result
        await task  # its error, if it failed (invalid options, failing sources)
    finally:
        reading = False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run(
    sources: Sources, dest: str | os.PathLike[str], settings: Config, deliver: Deliver
) -> None:
    _refuse_lone_url(sources)
    # The run is loaded when one runs (import aiodl stays light), off the loop.
    from ._core.drivers import Drivers, load_off_loop

    await load_off_loop("aiodl._core.engine")
    from ._core.engine import Engine, default_dest

    folder = default_dest(dest)
    async with AsyncExitStack() as stack:
        if settings.progress is True:
            from ._progress import ProgressBars, count_of  # rich only when bars are drawn

            bars = stack.enter_context(ProgressBars(files=count_of(sources)))
            settings = Config.build(settings, {"progress": bars.handle})
        sums = await load_sums(settings.checksums, settings) if settings.checksums else {}
        logins = netrc_logins(settings.netrc)
        drivers = Drivers(settings, logins)
        stack.push_async_callback(drivers.aclose)
        await Engine(settings, folder, drivers, sums).run(sources, deliver)


def _refuse_lone_url(sources: object) -> None:
    """A string or bytes is iterable too: as ``sources`` it would be read letter by letter
    (a failed Result per character), so it is the caller's bug, told with its fix."""
    if isinstance(sources, str | bytes | bytearray):
        raise TypeError(
            f"sources must be an iterable of URLs, got one {type(sources).__name__}: "
            "pass a list of URLs, or use aiodl.download for a single one"
        )


@with_options
async def download(
    source: str | Request,
    dest: str | os.PathLike[str] = ".",
    *,
    path: str | None = None,
    config: Config | None = None,
    **options: Unpack[Options],
) -> Result:
    """Download one source into the folder ``dest``; raises its DownloadError if it fails.

    ``dest`` is always a folder (created if missing). The file's name below it is ``path``
    (``"name.bin"`` or ``"sub/name.bin"``), else the Request's path, else the server's
    Content-Disposition or the URL's last segment.
    """
    if path is not None:
        source = dataclasses.replace(as_request(source), path=path)
    [result] = await download_many([source], dest, config=config, **options)
    if result.error is not None:
        raise result.error
    return result


async def load_sums(source: str | os.PathLike[str], settings: Config) -> dict[str, Checksum]:
    """The digests of a ``SHA256SUMS``-style file, read from a path or fetched from a URL
    (with the run's own settings). One that cannot be had is an invalid option
    (ValueError): nothing is downloaded unverified."""
    where = os.fspath(source)
    loop = asyncio.get_running_loop()
    if "://" not in where:
        return parse_sums(await loop.run_in_executor(None, _read, Path(where)), Path(where).name)
    with tempfile.TemporaryDirectory() as folder:
        [result] = await download_many([Request(where, "sums")], folder, config=_aside(settings))
        if result.error is not None or result.path is None:
            raise ValueError(f"checksums file unusable: {result.error}")
        text = await loop.run_in_executor(None, _read, result.path)
    return parse_sums(text, PurePosixPath(urlsplit(where).path).name)


def _aside(settings: Config) -> Config:
    """The run's connection settings (timeouts, logins, TLS, limits) without what shapes
    the run itself: the sums file is no file of the job, so it gets no shard folder, no
    manifest row, no progress and no checksum of its own."""
    return dataclasses.replace(
        settings, checksums=None, progress=False, shard=0, manifest=None, include=(), exclude=()
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ValueError(f"checksums file unusable: {error}") from None
