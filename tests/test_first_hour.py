"""The first hour of a new user (issue 17): the CLI and API as a newcomer meets them,
against live local servers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import json
import os
import pty
import pydoc
import re
import signal
import subprocess
import sys
import sysconfig
import time
import typing
import venv
import zipfile
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
import trustme

import aiodl
from aiodl._disk.manifest import Manifest
from testing import read_terminal, run_cli
from testing.servers.http import FaultServer
from testing.servers.rawhttp import RawRequest, RawServer, Responder, head

pytestmark = pytest.mark.anyio


def sums_line(name: str, data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


async def test_checksums_url_is_fetched_on_its_own_terms(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """--checksums URL with --shard and --manifest: the sums file is neither sharded,
    recorded, nor counted; the file it lists is verified."""
    data = b"payload" * 1000
    url = http_server.add("a.bin", data)
    sums = http_server.add("SHA256SUMS", sums_line("a.bin", data))
    manifest = tmp_path / "job.sqlite"
    code, _, err = await run_cli(
        "-d", str(tmp_path / "dl"), "--shard", "2", "--manifest", str(manifest),
        "--checksums", sums, url,
    )  # fmt: skip
    assert code == 0, err
    assert "1 ok, 0 failed, 0 skipped" in err
    [saved] = (tmp_path / "dl").rglob("a.bin")
    assert saved.read_bytes() == data
    assert not list((tmp_path / "dl").rglob("sums"))
    book = Manifest(manifest)
    try:
        assert book.counts() == {"done": 1, "failed": 0, "pending": 0}
        assert [entry.url for entry in book.entries("done")] == [url]
    finally:
        book.close()


async def drain(results: AsyncGenerator[aiodl.Result, None]) -> None:
    async with contextlib.aclosing(results):
        async for _ in results:
            pass


@pytest.mark.parametrize("lone", ["http://127.0.0.1:9/f", b"http://127.0.0.1:9/f"])
async def test_a_lone_url_as_sources_is_a_type_error(lone: str | bytes, tmp_path: Path) -> None:
    """A string is iterable: without the check it is read letter by letter."""
    with pytest.raises(TypeError, match=r"pass a list of URLs, or use aiodl\.download"):
        await aiodl.download_many(lone, tmp_path / "never")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass a list of URLs, or use aiodl\.download"):
        await drain(aiodl.stream(lone, tmp_path / "never"))  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


def test_typed_options_are_configs_fields() -> None:
    """The hand-written TypedDict never drifts from Config: same names, same types."""
    fields = {field.name for field in dataclasses.fields(aiodl.Config)}
    assert set(aiodl.Options.__annotations__) == fields
    assert typing.get_type_hints(aiodl.Options) == {
        name: hint for name, hint in typing.get_type_hints(aiodl.Config).items() if name in fields
    }


@pytest.mark.parametrize("function", [aiodl.download_many, aiodl.stream, aiodl.download])
def test_help_lists_every_option_with_its_default(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    for field in dataclasses.fields(aiodl.Config):
        assert parameters[field.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[field.name].default == getattr(aiodl.Config(), field.name)
    assert "options" not in parameters
    assert "split: 'int' = 8" in pydoc.render_doc(function, renderer=pydoc.plaintext)


def test_the_package_is_marked_typed() -> None:
    assert (Path(aiodl.__file__).parent / "py.typed").is_file()


async def test_download_path_names_the_file(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("a.bin", b"alpha")
    result = await aiodl.download(url, tmp_path, path="name.bin")
    assert result.path == tmp_path / "name.bin"
    assert (tmp_path / "name.bin").read_bytes() == b"alpha"


async def test_output_flag_names_the_file_below_its_folder(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """``-o DIR/NAME`` is dest DIR (below -d) and the file NAME, as curl -o and wget -O."""
    url = http_server.add("a.bin", b"alpha")
    code, _, err = await run_cli("-d", str(tmp_path), "-o", "out/name.bin", url)
    assert code == 0, err
    assert (tmp_path / "out" / "name.bin").read_bytes() == b"alpha"
    code, _, err = await run_cli("--output", str(tmp_path / "abs.bin"), url)
    assert code == 0, err
    assert (tmp_path / "abs.bin").read_bytes() == b"alpha"


async def test_output_flag_with_two_urls_is_a_usage_error(
    http_server: FaultServer, tmp_path: Path
) -> None:
    urls = [http_server.add(name, b"x") for name in ("a", "b")]
    code, _, err = await run_cli("-d", str(tmp_path), "-o", "name.bin", *urls)
    assert code == 2
    assert "aiodl: error: -o/--output names the file of one URL" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


NASTY = "\x1b[2J\x1b]0;PWNED\x07"


def serve_reasons(server: RawServer) -> list[str]:
    """Two files refused with hostile reason phrases, one retried once after a third."""
    tries = 0

    def refuse(reason: str) -> Responder:
        async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
            writer.write(head(f"404 {reason}", "Content-Length: 0"))
            return True

        return respond

    async def flaky(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        nonlocal tries
        tries += 1
        if tries == 1:
            writer.write(head(f"503 {NASTY}", "Retry-After: 0", "Content-Length: 0"))
        else:
            writer.write(head("200 OK", "Content-Length: 2") + b"ok")
        return True

    return [
        server.add("markup", refuse("[/]")),
        server.add("escapes", refuse(NASTY)),
        server.add("flaky", flaky),
    ]


async def run_on_terminal(*args: str) -> tuple[int, str]:
    """The CLI with stderr on a pseudo-terminal (progress bars on); what it drew there."""
    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"},
    )  # fmt: skip
    os.close(slave)
    terminal = asyncio.get_running_loop().run_in_executor(None, read_terminal, master)
    try:
        await asyncio.wait_for(process.wait(), timeout=60)  # a guard: a hang fails, not stalls
    except TimeoutError:
        process.kill()
        await process.wait()
    screen = (await terminal).decode(errors="replace")
    os.close(master)
    assert process.returncode is not None
    return process.returncode, screen


def assert_escaped(screen: str) -> None:
    assert "Traceback" not in screen
    assert "MarkupError" not in screen
    assert "\x1b]0;" not in screen  # no title change: no OSC sequence at all
    assert "\x07" not in screen
    assert "\x1b[2J" not in screen
    assert r"\x1b[2J\x1b]0;PWNED\x07" in screen
    assert "[/]" in screen


@pytest.mark.parametrize("verbose", [[], ["-v"]])
async def test_server_text_reaches_a_terminal_as_text(
    raw_server: RawServer, tmp_path: Path, verbose: list[str]
) -> None:
    """Reason phrases are shown, never interpreted: no markup, no escape sequences, in the
    progress bars' lines, the summary and the -v log."""
    urls = serve_reasons(raw_server)
    code, screen = await run_on_terminal(*verbose, "-d", str(tmp_path), *urls)
    assert code == 1, screen
    assert_escaped(screen)
    assert "1 ok, 2 failed" in screen


