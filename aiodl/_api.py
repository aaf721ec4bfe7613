"""The public coroutines: ``download_many`` and ``download``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

from ._config import Config
from ._driver import Driver
from ._engine import Engine, default_dest
from ._ftp import FTPDriver
from ._http import HTTPDriver, new_session, wait_closed
from ._models import Request, Result
from ._progress import ProgressBars


async def download_many(
    sources: Iterable[str | Request],
    dest: str | os.PathLike[str] = ".",
    *,
    config: Config | None = None,
    **options: Any,
) -> list[Result]:
    """Download every source into ``dest``; one Result per source, in input order.

    A failed file is a ``Result(ok=False, error=...)``; only invalid options raise.
    ``options`` are the fields of :class:`Config` and override ``config``.
    """
    settings = Config.build(config, options)
    folder = default_dest(dest)
    with ExitStack() as stack:
        if settings.progress is True:
            bars = stack.enter_context(ProgressBars())
            settings = Config.build(settings, {"progress": bars.handle})
        session = new_session(settings.timeout, settings.connections, settings.verify)
        try:
            http = HTTPDriver(session, settings.max_redirects)
            ftp = FTPDriver(settings.timeout, _basic(settings))
            drivers: dict[str, Driver] = {"http": http, "https": http, "ftp": ftp}
            try:
                return await Engine(settings, folder, drivers).run(sources)
            finally:
                await ftp.close()
        finally:
            await wait_closed(session)


async def download(
    source: str | Request,
    dest: str | os.PathLike[str] = ".",
    *,
    config: Config | None = None,
    **options: Any,
) -> Result:
    """Download one source; raises its DownloadError if it fails."""
    [result] = await download_many([source], dest, config=config, **options)
    if result.error is not None:
        raise result.error
    return result


def _basic(settings: Config) -> tuple[str, str] | None:
    """FTP logins take ``auth=(user, password)``; header credentials are HTTP-only."""
    return settings.auth if isinstance(settings.auth, tuple) else None
