"""The protocol drivers of one run, each made when its first URL comes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .._config import Config
from .._credentials import Login, Logins
from .._protocols.driver import Driver

if TYPE_CHECKING:
    from .._protocols.ftp.driver import FTPDriver
    from .._protocols.http.driver import HTTPDriver


class Drivers(Mapping[str, Driver]):
    """The protocol drivers of one run, each made when its first URL comes: a run of FTP
    URLs never imports the HTTP modules or builds a TLS context (a fifth of a short run's time),
    and a run of HTTP URLs never touches aioftp."""

    SCHEMES = ("http", "https", "ftp")

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