async def test_server_text_in_json_is_json_escaped(raw_server: RawServer, tmp_path: Path) -> None:
    urls = serve_reasons(raw_server)
    code, out, err = await run_cli("--json", "-v", "-d", str(tmp_path), *urls)
    assert code == 1, err
    assert "\x1b" not in out
    assert "\x1b" not in err
    errors = {line["url"]: line["error"] for line in map(json.loads, out.splitlines())}
    assert errors[urls[0]].endswith("[/]")
    assert errors[urls[1]].endswith(NASTY)  # JSON carries the text itself, escaped by JSON


async def test_ctrl_c_tells_what_was_kept_and_the_rerun_what_it_reused(
    http_server: FaultServer, tmp_path: Path
) -> None:
    data = os.urandom(6 << 20)
    url = http_server.add("big.bin", data, rate=1 << 20)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", "-s", "3", "-d", str(tmp_path), url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not (tmp_path / ".aiodl" / "journal.sqlite").exists():  # the first checkpoint
        assert time.monotonic() < deadline, "no checkpoint within 20 s"
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = await process.communicate()
    assert process.returncode == 130
    assert "aiodl: interrupted: 1 partial file kept; run the same command to resume" in (
        err.decode()
    )
    code, _, err2 = await run_cli("--no-progress", "-s", "3", "-d", str(tmp_path), url)
    assert code == 0, err2
    summary = re.search(r"1 resumed \(([\d.]+) MiB fetched, ([\d.]+) MiB reused\)", err2)
    assert summary is not None, err2
    fetched, reused = float(summary[1]), float(summary[2])
    assert reused > 0
    assert abs(fetched + reused - 6.0) < 0.11  # the two add up to the file (rounded)
    assert (tmp_path / "big.bin").read_bytes() == data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-d", "{tmp}/afile"],
            "aiodl: error: {tmp}/afile is a file, not a folder; pass -d a folder",
        ),
        (
            ["-i", "{tmp}/nosuch.txt"],
            "aiodl: error: no file {tmp}/nosuch.txt; check the path given to -i/--input-file",
        ),
        (["-d", "{tmp}/afile/below"], "aiodl: error: {tmp}/afile is a file, not a folder;"),
    ],
)
async def test_setup_errors_are_one_line_without_the_usage(
    http_server: FaultServer, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "afile").write_text("in the way")
    url = http_server.add("a.txt", b"a")
    code, out, err = await run_cli(*(arg.format(tmp=tmp_path) for arg in args), url)
    assert code == 2
    assert err.startswith(message.format(tmp=tmp_path)), err
    assert len(err.splitlines()) == 1, err
    assert "usage:" not in err
    assert "Errno" not in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-s", "0"], "-s/--split: must be an integer from 1 to 64, got '0'"),
        (["--connections", "x"], "-j/--connections: must be an integer from 1 to 1024, got 'x'"),
        (["--per-host", "0"], "--per-host: must be an integer from 1 to 1024"),
        (["--retries", "-1"], "--retries: must be an integer >= 0"),
        (["--max-attempts", "0"], "--max-attempts: must be an integer >= 1"),
        (["--shard", "5"], "--shard: must be an integer from 0 to 4, got '5'"),
        (["--timeout", "0"], "--timeout: must be a positive number of seconds, got '0'"),
        (["--dask-local", "0"], "--dask-local: must be an integer >= 1"),
    ],
)
async def test_option_errors_name_the_flag(args: list[str], flag: str) -> None:
    code, _, err = await run_cli(*args, "http://127.0.0.1:9/x")
    assert code == 2
    assert f"aiodl: error: argument {flag}" in err
    assert "usage: aiodl" in err  # a usage error shows the usage


