"""The protocol drivers of one run, each made when its first URL comes."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, ClassVar

from .._config import Config
from .._credentials import Login, Logins
from .._protocols.driver import Driver

if TYPE_CHECKING:
    from .._protocols.ftp.driver import FTPDriver
    from .._protocols.http.driver import HTTPDriver


class Drivers(Mapping[str, Driver]):
    """The protocol drivers of one run, each made when its first URL comes: a run of FTP
    URLs never imports aiohttp or builds a TLS context (a fifth of a short run's time),
    and a run of HTTP URLs never touches aioftp."""

    SCHEMES = ("http", "https", "ftp")
    MODULES: ClassVar[dict[str, str]] = {
        "http": "aiodl._protocols.http.driver",
        "https": "aiodl._protocols.http.driver",
        "ftp": "aiodl._protocols.ftp.driver",
    }

    def __init__(self, settings: Config, logins: Logins) -> None:
        self._settings = settings
        self._netrc = logins
        self._http: HTTPDriver | None = None
        self._ftp: FTPDriver | None = None

    def __getitem__(self, scheme: str) -> Driver:
        if scheme in ("http", "https"):
            if self._http is None:
                from .._protocols.http.driver import HTTPDriver

                settings = self._settings
                self._http = HTTPDriver(
                    settings.timeout,
                    settings.connections,
                    settings.verify,
                    settings.max_redirects,
                    settings.resolve,
                )
            return self._http
        if scheme == "ftp":
            if self._ftp is None:
                from .._protocols.ftp.driver import FTPDriver

                settings = self._settings
                self._ftp = FTPDriver(
                    settings.timeout, _basic(settings), self._netrc, settings.resolve
                )
            return self._ftp
        raise KeyError(scheme)

    async def load(self, scheme: str) -> None:
        """Import the driver of ``scheme`` off the loop, before its first URL needs it."""
        name = self.MODULES.get(scheme)
        if name is not None:
            await load_off_loop(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.SCHEMES)

    def __len__(self) -> int:
        return len(self.SCHEMES)

    async def aclose(self) -> None:
        if self._ftp is not None:
            await self._ftp.aclose()
        if self._http is not None:
            await self._http.aclose()


def _basic(settings: Config) -> Login | None:
    """FTP logins take ``auth=(user, password)``; header credentials are HTTP-only."""
    return settings.auth if isinstance(settings.auth, tuple) else None


async def load_off_loop(name: str) -> None:
    """Import module ``name`` in a worker thread if it is not loaded yet: importing runs
    tens of milliseconds of code, which on the caller's loop would hold every transfer
    and the caller's own tasks (in a thread, the loop still gets the interpreter every
    few milliseconds)."""
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)
