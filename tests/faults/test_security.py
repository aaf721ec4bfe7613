"""Hostile names and credential handling over real sockets (HTTP and FTP on 127.0.0.1).

Names a server proposes (Content-Disposition, the URL's last segment) must become one
safe name inside ``dest``; credentials must never reach another origin through a
redirect, nor appear in logs, error text, Results or the CLI's ``--json`` output.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import aiodl
from aiodl._disk.names import part_name
from testing import FAST, random_bytes, sha
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


def only_child(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="/etc/passwd"', "passwd"),
        ("attachment; filename*=UTF-8''%2Fetc%2Fpasswd", "passwd"),
        ("attachment; filename*=UTF-8''..%2F..%2F..%2Fescape.sh", "escape.sh"),
        ("attachment; filename*=UTF-8''..%5C..%5Cwin.ini", "win.ini"),
        ("attachment; filename*=UTF-8''a%00b.txt", "a_b.txt"),
        ("attachment; filename*=UTF-8''%1B%5B31mred%07.txt", "_[31mred_.txt"),
        ("attachment; filename*=UTF-8''%C2%9B2Jcsi.txt", "_2Jcsi.txt"),
        ('attachment; filename="CON"', "_CON"),
        ('attachment; filename="NUL.txt"', "_NUL.txt"),
        ('attachment; filename="lpt1.tar.gz"', "_lpt1.tar.gz"),
        ('attachment; filename=".bashrc"', "bashrc"),
        ('attachment; filename="a:b*c?.txt"', "a_b_c_.txt"),
        ('attachment; filename="trailing. . "', "trailing"),
    ],
)
async def test_content_disposition_name_is_one_safe_name_inside_dest(
    http_server: FaultServer, tmp_path: Path, disposition: str, expected: str
) -> None:
    """Traversal, absolute paths, NUL, C0/C1 controls, Windows devices and forbidden
    characters in a server-proposed name: the file lands at ``dest/expected``, whole."""
    dest = tmp_path / "dest"
    data = random_bytes(5000)
    url = http_server.add("download", data, content_disposition=disposition)
    result = await aiodl.download(url, dest, **FAST)
    assert result.path == dest / expected
    assert sha(result.path.read_bytes()) == sha(data)
    assert only_child(dest) == [expected]
    assert only_child(tmp_path) == ["dest"]


@pytest.mark.parametrize(
    ("served", "url_path", "expected"),
    [
        ("a\x00b.txt", "a%00b.txt", "a_b.txt"),
        ("\x1b[2J.txt", "%1b%5b2J.txt", "_[2J.txt"),
        ("x/../../escape.txt", "x/..%2f..%2fescape.txt", "escape.txt"),
        ("..\\..\\win.ini", "..%5c..%5cwin.ini", "_.._win.ini"),
        ("etc/passwd", "%2Fetc%2Fpasswd", "passwd"),
        ("CON", "CON", "_CON"),
        ("nul.txt", "nul.txt", "_nul.txt"),
        ("COM1.tar.gz", "COM1.tar.gz", "_COM1.tar.gz"),
    ],
)
async def test_url_name_is_one_safe_name_inside_dest(
    http_server: FaultServer, tmp_path: Path, served: str, url_path: str, expected: str
) -> None:
    """The URL's last segment, percent-decoded, is as untrusted as a server's header."""
    dest = tmp_path / "dest"
    data = random_bytes(3000)
    http_server.add(served, data)
    result = await aiodl.download(http_server.url(url_path), dest, **FAST)
    assert result.path == dest / expected
    assert sha(result.path.read_bytes()) == sha(data)
    assert only_child(dest) == [expected]
    assert only_child(tmp_path) == ["dest"]


@pytest.mark.parametrize(
    ("disposition", "url_path"),
    [('attachment; filename=".."', "x"), ('attachment; filename=". . ."', "x"), (None, "%2e%2e")],
)
async def test_a_name_that_is_only_dots_is_refused_and_nothing_is_written(
    http_server: FaultServer, tmp_path: Path, disposition: str | None, url_path: str
) -> None:
    dest = tmp_path / "dest"
    http_server.add(
        ".." if url_path == "%2e%2e" else url_path, b"data", content_disposition=disposition
    )
    result = (await aiodl.download_many([http_server.url(url_path)], dest, **FAST))[0]
    assert isinstance(result.error, aiodl.UnsafePathError)
    assert list(dest.iterdir()) == []
    assert only_child(tmp_path) == ["dest"]


@pytest.mark.parametrize("source", ["disposition", "url"])
@pytest.mark.parametrize("char", ["a", "é", "😀"])
async def test_very_long_name_is_cut_to_fit_keeping_its_extension(
    http_server: FaultServer, tmp_path: Path, source: str, char: str
) -> None:
    """A 1200-byte name: the saved name and its part file's fit the 255-byte limit of
    common file systems, the cut never splits a UTF-8 character, the extension stays,
    and a digest of the whole name keeps it apart from other long names."""
    dest = tmp_path / "dest"
    long_name = char * (1200 // len(char.encode())) + ".iso"
    data = random_bytes(2000)
    if source == "disposition":
        header = "attachment; filename*=UTF-8''" + "".join(f"%{b:02X}" for b in long_name.encode())
        url = http_server.add("download", data, content_disposition=header)
    else:
        http_server.add(long_name, data)
        url = http_server.url(quote(long_name))
    result = await aiodl.download(url, dest, **FAST)
    assert result.path is not None
    name = result.path.name
    assert result.path.parent == dest
    assert len(name.encode()) <= 250
    assert len(part_name(name).encode()) <= 255
    stem, tag = name.removesuffix(".iso").rsplit("~", 1)  # ~ 8 hex digits of the whole name
    assert name.endswith(".iso")
    assert tag == hashlib.sha256(long_name.encode()).hexdigest()[:8]
    assert stem == char * len(stem)
    assert sha(result.path.read_bytes()) == sha(data)
    assert only_child(dest) == [name]


def netrc_file(tmp_path: Path) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine 127.0.0.1 login nina password n3trcpass\n")
    path.chmod(0o600)
    return path


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# (options, the credential headers the first origin must get, with their values)
CARRIERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "auth tuple": ({"auth": ("alice", "s3cret")}, {"Authorization": basic("alice", "s3cret")}),
    "auth mapping": ({"auth": {"X-JFrog-Art-Api": "jfr0g"}}, {"X-JFrog-Art-Api": "jfr0g"}),
    "cookie header": ({"headers": {"Cookie": "session=c00kie"}}, {"Cookie": "session=c00kie"}),
    "proxy authorization": (
        {"headers": {"Proxy-Authorization": "Basic cHJveHk="}},
        {"Proxy-Authorization": "Basic cHJveHk="},
    ),
    "secret-looking headers": (
        {"headers": {"Private-Token": "t0ken", "X-Auth-Key": "xk3y"}},
        {"Private-Token": "t0ken", "X-Auth-Key": "xk3y"},
    ),
    "netrc": ({"netrc": "NETRC"}, {"Authorization": basic("nina", "n3trcpass")}),
    "url userinfo": ({}, {"Authorization": basic("ursula", "us3rinfo")}),
}


@pytest.mark.parametrize("carrier", list(CARRIERS))
async def test_cross_origin_redirect_drops_every_credential(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path, carrier: str
) -> None:
    """A same-origin hop keeps the credentials; the hop to another origin (another port
    is another origin) sends none of them, while an ordinary header still goes along."""
    options, credentials = CARRIERS[carrier]
    if options.get("netrc") == "NETRC":
        options = {"netrc": netrc_file(tmp_path)}
    data = random_bytes(1000)
    target = other_server.add("real.bin", data)
    http_server.add("hop.bin", b"", redirect_to=target)
    url = http_server.add("start.bin", b"", redirect_to="/hop.bin")
    if carrier == "url userinfo":
        url = url.replace("http://", "http://ursula:us3rinfo@")
    headers = {**options.pop("headers", {}), "X-Trace": "t-1"}
    result = await aiodl.download(url, tmp_path / "d", headers=headers, **options, **FAST)
    assert result.ok, result.error
    assert sha((tmp_path / "d" / "start.bin").read_bytes()) == sha(data)
    for name in ("start.bin", "hop.bin"):
        sent = http_server.requests_for(name)[0].headers
        assert {key: sent.get(key) for key in credentials} == credentials, name
    [after] = other_server.requests_for("real.bin")
    if carrier == "netrc":  # netrc is per host, not per port (curl -n -L): 127.0.0.1's own
        assert after.headers["Authorization"] == credentials["Authorization"]
        return
    leaked = {key: value for key, value in after.headers.items() if key in credentials}
    assert leaked == {}
    assert not any(value in str(after.headers) for value in credentials.values())
    assert after.headers["X-Trace"] == "t-1"


SECRETS = ["pa55word", "t0k3n", "k3yk3y", "s1gn4ture", "st4llpw", "b0bpa55", "h34derk3y"]


async def test_secrets_never_reach_logs_errors_or_results(
    http_server: FaultServer,
    other_server: FaultServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Passwords in URLs and secret-looking query values are masked (``***``) in every
    Result, error text, event and INFO log line, on success, 404, retries, a redirect,
    a read timeout and a cut connection; basic-auth and API-key header values never
    appear at all."""
    port = http_server.port
    base = f"http://alice:pa55word@127.0.0.1:{port}"
    http_server.add("ok.bin", b"fine")
    http_server.add("busy.bin", b"later", statuses=[503])
    http_server.add("stall.bin", random_bytes(200_000), stall_at=1000)
    http_server.add("cut.bin", random_bytes(200_000), truncate_at=1000)
    gone = other_server.url("gone.bin") + "?sig=s1gn4ture"
    http_server.add("moved.bin", b"", redirect_to=gone)
    urls = [
        f"{base}/ok.bin?token=t0k3n&x=1",
        f"{base}/missing.bin?api_key=k3yk3y",
        f"{base}/busy.bin?signature=s1gn4ture",
        f"{base}/moved.bin",
        f"http://carol:st4llpw@127.0.0.1:{port}/stall.bin?access_token=t0k3n",
        f"{base}/cut.bin",
    ]
    events: list[aiodl.Event] = []
    with caplog.at_level(logging.INFO, logger="aiodl"):
        results = await aiodl.download_many(
            urls,
            tmp_path / "d",
            auth=("bob", "b0bpa55"),
            headers={"X-Api-Key": "h34derk3y"},
            timeout=0.3,
            retries=1,
            progress=events.append,
            **FAST,
        )
    assert [r.ok for r in results] == [True, False, True, False, False, False]
    assert isinstance(results[4].error, aiodl.DownloadTimeout)
    assert results[0].url == f"http://alice:***@127.0.0.1:{port}/ok.bin?token=***&x=1"
    texts = [record.getMessage() for record in caplog.records if record.name == "aiodl"]
    assert any("retrying" in text for text in texts)
    for result in results:
        texts += [result.url, repr(result), str(result.error), repr(result.error)]
        texts += [str(result.error.url) if result.error else "", *result.delivered]
    texts += [repr(event) for event in events]
    text = "\n".join(texts)
    auth_values = [basic("bob", "b0bpa55"), basic("alice", "pa55word")]
    for secret in SECRETS + [value.split()[1] for value in auth_values]:
        assert secret not in text, secret


