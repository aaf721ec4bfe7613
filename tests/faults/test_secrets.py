"""Secrets stay secret: masked wherever a person reads a URL, and kept with their origin.

Masking: a token as the whole user-info (``http://ghp_TOKEN@host/``), parameters split
by ``;``, names such as ``pwd``, ``jwt``, ``hdnts``, ``code`` and ``sessionid``, in
``--json``, ``-v`` logs and the summary; the ``--failed-list`` file, which keeps tokens so
a rerun can fetch, is owner-only. Credentials: well-known credential headers, and any
header the caller marks (``credential_headers``, ``--credential-header``), never follow
a redirect to another origin (another port or host name), over http and https; a cookie a
server sets is never sent back (aiodl keeps no cookies).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from hypothesis import example, given
from hypothesis import strategies as st

import aiodl
from aiodl._credentials import looks_secret, mask_url
from testing import random_bytes
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer, running

pytestmark = pytest.mark.anyio


# --- masking, pure -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://ghp_T0KEN@h/f", "http://***@h/f"),
        ("ftp://T0KEN@h:2121/d/f", "ftp://***@h:2121/d/f"),
        ("https://user:pa55@h/f", "https://user:***@h/f"),
        ("https://h/f?a=1;token=t0k&b=2", "https://h/f?a=1;token=***&b=2"),
        ("https://h/f?pwd=1&jwt=2&hdnts=exp=9~hmac=ab&code=4&sessionid=5&page=6",
         "https://h/f?pwd=***&jwt=***&hdnts=***&code=***&sessionid=***&page=6"),
        ("https://h/app;jsessionid=S3SS/f.bin?x=1", "https://h/app;jsessionid=***/f.bin?x=1"),
        ("https://h/cb#access_token=t0k&state=s", "https://h/cb#access_token=***&state=s"),
        ("https://h/f?X-Goog-Credential=c&X-Goog-Date=d", "https://h/f?X-Goog-Credential=***&X-Goog-Date=***"),
        ("http://t0k@[::1/f?token=t", "http://***@[::1/f?token=***"),  # too broken to parse
        ("https://h/f?zipcode=12345&postcode=9", "https://h/f?zipcode=12345&postcode=9"),
    ],
)  # fmt: skip
def test_mask_url_examples(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    "name",
    ["X-JFrog-Art-Api", "PRIVATE-TOKEN", "X-Auth-Token", "X-Goog-Api-Key",
     "X-Goog-User-Project", "Ocp-Apim-Subscription-Key", "pwd", "jwt", "hdnts", "code",
     "sessionid", "JSESSIONID", "PHPSESSID"],
)  # fmt: skip
def test_well_known_credential_names_look_secret(name: str) -> None:
    assert looks_secret(name)


SECRET_NAMES = ["token", "access_token", "api_key", "X-Amz-Signature", "sig", "password", "pwd",
                "jwt", "hdnts", "code", "sessionid", "X-Goog-Credential", "auth"]  # fmt: skip
PLAIN_NAMES = ["page", "id", "format", "lang"]
plain = st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=8)
# Secret values share no letter with the plain parts, so none can hide inside them.
secret = st.text(alphabet="QRSTUVWXYZ0123456789-._~%+!$'()*,", min_size=6, max_size=16).map(
    lambda text: "Q" + text
)
pair = st.one_of(
    st.tuples(st.sampled_from(SECRET_NAMES), secret),
    st.tuples(st.sampled_from(PLAIN_NAMES), plain),
)


@st.composite
def urls_with_secrets(draw: st.DrawFn) -> tuple[str, list[str], str]:
    """A URL, the secret values in it, and its host."""
    secrets: list[str] = []

    def keep(value: str) -> str:
        secrets.append(value)
        return value

    scheme = draw(st.sampled_from(["http", "https", "ftp", "HTTP"]))
    userinfo = draw(
        st.one_of(
            st.just(""),
            secret.map(lambda value: f"{keep(value)}@"),
            st.tuples(plain, secret).map(lambda both: f"{both[0]}:{keep(both[1])}@"),
        )
    )
    host = draw(st.sampled_from(["h", "example.org", "127.0.0.1:8080", "[::1]:9"]))
    segments = draw(st.lists(plain, max_size=3))
    if draw(st.booleans()):
        segments.append(f"{draw(plain)};jsessionid={keep(draw(secret))}")
    url = f"{scheme}://{userinfo}{host}/" + "/".join(segments)
    for mark in ("?", "#"):
        pairs = draw(st.lists(pair, max_size=4))
        if pairs:
            url += mark + f"{pairs[0][0]}={pairs[0][1]}"
            for name, value in pairs[1:]:
                url += draw(st.sampled_from("&;")) + f"{name}={value}"
            secrets += [value for name, value in pairs if name in SECRET_NAMES]
    return url, secrets, host


@given(urls_with_secrets())
def test_mask_url_leaves_no_secret_value(case: tuple[str, list[str], str]) -> None:
    """Whatever the mix of user-info, path parameters, query and fragment parameters
    (``&`` or ``;``): no secret value survives, the host does, and masking again
    changes nothing."""
    url, secrets, host = case
    masked = mask_url(url)
    for value in secrets:
        assert value not in masked, (url, masked)
    assert host in masked
    assert mask_url(masked) == masked


@given(st.text())
@example("http://t0k@[x/?token=1")  # urlsplit refuses it
@example("http://u:p@h:99999/?token=1")
def test_mask_url_never_raises(text: str) -> None:
    assert isinstance(mask_url(text), str)


# --- masking, through the CLI ----------------------------------------------------------


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


CLI_SECRETS = ["ghpT0KENuser", "s3mic0l0n", "pwdV4L", "jwtV4L", "hdntsV4L", "c0deV4L",
               "s3ssV4L", "FTPT0KEN"]  # fmt: skip


async def test_cli_json_verbose_and_summary_mask_every_secret(
    http_server: FaultServer, ftp: RunningFTP, tmp_path: Path
) -> None:
    """A token as the whole user-info (HTTP and FTP), ``;``-separated parameters and the
    newly known names: masked in ``--json``, ``-v`` logs and the failure lines."""
    http_server.add("ok.bin", b"fine")
    (ftp.root / "f.txt").write_bytes(b"ftp")
    base = f"http://127.0.0.1:{http_server.port}"
    urls = [
        f"http://ghpT0KENuser@127.0.0.1:{http_server.port}/ok.bin",
        f"{base}/missing.bin?a=1;token=s3mic0l0n",
        f"{base}/gone.bin?pwd=pwdV4L&jwt=jwtV4L&hdnts=exp=1~hmac=hdntsV4L&code=c0deV4L"
        "&sessionid=s3ssV4L",
        ftp.url("f.txt", user="FTPT0KEN"),
    ]
    failed = tmp_path / "failed.txt"
    code, out, err = await run_cli(
        "--json", "-v", "--no-progress", "--retries", "0", "--failed-list", str(failed),
        "-d", str(tmp_path / "d"), *urls,
    )  # fmt: skip
    assert code == 1, err
    lines = {line["url"].split("/")[-1]: line for line in map(json.loads, out.splitlines())}
    assert lines["ok.bin"]["url"] == f"http://***@127.0.0.1:{http_server.port}/ok.bin"
    assert lines["ok.bin"]["ok"] is True
    assert lines["missing.bin?a=1;token=***"]["ok"] is False
    gone = "gone.bin?pwd=***&jwt=***&hdnts=***&code=***&sessionid=***"
    assert lines[gone]["ok"] is False
    assert lines["f.txt"]["url"] == f"ftp://***@127.0.0.1:{ftp.port}/f.txt"
    assert sum(line.startswith("  failed ") for line in err.splitlines()) >= 2
    for value in CLI_SECRETS:
        assert value not in out + err, value
    assert "s3mic0l0n" in failed.read_text()  # kept as given: a rerun needs it


async def test_failed_list_is_created_owner_only(http_server: FaultServer, tmp_path: Path) -> None:
    """It holds the URLs as given, tokens and all: mode 0600, like the manifest."""
    failed = tmp_path / "failed.txt"
    url = http_server.url("missing.bin") + "?token=t0k3n"
    code, _, err = await run_cli(
        "-q", "--retries", "0", "--failed-list", str(failed), "-d", str(tmp_path / "d"), url
    )
    assert code == 1, err
    assert failed.read_text() == f"{url}\n"
    assert stat.S_IMODE(failed.stat().st_mode) == 0o600


async def test_manifest_export_is_created_owner_only(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """``aiodl manifest FILE --export OUT`` writes the same kind of file: 0600 too."""
    url = http_server.url("missing.bin") + "?token=t0k3n"
    job = str(tmp_path / "job.sqlite")
    code, _, err = await run_cli(
        "-q", "--retries", "0", "--manifest", job, "-d", str(tmp_path), url
    )
    assert code == 1, err
    exported = tmp_path / "retry.txt"
    code, _, err = await run_cli("manifest", job, "--export", str(exported))
    assert code == 0, err
    assert exported.read_text() == f"{url}\n"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600


# --- credentials stay with their origin -------------------------------------------------


class CookieServer(FaultServer):
    """A FaultServer whose ``hops[NAME]`` answers ``/NAME`` with a 302 there that also
    sets a cookie."""

    def __init__(self) -> None:
        super().__init__()
        self.hops: dict[str, str] = {}

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        target = self.hops.get(request.path.lstrip("/"))
        if target is None:
            return await super()._answer(request)
        cookie = "session=s3rv3rc00kie; Path=/; Max-Age=3600"
        return web.Response(status=302, headers={"Location": target, "Set-Cookie": cookie})

    def named(self, name: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}/{name}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=["http", "https"])
async def origins(
    request: pytest.FixtureRequest, ca: trustme.CA
) -> AsyncIterator[tuple[CookieServer, CookieServer, dict[str, Any]]]:
    """Two servers on two ports (two origins), plain or TLS with a private CA, and the
    options that trust it."""
    tls = None
    options: dict[str, Any] = {}
    if request.param == "https":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        options["verify"] = trusting
    async with running(CookieServer(), tls) as first, running(CookieServer(), tls) as second:
        yield first, second, options


WELL_KNOWN = {
    "X-JFrog-Art-Api": "jfr0gK3Y",
    "PRIVATE-TOKEN": "gl4bT0K",
    "X-Auth-Token": "4uthT0K",
    "X-Goog-Api-Key": "g00gK3Y",
    "X-Goog-User-Project": "g00gPR0J",
    "Ocp-Apim-Subscription-Key": "4zur3K3Y",
}


def leaked(seen: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in seen.items() if value in values.values()}


@pytest.mark.parametrize("elsewhere", ["other port", "other host"])
async def test_well_known_credential_headers_stay_with_their_origin(
    origins: tuple[CookieServer, CookieServer, dict[str, Any]], tmp_path: Path, elsewhere: str
) -> None:
    """``-H 'X-JFrog-Art-Api: K'`` (the README's own example) and the other well-known
    credential headers reach the first origin, and not the origin a redirect goes to
    (another port, or another host name for the same port); X-Trace goes along."""
    first, second, options = origins
    if elsewhere == "other port":
        target = second.url("real.bin")
        second.add("real.bin", random_bytes(1000))
        there = second
    else:
        target = first.named("real.bin", host="localhost")
        first.add("real.bin", random_bytes(1000))
        there = first
    first.add("start.bin", b"", redirect_to=target)
    headers = {**WELL_KNOWN, "X-Trace": "tr4ce"}
    result = await aiodl.download(first.url("start.bin"), tmp_path, headers=headers, **options)
    assert result.ok, result.error
    [asked] = first.requests_for("start.bin")
    assert {name: asked.headers.get(name) for name in WELL_KNOWN} == WELL_KNOWN
    [after] = there.requests_for("real.bin")
    assert leaked(after.headers, WELL_KNOWN) == {}
    assert after.headers["X-Trace"] == "tr4ce"


async def test_headers_marked_as_credentials_stay_with_their_origin(
    origins: tuple[CookieServer, CookieServer, dict[str, Any]], tmp_path: Path
) -> None:
    """``credential_headers`` marks any header name (case-insensitively) as a
    credential, run-wide and in a Request's own headers."""
    first, second, options = origins
    second.add("real.bin", random_bytes(1000))
    first.add("start.bin", b"", redirect_to=second.url("real.bin"))
    marked = {"X-Tenant": "t3n4nt", "X-Customer": "cust0mer"}
    request = aiodl.Request(first.url("start.bin"), headers={"X-Customer": "cust0mer"})
    result = await aiodl.download(
        request,
        tmp_path,
        headers={"X-Tenant": "t3n4nt", "X-Trace": "tr4ce"},
        credential_headers=("x-tenant", "X-CUSTOMER"),
        **options,
    )
    assert result.ok, result.error
    [asked] = first.requests_for("start.bin")
    assert {name: asked.headers.get(name) for name in marked} == marked
    [after] = second.requests_for("real.bin")
    assert leaked(after.headers, marked) == {}
    assert after.headers["X-Trace"] == "tr4ce"


def test_credential_headers_must_be_names() -> None:
    with pytest.raises(TypeError, match="credential_headers must"):
        aiodl.Config(credential_headers="X-Tenant")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="credential_headers must"):
        aiodl.Config(credential_headers=("",))


