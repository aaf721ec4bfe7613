"""The run's cookie jar: what a server sets is sent back to it for the rest of the run,
under the cookie rules (domain, path, secure, expiry; ports do not count), and curl's
Netscape cookie files are read (``-b``) and written (``-c``).

The rules and the file format are the stdlib's ``http.cookiejar`` (``DefaultCookiePolicy``,
``MozillaCookieJar``, ``#HttpOnly_`` lines included), which asks for urllib-shaped requests
and responses: ``_Request`` and ``_Response`` are the two small adapters. The jar has its own
lock and never waits on I/O, so one loop's tasks share it safely.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from multidict import CIMultiDictProxy

if TYPE_CHECKING:
    from http.cookiejar import MozillaCookieJar
    from urllib.request import Request

# The attribute MozillaCookieJar writes as a ``#HttpOnly_`` line (``http.cookiejar``'s
# HTTPONLY_ATTR, not in its stubs), and how servers spell it in Set-Cookie (kept as sent).
_HTTPONLY = "HTTPOnly"
_HTTPONLY_SPELLINGS = ("HttpOnly", "httponly", "HTTPONLY", "Httponly")


class Cookies:
    """Cookies of one run, shared by all its files, segments and redirect hops."""

    def __init__(self) -> None:
        self._made: MozillaCookieJar | None = None  # made when the first cookie comes

    @property
    def _jar(self) -> MozillaCookieJar:
        """The jar: ``http.cookiejar`` (with http.client and email, 15 ms) is imported
        only by a run that meets a cookie."""
        if self._made is None:
            from http.cookiejar import DefaultCookiePolicy, MozillaCookieJar

            # A cookie set without Domain goes back to its own host only, not to
            # subdomains (RFC 6265 5.3; the stdlib's default is Netscape's leniency).
            strict = DefaultCookiePolicy.DomainStrictNonDomain
            self._made = MozillaCookieJar(policy=DefaultCookiePolicy(strict_ns_domain=strict))
        return self._made

    def __len__(self) -> int:
        return 0 if self._made is None else len(self._made)

    def add_to(self, url: str, headers: MutableMapping[str, str]) -> None:
        """Put the cookies due to ``url`` in ``headers`` as ``Cookie`` (unless the caller
        set a Cookie header of its own)."""
        if len(self):  # an empty jar, the common case, costs nothing per request
            self._jar.add_cookie_header(_Request.of(url, headers))

    def store(self, url: str, headers: CIMultiDictProxy[str]) -> None:
        """Keep the cookies a response to ``url`` sets, those the rules allow."""
        if "Set-Cookie" in headers:
            self._jar.extract_cookies(_Response(headers), _Request.of(url, {}))  # type: ignore[arg-type]

    def load(self, path: str | os.PathLike[str]) -> None:
        """Add the cookies of a Netscape cookie file (curl's, wget's, a browser export's).

        A missing or malformed file is an invalid option (ValueError). Session cookies
        (curl writes them with expiry 0) are kept; expired ones are dropped.
        """
        from http.cookiejar import LoadError

        try:
            self._jar.load(os.fspath(path), ignore_discard=True, ignore_expires=True)
        except FileNotFoundError:
            raise ValueError(f"cookie file not found: {os.fspath(path)}") from None
        except LoadError:
            raise ValueError(
                f"cookie file {os.fspath(path)} is not in Netscape format "
                "(its first line must be '# Netscape HTTP Cookie File')"
            ) from None
        except OSError as error:
            reason = error.strerror or error
            raise ValueError(f"cookie file {os.fspath(path)} unreadable: {reason}") from None
        for cookie in self._jar:
            if cookie.expires == 0:  # curl's session cookie
                cookie.expires, cookie.discard = None, True
        self._jar.clear_expired_cookies()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write every live cookie, session ones included (as curl does, expiry 0), to a
        Netscape cookie file readable by its owner only, atomically: a reader sees the
        old file or the new one, never half of one."""
        from http.cookiejar import MozillaCookieJar

        self._jar.clear_expired_cookies()
        out = MozillaCookieJar()
        for cookie in self._jar:
            written = copy.deepcopy(cookie)
            if written.expires is None:
                written.expires = 0
            if any(cookie.has_nonstandard_attr(name) for name in _HTTPONLY_SPELLINGS):
                written.set_nonstandard_attr(_HTTPONLY, "")
            out.set_cookie(written)
        target = Path(path)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.close(fd)  # mkstemp made it 0600; the jar reopens it by name
            out.save(temp, ignore_discard=True, ignore_expires=True)
            with open(temp, "rb") as written_file:
                os.fsync(written_file.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class _Request:
    """A request as ``http.cookiejar`` reads it (``urllib.request.Request``'s shape).

    The URL it is given has no user-info (the jar would take ``user:pass@host`` for the
    host); every request is the user's own, so none is "unverifiable" (third-party).
    """

    unverifiable = False

    @classmethod
    def of(cls, url: str, headers: MutableMapping[str, str]) -> Request:
        """The adapter, typed as what the jar's methods take."""
        return cast("Request", cls(url, headers))

    def __init__(self, url: str, headers: MutableMapping[str, str]) -> None:
        parts = urlsplit(url)
        self.type = parts.scheme.lower()
        self.host = parts.netloc.rpartition("@")[2]
        self._url = parts._replace(netloc=self.host, fragment="").geturl()
        self.origin_req_host = parts.hostname or ""
        self._headers = headers

    def get_full_url(self) -> str:
        return self._url

    def get_type(self) -> str:
        return self.type

    def get_host(self) -> str:
        return self.host

    def get_origin_req_host(self) -> str:
        return self.origin_req_host

    def is_unverifiable(self) -> bool:
        return self.unverifiable

    def has_header(self, name: str) -> bool:
        return self.get_header(name) is not None

    def get_header(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self._headers.items():
            if key.lower() == lowered:
                return value
        return default

    def header_items(self) -> list[tuple[str, str]]:
        return list(self._headers.items())

    def add_unredirected_header(self, name: str, value: str) -> None:
        self._headers[name] = value


class _Response:
    """A response's head as ``http.cookiejar`` reads it (``info().get_all``)."""

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def info(self) -> _Response:
        return self

    def get_all(self, name: str, default: list[str]) -> list[str]:
        return self._headers.getall(name, default)