async def test_cli_json_and_verbose_logs_hold_no_secret(
    http_server: FaultServer, ftp: RunningFTP, tmp_path: Path
) -> None:
    """``--json`` on stdout and ``-v`` logs on stderr: URLs masked, no password, token,
    or header value, for HTTP and FTP, saved and failed files alike."""
    (ftp.root / "f.txt").write_bytes(b"ftp")
    http_server.add("ok.bin", b"fine")
    base = f"http://alice:pa55word@127.0.0.1:{http_server.port}"
    urls = [
        f"{base}/ok.bin?token=t0k3n",
        f"{base}/missing.bin?api_key=k3yk3y",
        ftp.url("f.txt", user="alice:wonder"),
        ftp.url("nope.txt", user="alice:wonder"),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--json", "-v", "--no-progress", "--retries", "0",
        "-H", "X-Api-Key: h34derk3y", "-d", str(tmp_path / "d"), *urls,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 1, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    by_name = {line["url"].rsplit("/", 1)[1]: line for line in lines}  # in finishing order
    assert {name: line["ok"] for name, line in by_name.items()} == {
        "ok.bin?token=***": True,
        "missing.bin?api_key=***": False,
        "f.txt": True,
        "nope.txt": False,
    }
    assert by_name["ok.bin?token=***"]["url"].startswith("http://alice:***@")
    assert by_name["f.txt"]["url"].startswith("ftp://alice:***@")
    assert "saved" in err.decode()  # -v logged at INFO
    for secret in ["pa55word", "t0k3n", "k3yk3y", "h34derk3y", "wonder"]:
        assert secret not in out.decode() + err.decode(), secret


async def test_per_request_credential_headers_are_dropped_across_origins(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    """``Request(url, headers={...})`` headers with secret-looking names are credentials
    like run-wide ones: dropped on a redirect to another origin (X-Trace goes on)."""
    target = other_server.add("real.bin", b"data")
    url = http_server.add("moved.bin", b"", redirect_to=target)
    secret = {"X-Api-Key": "k3y", "Private-Token": "t0ken", "Cookie": "s=c00kie"}
    request = aiodl.Request(url, headers={**secret, "X-Trace": "1"})
    result = await aiodl.download(request, tmp_path)
    assert result.ok
    assert http_server.requests_for("moved.bin")[0].headers["X-Api-Key"] == "k3y"
    after = other_server.requests_for("real.bin")[0].headers
    assert after["X-Trace"] == "1"
    assert {name: after[name] for name in secret if name in after} == {}


async def test_long_names_that_differ_only_past_the_cut_stay_distinct(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """Two names of 300+ bytes that differ only after byte 250: a truncated name carries
    8 hex digits of the whole name's sha256, so the second is not taken for the first
    (it was reported skipped, holding the first file's bytes)."""
    stem = "a" * 300
    first, second = random_bytes(4096), random_bytes(4096)
    url1 = http_server.add(stem + "-first.bin", first)
    url2 = http_server.add(stem + "-second.bin", second)
    one = await aiodl.download(url1, tmp_path)
    two = await aiodl.download(url2, tmp_path)
    assert one.path is not None
    assert two.path is not None
    assert one.path != two.path
    assert not two.skipped
    assert sha(one.path.read_bytes()) == sha(first)
    assert sha(two.path.read_bytes()) == sha(second)
    for path in (one.path, two.path):
        assert path.parent == tmp_path
        assert len(path.name.encode()) <= 250


async def test_long_names_in_one_run_both_arrive(http_server: FaultServer, tmp_path: Path) -> None:
    """The same collision inside one ``download_many``: both files arrive, under two
    names."""
    stem = "b" * 300
    files = {stem + "-1.bin": random_bytes(1000), stem + "-2.bin": random_bytes(2000)}
    urls = [http_server.add(name, data) for name, data in files.items()]
    results = await aiodl.download_many(urls, tmp_path, connections=1)
    assert [r.error for r in results] == [None, None]
    assert len({r.path for r in results}) == 2
    for result, data in zip(results, files.values(), strict=True):
        assert result.path is not None
        assert sha(result.path.read_bytes()) == sha(data)


async def test_a_non_ascii_url_path_is_sent_percent_encoded(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """``http://host/é.txt`` as a str (an IRI, as users paste them): the request line is
    ASCII (RFC 9112 3.2), the path sent as ``/%C3%A9.txt`` as curl and aiohttp send it,
    and the file is saved as ``é.txt``."""
    data = random_bytes(100)
    http_server.add("é.txt", data)
    result = (await aiodl.download_many([http_server.url("é.txt")], tmp_path, retries=0))[0]
    assert result.error is None
    assert result.path == tmp_path / "é.txt"
    assert result.path.read_bytes() == data
