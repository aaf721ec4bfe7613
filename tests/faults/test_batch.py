"""One URL can never abort or hang a batch, over real sockets on 127.0.0.1.

A malformed input URL, a hostile redirect, a bug inside one file's download or a progress
callback that raises: that file fails (with a one-sentence reason), the others are saved,
and ``download_many``, ``stream`` and the CLI always end. Cancelling (a timeout, Ctrl-C)
ends every wait at once, a server's Retry-After included. ``connections`` and the other
concurrency options are bounded, and workers start only as jobs arrive.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import aiodl
import testing
from aiodl._config import Config
from aiodl._core.engine import Engine
from aiodl._protocols.driver import Body, Endpoint, RemoteFile
from aiodl._protocols.entries import Listing
from aiodl._protocols.ftp.driver import FTPDriver
from aiodl._protocols.http.driver import HTTPDriver
from testing import random_bytes, write_tree
from testing.servers.ftp import RunningFTP
from testing.servers.http import FaultServer, running
from testing.servers.rawhttp import RawRequest, RawServer, head

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {**testing.FAST, "retries": 1}
HARD_LIMIT = 60.0  # seconds a CLI run may take before the test calls it hung


async def run_cli(*args: str) -> tuple[int, str, str]:
    """``python -m aiodl ARGS`` under a hard time limit: a hang fails the test."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), HARD_LIMIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"aiodl {' '.join(args)} did not end within {HARD_LIMIT:.0f} s")
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def redirect_to(location: str) -> Any:
    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(head("302 Found", f"Location: {location}", "Content-Length: 0"))
        return True

    return respond


async def test_cli_with_a_hostile_redirect_between_two_good_urls_ends(
    http_server: FaultServer, raw_server: RawServer, tmp_path: Path
) -> None:
    """``Location: http://a..b/`` (a host name getaddrinfo refuses with UnicodeError)
    fails that file alone: exit 1, both good files saved, one failure line."""
    first = http_server.add("first.bin", random_bytes(3000))
    third = http_server.add("third.bin", random_bytes(4000))
    hostile = raw_server.add("hostile.bin", redirect_to("http://a..b/"))
    code, _, err = await run_cli(
        "--no-progress", "--retries", "1", "-d", str(tmp_path), first, hostile, third
    )
    assert code == 1, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["first.bin", "third.bin"]
    assert (tmp_path / "first.bin").read_bytes() == http_server.files["first.bin"]
    assert (tmp_path / "third.bin").read_bytes() == http_server.files["third.bin"]
    failures = [line for line in err.splitlines() if line.startswith("  failed ")]
    assert len(failures) == 1, err
    assert "hostile.bin" in failures[0]
    assert "a..b" in failures[0]
    assert "Traceback" not in err
    assert "1 failed" in err


BAD_URLS = {
    "port out of range": ("http://127.0.0.1:99999/x.bin", "port"),
    "port not a number": ("http://127.0.0.1:8o8o/x.bin", "port"),
    "port zero": ("http://127.0.0.1:0/x.bin", "port"),
    "unclosed IPv6 literal": ("http://[::1/x.bin", "IPv6"),
    "not an IPv6 address": ("http://[zz::1]/x.bin", "IPv6"),
    "junk after an IPv6 literal": ("http://[::1]junk/x.bin", "IPv6"),
    "no host": ("http:///x.bin", "host"),
    "empty label": ("http://a..b/x.bin", "host"),
    "label too long": (f"http://{'a' * 64}.example/x.bin", "host"),
    "unknown scheme": ("gopher://127.0.0.1/x.bin", "scheme"),
    "no scheme": ("127.0.0.1/x.bin", "scheme"),
    "bad mirror": ("http://127.0.0.1:1/x.bin\thttp://127.0.0.1:77777/x.bin", "port"),
}


