"""The protocol drivers of one run, each made when its first URL comes, and the run's
cookie jar (read before the run, written after it)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from .._config import Config
from .._credentials import Login, Logins
from .._protocols.driver import Driver

if TYPE_CHECKING:
    from .._protocols.ftp.driver import FTPDriver
    from .._protocols.http.cookies import Cookies
    from .._protocols.http.driver import HTTPDriver

log = logging.getLogger("aiodl")


class Drivers(Mapping[str, Driver]):
    """The protocol drivers of one run, each made when its first URL comes: a run of FTP
    URLs never imports the HTTP modules or builds a TLS context (a fifth of a short run's
    time), and a run of HTTP URLs never touches the FTP ones.

    A ``cookies`` file is read here, so a missing or malformed one fails the run before
    any request (as a netrc file does), and ``cookie_jar``'s folder must exist.
    """

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
        self._cookies = None if settings.cookies is None else _read(settings.cookies, settings)
        if settings.cookie_jar is not None and not Path(settings.cookie_jar).parent.is_dir():
            raise ValueError(f"cookie jar {os.fspath(settings.cookie_jar)}: no such folder")

    def __getitem__(self, scheme: str) -> Driver:
        if scheme in ("http", "https"):
            if self._http is None:
                from .._protocols.http.driver import HTTPDriver

                settings = self._settings
                self._http = HTTPDriver(
                    settings.timeout,
                    settings.verify,
                    settings.max_redirects,
                    settings.resolve,
                    # netrc when auth is not given; per host, along each redirect chain
                    logins=self._netrc if settings.auth is None else None,
                    cookies=self._cookies,
                )
                self._cookies = self._http.cookies
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
        if self._settings.cookie_jar is not None:
            self._write_cookies(self._settings.cookie_jar)

    def _write_cookies(self, path: str | os.PathLike[str]) -> None:
        """Write the jar back; a failure is told, as curl does, but does not undo the
        run's downloads."""
        if self._cookies is None:
            from .._protocols.http.cookies import Cookies

            self._cookies = Cookies()
        try:
            self._cookies.save(path)
        except OSError as error:
            log.warning("cookies not saved to %s: %s", os.fspath(path), error.strerror or error)


def _read(path: str | os.PathLike[str], settings: Config) -> Cookies:
    """The jar the run starts with. A missing ``cookies`` file that is also the
    ``cookie_jar`` is the first run of ``-b FILE -c FILE``: an empty jar."""
    from .._protocols.http.cookies import Cookies

    jar = Cookies()
    first_run = settings.cookie_jar is not None and Path(path) == Path(settings.cookie_jar)
    if not (first_run and not Path(path).exists()):
        jar.load(path)
    return jar


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
