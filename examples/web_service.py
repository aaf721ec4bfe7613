"""aiodl inside an aiohttp web service: download jobs as background tasks on its own loop.

The job of a service that fetches files on request (an ingest API, a dataset cache): a
client POSTs a list of URLs to ``/downloads`` and gets a job id at once; the download runs
as an asyncio task on the service's own event loop (no threads, no second loop), and
``GET /downloads/{id}`` reports live progress from aiodl's ``progress=`` events (bytes so
far, files finished) and, once done, every file's outcome. Shutting the service down
cancels jobs still running. The service caps its bandwidth (``rate_limit``) so one job
cannot take the whole uplink.

``main()`` plays the client: it serves a few files from ``static_server.py`` (a
subprocess on 127.0.0.1), starts the service on 127.0.0.1 with an AppRunner, posts a job
with one URL that does not exist, polls until it is done and checks the outcome.

    python examples/web_service.py
    AIODL_EXAMPLE_FILES=3 AIODL_EXAMPLE_MIB=1 AIODL_EXAMPLE_RATE_MIB=2 \
        python examples/web_service.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

import aiodl

WORK = Path(os.environ.get("AIODL_DEMO_DIR", "/tmp/aiodl-demo")) / "service"
FILES = int(os.environ.get("AIODL_EXAMPLE_FILES", "6"))
MIB = int(os.environ.get("AIODL_EXAMPLE_MIB", "16"))
RATE = float(os.environ.get("AIODL_EXAMPLE_RATE_MIB", "40")) * 2**20  # bytes per second


@dataclass
class Job:
    """One POSTed list of URLs: live counters while it runs, every Result when done."""

    urls: list[str]
    received: int = 0
    expected: int = 0  # sizes announced so far (sources are started a few at a time)
    finished: dict[int, aiodl.Result] = field(default_factory=dict)
    results: list[aiodl.Result] | None = None
    task: asyncio.Task[None] | None = None

    def on_event(self, event: aiodl.Event) -> None:
        """aiodl's progress callable: called on the loop, so plain counters suffice."""
        if isinstance(event, aiodl.Advanced):
            self.received += event.nbytes
        elif isinstance(event, aiodl.Started):
            self.expected += event.total or 0
        elif isinstance(event, aiodl.Finished | aiodl.Failed):
            self.finished[event.index] = event.result

    def as_json(self) -> dict[str, Any]:
        results = self.results if self.results is not None else list(self.finished.values())
        files = [
            {"url": r.url, "ok": r.ok, "size": r.size, "error": str(r.error) if r.error else None}
            for r in results
        ]
        return {
            "status": "running" if self.results is None else "done",
            "bytes": self.received,
            "expected_bytes": self.expected,
            "files": files,
        }


JOBS = web.AppKey("jobs", dict[str, Job])
DEST = web.AppKey("dest", Path)


async def run(job: Job, dest: Path) -> None:
    job.results = await aiodl.download_many(
        job.urls, dest, connections=8, rate_limit=RATE, progress=job.on_event
    )


async def create_job(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:  # not JSON
        body = None
    urls = body.get("urls") if isinstance(body, dict) else None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise web.HTTPBadRequest(text='expected {"urls": ["http://...", ...]}')
    job_id = secrets.token_hex(8)
    job = request.app[JOBS][job_id] = Job(urls)
    job.task = asyncio.create_task(run(job, request.app[DEST] / job_id))
    return web.json_response({"id": job_id}, status=202)


async def job_status(request: web.Request) -> web.Response:
    job = request.app[JOBS].get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound(text="no such job")
    return web.json_response({"id": request.match_info["id"], **job.as_json()})


async def cancel_jobs(app: web.Application) -> None:
    """On shutdown: a job still running is cancelled (its .part files stay to resume)."""
    tasks = [job.task for job in app[JOBS].values() if job.task and not job.task.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def make_app(dest: Path) -> web.Application:
    app = web.Application()
    app[JOBS], app[DEST] = {}, dest
    app.router.add_post("/downloads", create_job)
    app.router.add_get("/downloads/{id}", job_status)
    app.on_shutdown.append(cancel_jobs)
    return app


def generate(folder: Path) -> dict[str, str]:
    """The files the file server offers; returns their sha256 by name."""
    folder.mkdir(parents=True)
    digests = {}
    for number in range(FILES):
        data = os.urandom(MIB << 20)
        (folder / f"part{number}.bin").write_bytes(data)
        digests[f"part{number}.bin"] = hashlib.sha256(data).hexdigest()
    return digests


async def file_server(root: Path) -> tuple[asyncio.subprocess.Process, str]:
    """``static_server.py`` in a subprocess; returns it and its base URL."""
    script = Path(__file__).with_name("static_server.py")
    process = await asyncio.create_subprocess_exec(
        sys.executable, script, root, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    port = int(await process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f}"


async def client(service: str, urls: list[str]) -> tuple[str, dict[str, Any], int]:
    """POST the job, poll it until done; returns its id, final state and the most bytes
    seen while it was still running."""
    live = 0
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with session.post(f"{service}/downloads", json={"urls": urls}) as response:
            job_id = (await response.json())["id"]
        print(f"POST /downloads -> job {job_id}")
        while True:
            async with session.get(f"{service}/downloads/{job_id}") as response:
                state = await response.json()
            if state["status"] == "done":
                return job_id, state, live
            live, announced = state["bytes"], state["expected_bytes"]
            print(
                f"GET /downloads/{job_id}: running, {mib(live)} of {mib(announced)} MiB "
                f"announced, {len(state['files'])} files finished"
            )
            await asyncio.sleep(0.25)


async def scenario(digests: dict[str, str]) -> tuple[str, dict[str, Any], int]:
    """The file server, the service and one job, all cleaned up in reverse order."""
    server, base = await file_server(WORK / "served")
    runner = web.AppRunner(make_app(WORK / "jobs"), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        service = f"http://127.0.0.1:{runner.addresses[0][1]}"
        urls = [f"{base}/{name}" for name in digests] + [f"{base}/missing.bin"]
        return await client(service, urls)
    finally:
        await runner.cleanup()
        server.terminate()
        await server.wait()


def check(job_id: str, state: dict[str, Any], live: int, digests: dict[str, str]) -> bool:
    """Every served file ok and intact on disk, the missing one failed with 404, and
    progress seen mid-job."""
    good = live > 0
    for name, digest in digests.items():
        path = WORK / "jobs" / job_id / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            print(f"MISMATCH {name}")
            good = False
    files = state["files"]
    good = good and [f["ok"] for f in files] == [True] * len(digests) + [False]
    return good and "404" in files[-1]["error"]


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    digests = generate(WORK / "served")
    print(f"serving {FILES} files of {MIB} MiB; the service is capped at {RATE / 2**20:g} MiB/s")
    job_id, state, live = asyncio.run(scenario(digests))
    print(f"GET /downloads/{job_id}: done, {mib(state['bytes'])} MiB")
    for file in state["files"]:
        outcome = f"ok, {file['size']} bytes" if file["ok"] else f"failed: {file['error']}"
        print(f"  {file['url']}: {outcome}")
    good = check(job_id, state, live, digests)
    print("results as expected" if good else "UNEXPECTED results")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