async def test_a_cookie_a_server_sets_goes_back_to_its_host_only(
    origins: tuple[CookieServer, CookieServer, dict[str, Any]], tmp_path: Path
) -> None:
    """aiohttp's default jar sent a server's cookie anywhere; aiodl's jar (issue 21)
    follows the cookie rules on either transport: the next hop on the same host gets it
    back, another host (127.0.0.1, not localhost) never does."""
    first, second, options = origins
    second.add("real.bin", random_bytes(1000))
    first.hops["start.bin"] = first.named("hop.bin", host="localhost")
    first.hops["hop.bin"] = second.named("real.bin", host="127.0.0.1")
    start = first.named("start.bin", host="localhost")
    result = await aiodl.download(aiodl.Request(start, "real.bin"), tmp_path, **options)
    assert result.ok, result.error
    [hop] = first.requests_for("hop.bin")
    [after] = second.requests_for("real.bin")
    assert hop.headers.get("Cookie") == "session=s3rv3rc00kie"
    assert "s3rv3rc00kie" not in str(after.headers)


async def test_cli_credential_header_flag(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """``--credential-header NAME`` (repeatable) marks ``-H NAME: value`` as a
    credential; ``-H 'X-JFrog-Art-Api: K'`` is one already."""
    other_server.add("real.bin", b"data")
    url = http_server.add("start.bin", b"", redirect_to=other_server.url("real.bin"))
    code, _, err = await run_cli(
        "-q", "--credential-header", "X-Tenant", "-H", "X-Tenant: t3n4nt",
        "-H", "X-JFrog-Art-Api: jfr0gK3Y", "-H", "X-Trace: tr4ce",
        "-d", str(tmp_path), url,
    )  # fmt: skip
    assert code == 0, err
    assert http_server.requests_for("start.bin")[0].headers["X-Tenant"] == "t3n4nt"
    after = other_server.requests_for("real.bin")[0].headers
    assert "t3n4nt" not in str(after)
    assert "jfr0gK3Y" not in str(after)
    assert after["X-Trace"] == "tr4ce"
