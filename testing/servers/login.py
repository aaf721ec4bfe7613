"""A login-protected archive on three local origins, modelled on NASA Earthdata's flow.

``data.test`` serves files to a session cookie; without one it sends the client to
``login.test``, which asks for basic authentication and, on success, sends it back with a
one-time ``code``; the data host trades the code for a session cookie (its own, set on that
response) and redirects to the file. ``other.test`` serves a file the data host redirects
to and records every request: it must never see a credential or a cookie. All three listen
on 127.0.0.1; the names reach them through ``resolve`` (``archive.resolve``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

USER, PASSWORD = "archivist", "l0g1nPa55"


@dataclass
class Archive:
    files: dict[str, bytes]
    ports: dict[str, int] = field(default_factory=dict)
    logins: int = 0  # successful logins at the login host
    seen: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    _codes: set[str] = field(default_factory=set)
    _sessions: set[str] = field(default_factory=set)

    def url(self, host: str, path: str) -> str:
        return f"http://{host}.test:{self.ports[host]}/{path}"

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    def _record(self, host: str, request: web.Request) -> None:
        self.seen.setdefault(host, []).append((request.path_qs, dict(request.headers)))

    async def data(self, request: web.Request) -> web.StreamResponse:
        self._record("data", request)
        name = request.path.lstrip("/")
        if name == "out.bin":  # a file elsewhere: the third origin
            raise web.HTTPFound(self.url("other", name))
        code = request.query.get("code")
        if code is not None and code in self._codes:
            self._codes.discard(code)  # one time only
            session = secrets.token_hex(8)
            self._sessions.add(session)
            response = web.HTTPFound(f"/{name}")
            response.set_cookie("session", session, path="/", httponly=True, max_age=3600)
            raise response
        if request.cookies.get("session") not in self._sessions:
            back = quote(self.url("data", name), safe="")
            raise web.HTTPFound(self.url("login", f"authorize?redirect={back}"))
        return web.Response(body=self.files[name])

    async def login(self, request: web.Request) -> web.StreamResponse:
        self._record("login", request)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="archive"'})
        self.logins += 1
        code = secrets.token_hex(8)
        self._codes.add(code)
        raise web.HTTPFound(f"{request.query['redirect']}?code={code}")

    async def other(self, request: web.Request) -> web.StreamResponse:
        self._record("other", request)
        return web.Response(body=self.files[request.path.lstrip("/")])


@asynccontextmanager
async def running_archive(files: dict[str, bytes]) -> AsyncIterator[Archive]:
    archive = Archive(files)
    runners = []
    try:
        for host in ("data", "login", "other"):
            app = web.Application()
            app.router.add_get("/{tail:.*}", getattr(archive, host))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            archive.ports[host] = runner.addresses[0][1]
        yield archive
    finally:
        for runner in runners:
            await runner.cleanup()
