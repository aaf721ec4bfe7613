"""Secrets stay secret: masked wherever a person reads a URL.

Masking: a token as the whole user-info (``http://ghp_TOKEN@host/``), parameters split
by ``;``, names such as ``pwd``, ``jwt``, ``hdnts``, ``code`` and ``sessionid``, in
``--json``, ``-v`` logs and the summary; the ``--failed-list`` file, which keeps tokens so
a rerun can fetch, is owner-only.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiodl._rules import looks_secret, mask_url
from tests.servers.ftp import RunningFTP
from tests.servers.http import FaultServer

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
        ("http://t0k@[::1/f?token=t", "http://***@[::1/f?token=***"),  # too broken to parse
        ("https://h/f?zipcode=12345&postcode=9", "https://h/f?zipcode=12345&postcode=9"),
    ],
)  # fmt: skip
def test_mask_url_examples(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    "name",
    ["pwd", "jwt", "hdnts", "code", "sessionid", "JSESSIONID", "PHPSESSID"],
)  # fmt: skip
def test_well_known_secret_names_look_secret(name: str) -> None:
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