async def test_aria2_checksum_form_is_accepted(http_server: FaultServer, tmp_path: Path) -> None:
    data = b"verified"
    url = http_server.add("v.bin", data)
    good = f"sha-256={hashlib.sha256(data).hexdigest()}"
    code, _, err = await run_cli("-d", str(tmp_path), "--checksum", good, url)
    assert code == 0, err
    bad = f"sha-256={'0' * 64}"
    code, _, err = await run_cli("-d", str(tmp_path / "b"), "--checksum", bad, url)
    assert code == 1
    assert "sha256" in err
    assert not (tmp_path / "b" / "v.bin").exists()


async def test_help_names_the_manifest_command() -> None:
    code, out, _ = await run_cli("--help")
    assert code == 0
    assert "aiodl manifest FILE" in out


async def test_retry_lines_name_the_url_without_a_source_location(
    raw_server: RawServer, tmp_path: Path
) -> None:
    flaky = serve_reasons(raw_server)[2]
    code, screen = await run_on_terminal("-d", str(tmp_path), flaky)
    assert code == 0, screen
    assert f"retry {flaky} in " in screen
    assert "_progress.py" not in screen
    assert ".py:" not in screen


async def test_dask_local_keeps_dasks_info_logs_quiet(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("a.txt", b"a")
    code, _, err = await run_cli(
        "--dask-local", "1", "--manifest", str(tmp_path / "job.sqlite"), "-d", str(tmp_path), url
    )
    assert code == 0, err
    assert err.splitlines() == [err.splitlines()[0]], err  # the summary line and nothing else
    assert err.startswith("1 ok, 0 failed")


@pytest.mark.packaging
def test_a_built_wheel_installs_and_runs(tmp_path: Path) -> None:
    """``pip wheel .`` gives a wheel (with py.typed) that a fresh venv installs, and whose
    ``aiodl`` command runs."""
    root = Path(__file__).resolve().parent.parent
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(root)],
        check=True,
        timeout=600,
    )
    [wheel] = wheels.glob("aiodl_downloader-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "aiodl/py.typed" in archive.namelist()
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    pip = [str(fresh / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=300)
    # The dependencies come from this test's own venv (no index is asked): a path line in
    # a .pth file adds that folder, whose own .pth files (this checkout's editable
    # install) are not read, so aiodl itself can only come from the wheel.
    [lib] = (fresh / "lib").glob("python3.*/site-packages")
    (lib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": "/usr/bin:/bin"}
    where = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import aiodl; print(aiodl.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(lib)
    run = subprocess.run(
        [str(fresh / "bin" / "aiodl"), "--version"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"aiodl {aiodl.__version__}"


async def test_cacert_on_a_cluster_is_a_usage_error(tmp_path: Path) -> None:
    """--cacert builds an SSLContext, which cannot be sent to Dask workers: refused up
    front with a sentence (exit 2), never a pickling traceback from the cluster."""
    pem = tmp_path / "ca.pem"
    pem.write_text(trustme.CA().cert_pem.bytes().decode())
    code, _, err = await run_cli(
        "--dask-local", "1", "--manifest", str(tmp_path / "job.sqlite"),
        "--cacert", str(pem), "-d", str(tmp_path), "https://127.0.0.1:1/f",
    )  # fmt: skip
    assert code == 2, err
    assert "--cacert is not supported with --scheduler/--dask-local" in err
    assert "Traceback" not in err
