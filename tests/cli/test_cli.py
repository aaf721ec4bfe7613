"""The ``aiodl`` command in a subprocess, against a live local server."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pty
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from aiodl._cli.inputs import read_input
from aiodl._cli.parser import UsageError, byte_rate
from aiodl._disk.names import part_name
from testing import random_bytes, read_terminal, run_cli
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer

pytestmark = pytest.mark.anyio


async def test_all_ok_exits_0(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("a.txt", b"alpha")
    code, _, err = await run_cli("-d", str(tmp_path), url)
    assert code == 0, err
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert "1 ok, 0 failed" in err


async def test_json_lines_and_failed_list(http_server: FaultServer, tmp_path: Path) -> None:
    good = http_server.add("good.txt", b"good")
    bad = http_server.url("missing.txt")
    failed = tmp_path / "failed.txt"
    code, out, _ = await run_cli(
        "--json", "-q", "--failed-list", str(failed), "-d", str(tmp_path / "d"), good, bad
    )
    assert code == 1
    # One line per file as it finishes; "index" is its place among the sources given.
    lines = sorted((json.loads(line) for line in out.splitlines()), key=lambda x: x["index"])
    assert [(line["index"], line["ok"]) for line in lines] == [(0, True), (1, False)]
    assert lines[1]["url"] == bad
    assert "404" in lines[1]["error"]
    assert [r.url for r in read_input(iter(failed.read_text().splitlines()))] == [bad]


async def test_input_file_with_out_names(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("b.txt", b"beta")
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# a comment\n\n{url}\n  out=renamed/b2.txt\n")
    code, _, err = await run_cli("-q", "-i", str(listing), "-d", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "renamed" / "b2.txt").read_bytes() == b"beta"


@pytest.mark.parametrize(
    "args",
    [
        ["--split", "0", "http://127.0.0.1:9/x"],
        ["--header", "no-colon", "http://127.0.0.1:9/x"],
        [],
        ["--no-such-flag"],
    ],
)
async def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    code, out, err = await run_cli(*args)
    assert code == 2
    assert "usage: aiodl" in err
    assert "Traceback" not in err
    assert out == ""


async def test_api_key_comes_from_environment(http_server: FaultServer, tmp_path: Path) -> None:
    url = http_server.add("k.txt", b"key")
    env = {"AIODL_API_KEY": "topsecret", "PATH": "/usr/bin:/bin"}
    code, out, err = await run_cli(
        "--api-key-header", "X-JFrog-Art-Api", "--json", "-d", str(tmp_path), url, env=env
    )
    assert code == 0, err
    assert http_server.requests_for("k.txt")[0].headers["X-JFrog-Art-Api"] == "topsecret"
    assert "topsecret" not in out + err


async def test_tab_separated_urls_are_mirrors_of_one_file(
    http_server: FaultServer, other_server: FaultServer, tmp_path: Path
) -> None:
    data = random_bytes(4 << 20)
    first = http_server.add("m.bin", data, rate=4 << 20)
    mirror = other_server.add("m.bin", data, rate=4 << 20)
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{first}\t{mirror}\n  out=both.bin\n")
    code, out, err = await run_cli(
        "-i", str(listing), "-d", str(tmp_path / "out"), "--json", "-s", "4", "--no-progress"
    )
    assert code == 0, err
    assert (tmp_path / "out" / "both.bin").read_bytes() == data
    [line] = out.splitlines()
    assert set(json.loads(line)["delivered"]) == {first, mirror}


def test_option_line_without_url_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        list(read_input(iter(["  out=x"])))


async def test_sigint_exits_130_and_leaves_no_final_file(
    http_server: FaultServer, tmp_path: Path
) -> None:
    url = http_server.add("slow.bin", bytes(2_000_000), stall_at=500_000)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiodl",
        "-q",
        "--timeout",
        "60",
        "-d",
        str(tmp_path),
        url,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(http_server.stalled.wait(), timeout=30)  # mid-transfer now
    process.send_signal(signal.SIGINT)
    _, err = await process.communicate()
    assert process.returncode == 130
    assert b"Traceback" not in err
    assert not (tmp_path / "slow.bin").exists()


async def test_ftp_mirror_with_include_and_exclude(ftp: RunningFTP, tmp_path: Path) -> None:
    for name in ("a/x.bz2", "a/y.txt", "b/z.bz2", "skip.bz2"):
        (ftp.root / "pub" / name).parent.mkdir(parents=True, exist_ok=True)
        (ftp.root / "pub" / name).write_bytes(name.encode())
    dest = tmp_path / "d"
    code, _, err = await run_cli(
        "-d", str(dest), "--include", "*.bz2", "--exclude", "skip*", ftp.url("pub/")
    )
    assert code == 0, err
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.*")) == [
        "a/x.bz2",
        "b/z.bz2",
    ]
    assert "2 ok, 0 failed" in err


async def test_checksum_flags(http_server: FaultServer, tmp_path: Path) -> None:
    data = b"verified"
    url = http_server.add("v.txt", data)
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    code, _, err = await run_cli("-d", str(tmp_path / "a"), "--checksum", good, url)
    assert code == 0, err
    code, _, err = await run_cli("-d", str(tmp_path / "b"), "--checksum", "md5:" + "0" * 32, url)
    assert code == 1
    assert "md5" in err
    assert not (tmp_path / "b" / "v.txt").exists()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(data).hexdigest()}  v.txt\n")
    code, _, err = await run_cli("-d", str(tmp_path / "c"), "--checksums", str(sums), url)
    assert code == 0, err


async def test_checksum_with_many_urls_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("--checksum", "md5:" + "0" * 32, "http://a/x", "http://a/y")
    assert code == 2
    assert "--checksums" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "expected"), [("500", 500), ("10K", 10240), ("1.5m", 1572864), ("2G", 2 << 30)]
)
def test_byte_rate(text: str, expected: int) -> None:
    assert byte_rate(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-5K", "10X", "M"])
def test_byte_rate_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        byte_rate(text)


async def test_progress_bars_on_a_terminal_and_only_json_on_stdout(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """stderr is a real pseudo-terminal: rich draws bars there; stdout stays pure JSON."""
    urls = [http_server.add(f"f{i}.bin", bytes(200_000), rate=2_000_000) for i in range(3)]
    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--json", "-d", str(tmp_path), *urls,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )  # fmt: skip
    os.close(slave)
    terminal = asyncio.get_running_loop().run_in_executor(None, read_terminal, master)
    out, _ = await process.communicate()
    screen = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", await terminal).decode(errors="replace")
    os.close(master)
    assert process.returncode == 0, screen
    assert "3/3 files" in screen
    assert "3 ok, 0 failed" in screen
    lines = out.decode().splitlines()
    assert [json.loads(line)["ok"] for line in lines] == [True, True, True]


async def test_sigint_keeps_a_resumable_part(http_server: FaultServer, tmp_path: Path) -> None:
    """Ctrl-C after a checkpoint: exit 130, the .part and its journal stay, a rerun resumes."""
    url = http_server.add("big.bin", bytes(6 << 20), rate=1 << 20)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "-q", "-s", "3", "-d", str(tmp_path), url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not (tmp_path / ".aiodl" / "journal.sqlite").exists():
        assert time.monotonic() < deadline, "no checkpoint within 20 s"
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = await process.communicate()
    assert process.returncode == 130
    assert b"Traceback" not in err
    assert (tmp_path / part_name("big.bin")).exists()
    code, out, err2 = await run_cli("--json", "-q", "-d", str(tmp_path), url)
    assert code == 0, err2
    assert json.loads(out)["resumed"] is True
    assert (tmp_path / "big.bin").read_bytes() == bytes(6 << 20)


async def test_failed_list_keeps_urls_as_given_and_their_names(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """A token in a URL is needed to fetch it again, and out= keeps the file's place."""
    good = http_server.add("good.txt", b"good")
    bad = http_server.url("missing.bin") + "?token=s3cret&x=1"
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{good}\n{bad}\n  out=deep/name.bin\n")
    failed = tmp_path / "failed.txt"
    code, _, err = await run_cli(
        "-q", "-d", str(tmp_path / "d"), "-i", str(listing), "--failed-list", str(failed)
    )
    assert code == 1, err
    assert failed.read_text() == f"{bad}\n  out=deep/name.bin\n"
    [again] = list(read_input(iter(failed.read_text().splitlines())))
    assert (again.url, again.path) == (bad, "deep/name.bin")
    assert "s3cret" not in err