@pytest.mark.parametrize("case", list(BAD_URLS))
async def test_a_malformed_url_fails_alone_with_a_clear_reason(
    http_server: FaultServer, tmp_path: Path, case: str
) -> None:
    """Validated when its Request becomes a job: a failed Result saying what is wrong
    and what to do (one sentence), no request for it, the files around it saved."""
    url, word = BAD_URLS[case]
    main, *mirrors = url.split("\t")
    before = http_server.add("before.bin", random_bytes(1000))
    after = http_server.add("after.bin", random_bytes(1000))
    bad = aiodl.Request(main, mirrors=mirrors)
    results = await aiodl.download_many([before, bad, after], tmp_path, **FAST)
    assert [result.ok for result in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, aiodl.DownloadError)
    message = str(error)
    assert word.lower() in message.lower(), message
    assert message.count(". ") == 0
    assert "\n" not in message
    assert "fix" in message or "correct" in message, message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["after.bin", "before.bin"]


async def test_stream_ends_with_the_error_when_the_sources_fail(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """The sources themselves raise after one URL (a broken generator): the run ends
    and the consumer gets that error instead of waiting for ever (on 3.11 the task
    group left the run's task "cancelling", so the end of the stream was never queued)."""
    url = http_server.add("one.bin", random_bytes(1000))

    def sources() -> Iterator[str]:
        yield url
        raise RuntimeError("the list of sources broke")

    async def consume() -> list[aiodl.Result]:
        return [result async for result in aiodl.stream(sources(), tmp_path, **FAST)]

    consumer = asyncio.create_task(consume())
    await asyncio.wait([consumer], timeout=30)  # a generous guard: a hang fails here
    if not consumer.done():
        consumer.cancel()
        pytest.fail("stream() did not end after its sources failed")
    with pytest.raises(RuntimeError, match="sources broke"):
        consumer.result()


async def test_cli_with_a_bad_input_line_after_a_good_url_ends(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """An input file read lazily fails at its second entry: a usage error, exit 2, no
    hang (the same never-queued end of the stream)."""
    first = http_server.add("one.bin", random_bytes(1000))
    second = http_server.add("two.bin", random_bytes(1000))
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{first}\n{second}\n  bogus=1\n")  # read when the run is on
    code, _, err = await run_cli("--no-progress", "-d", str(tmp_path / "d"), "-i", str(listing))
    assert code == 2, err
    assert "unexpected option line" in err
    assert "Traceback" not in err


class BuggyDriver:
    """The real HTTP driver, with a bug planted for one path (as an unknown bug would
    hit one file): ``open`` raises what ``bug`` says."""

    def __init__(self, real: HTTPDriver, path: str, bug: BaseException) -> None:
        self._real, self._path, self._bug = real, path, bug

    async def open(
        self, endpoint: Endpoint, start: int, end: int | None, known: RemoteFile | None
    ) -> Body:
        if endpoint.url.endswith(self._path):
            raise self._bug
        return await self._real.open(endpoint, start, end, known)


async def run_engine(
    sources: list[str], dest: Path, driver: BuggyDriver, **options: Any
) -> list[aiodl.Result]:
    results: dict[int, aiodl.Result] = {}

    async def keep(number: int, result: aiodl.Result) -> None:
        results[number] = result

    engine = Engine(Config(**options), dest, {"http": driver})
    await engine.run(sources, keep)
    return [results[number] for number in range(len(results))]


async def test_an_unexpected_error_in_one_file_fails_that_file_alone(
    http_server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here a RuntimeError) inside one file's download: that file's Result is a
    DownloadError wrapping it, naming the masked URL; its traceback is logged at DEBUG
    for a bug report (masked too); the other files are saved."""
    good = [http_server.add(name, random_bytes(2000)) for name in ("a.bin", "c.bin")]
    port = http_server.port
    buggy = f"http://bob:pa55word@127.0.0.1:{port}/b.bin?token=t0k3n"
    real = HTTPDriver(5.0, True, 5)
    planted = RuntimeError(f"planted bug for {buggy}")
    try:
        with caplog.at_level(logging.DEBUG, logger="aiodl"):
            results = await run_engine(
                [good[0], buggy, good[1]], tmp_path, BuggyDriver(real, "b.bin?token=t0k3n", planted)
            )
    finally:
        await real.aclose()
    assert [result.ok for result in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, aiodl.DownloadError)
    assert error.__cause__ is planted
    masked = f"http://bob:***@127.0.0.1:{port}/b.bin?token=***"
    assert error.url == masked
    assert masked in str(error)
    assert "RuntimeError" in str(error)
    assert "report" in str(error)
    traces = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("Traceback" in text and "RuntimeError" in text for text in traces)
    for text in [str(error), *(record.getMessage() for record in caplog.records)]:
        assert "pa55word" not in text
        assert "t0k3n" not in text


async def test_an_error_url_is_masked_whoever_raised_it(
    http_server: FaultServer, tmp_path: Path
) -> None:
    """A DownloadError raised with the URL as given (as ``_transfer`` did once): the
    Result's ``error.url`` is masked all the same."""
    url = f"http://alice:s3cret@127.0.0.1:{http_server.port}/x.bin?sig=s1gn4ture"
    real = HTTPDriver(5.0, True, 5)
    cut = aiodl.TransferError("connection closed early", url=url)
    try:
        [result] = await run_engine([url], tmp_path, BuggyDriver(real, "x.bin?sig=s1gn4ture", cut))
    finally:
        await real.aclose()
    assert result.error is cut
    assert cut.url == f"http://alice:***@127.0.0.1:{http_server.port}/x.bin?sig=***"


async def test_a_progress_callback_that_raises_does_not_stop_the_run(
    http_server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Like a logging handler: the callback's error is logged (one warning, its
    traceback at DEBUG) and the run goes on; every file ends as it would have."""
    urls = [http_server.add(name, random_bytes(5000)) for name in ("a.bin", "b.bin")]
    urls.insert(1, http_server.url("missing.bin"))
    calls: list[aiodl.Event] = []

    def progress(event: aiodl.Event) -> None:
        calls.append(event)
        raise ValueError("the callback broke")

    with caplog.at_level(logging.DEBUG, logger="aiodl"):
        results = await aiodl.download_many(urls, tmp_path, progress=progress, **FAST)
    assert [result.ok for result in results] == [True, False, True]
    assert isinstance(results[1].error, aiodl.HTTPStatusError)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.bin", "b.bin"]
    assert len(calls) > 3  # it was called on, after its first failure
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "the progress callback raised ValueError: the callback broke; the downloads go on"
    ]
    traces = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("Traceback" in text and "the callback broke" in text for text in traces)


# --- cancellation ends every wait at once ---------------------------------------------


class NoticingServer(FaultServer):
    """A FaultServer that sets ``asked`` when a request arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.asked.set()
        return await super().handle(request)


@pytest.fixture
async def busy_server() -> AsyncIterator[NoticingServer]:
    async with running(NoticingServer()) as server:
        yield server


async def test_a_timeout_ends_a_retry_after_wait_at_once(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """503 with ``Retry-After: 60``: ``asyncio.timeout(1)`` around ``download_many``
    returns within seconds (it took the whole wait again after the cancel, when the
    pause took its slot back through the host's deadline)."""
    url = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await aiodl.download_many([url], tmp_path, retries=3)
    assert time.monotonic() - began < 10
    assert busy_server.asked.is_set()
    assert list(tmp_path.iterdir()) == []


async def test_a_timeout_ends_a_wait_for_the_hosts_deadline_at_once(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """Two files of one host: the first got ``Retry-After: 60``, the second waits for
    the host's deadline (lending its slot); a timeout ends both waits at once."""
    busy = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    other = busy_server.add("other.bin", random_bytes(1000))
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await aiodl.download_many([busy, other], tmp_path, retries=3, per_host=1)
    assert time.monotonic() - began < 10


async def test_sigint_ends_a_retry_after_wait_promptly(
    busy_server: NoticingServer, tmp_path: Path
) -> None:
    """Ctrl-C while the CLI waits out ``Retry-After: 60``: exit 130 within seconds."""
    url = busy_server.add("busy.bin", random_bytes(1000), statuses=[503] * 5, retry_after="60")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "-v", "--no-progress", "--retries", "3",
        "-d", str(tmp_path), url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(HARD_LIMIT):
            while b"retrying in" not in (line := await process.stderr.readline()):
                assert line, "aiodl ended before it waited"
            process.send_signal(signal.SIGINT)
            signalled = time.monotonic()
            _, rest = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, rest
    assert time.monotonic() - signalled < 10
    assert b"Traceback" not in rest


# --- bounded concurrency -------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("connections", 100_000), ("split", 1000), ("per_host", 100_000)],
)
async def test_concurrency_beyond_its_bound_is_refused(
    http_server: FaultServer, tmp_path: Path, option: str, value: int
) -> None:
    url = http_server.add("one.bin", random_bytes(1000))
    with pytest.raises(ValueError, match=option):
        await aiodl.download_many([url], tmp_path, **{option: value})
    assert http_server.seen == []


async def test_cli_j_beyond_its_bound_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("-j", "1000000", "-d", str(tmp_path), "http://127.0.0.1:1/x")
    assert code == 2
    assert "connections" in err
    assert "1024" in err
    assert "Traceback" not in err


async def test_workers_start_as_jobs_arrive(http_server: FaultServer, tmp_path: Path) -> None:
    """``connections=1024`` and one file in hand (the sources hold the next one back
    until it is done): a handful of tasks, not 2048 idle workers started up front."""
    url = http_server.add("a.bin", random_bytes(1000))
    finished = asyncio.Event()
    tasks: list[int] = []

    async def sources() -> AsyncIterator[str]:
        yield url
        await finished.wait()

    def count(event: aiodl.Event) -> None:
        if isinstance(event, aiodl.Started):
            tasks.append(len(asyncio.all_tasks()))
        if isinstance(event, aiodl.Finished):
            finished.set()

    [result] = await aiodl.download_many(sources(), tmp_path, connections=1024, progress=count)
    assert result.ok
    assert tasks
    assert max(tasks) < 16, tasks


class BuggyLister(FTPDriver):
    """The real FTP driver, with a bug planted in the listing of one folder."""

    def __init__(self, folder: str, bug: BaseException) -> None:
        super().__init__(5.0, None)
        self._folder, self._bug = folder, bug

    async def list_folder(self, endpoint: Endpoint) -> Listing:
        if endpoint.url.endswith(self._folder):
            raise self._bug
        return await super().list_folder(endpoint)


async def test_an_unexpected_error_in_one_listing_fails_that_folder_alone(
    ftp: RunningFTP, tmp_path: Path
) -> None:
    """A bug while listing one folder of a tree walk: that folder is one failed Result
    wrapping it; the walk goes on and the other folders' files are saved."""
    files = write_tree(ftp.root, {"tree/a/1.bin": 1000, "tree/b/2.bin": 1000, "tree/c/3.bin": 1})
    planted = RuntimeError("planted listing bug")
    driver = BuggyLister("/tree/b/", planted)
    results: list[aiodl.Result] = []
    dest = tmp_path / "d"
    dest.mkdir()

    async def keep(number: int, result: aiodl.Result) -> None:
        results.append(result)

    try:
        await Engine(Config(), dest, {"ftp": driver}).run([ftp.url("tree/")], keep)
    finally:
        await driver.aclose()
    failed = [result for result in results if not result.ok]
    assert [result.error.__cause__ for result in failed if result.error] == [planted]
    assert failed[0].url == ftp.url("tree/b/")
    for name in ("a/1.bin", "c/3.bin"):
        assert (tmp_path / "d" / name).read_bytes() == files[f"tree/{name}"]
    assert not (tmp_path / "d" / "b").exists()