async def test_manifest_lists_and_exports_failures(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """`aiodl manifest FILE --failed` masks the password; `--export` keeps it (to retry)."""
    good = http_server.add("good.txt", b"good")
    port = http_server.port
    secret = f"http://user:s3cret@127.0.0.1:{port}/missing.txt"
    job = str(tmp_path / "job.sqlite")
    code, _, _ = await run_cli("-q", "--manifest", job, "-d", str(tmp_path / "d"), good, secret)
    assert code == 1
    code, out, _ = await run_cli("manifest", job)
    assert (code, out.strip()) == (0, "1 done, 1 failed, 0 pending")
    code, out, _ = await run_cli("manifest", job, "--failed")
    assert code == 0
    assert out.split("\t")[0] == f"http://user:***@127.0.0.1:{port}/missing.txt"
    assert "404" in out
    assert "s3cret" not in out
    exported = tmp_path / "retry.txt"
    code, _, _ = await run_cli("manifest", job, "--export", str(exported))
    assert code == 0
    assert [r.url for r in read_input(iter(exported.read_text().splitlines()))] == [secret]


async def test_manifest_command_on_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("manifest", str(tmp_path / "none.sqlite"))
    assert code == 2
    assert "no manifest" in err
    assert not (tmp_path / "none.sqlite").exists()
