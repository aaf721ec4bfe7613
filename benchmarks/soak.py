#!/usr/bin/env python3
"""Randomised fault soak (`make soak`): batches of downloads through aiodl's public API
from loopback servers misbehaving at random (seeded) until --minutes are up. Each batch
serves new files from testing/servers/http.py (a fault per file, from FAULTS) or
testing/servers/ftp.py (a fault per batch), fetches them with `download_many` or `stream`,
then fetches the failures again into the same folder (a resume). Checked for every Result:
ok -> the file at result.path has the source's sha256 and no part file is left; failed ->
an error with a reason, and nothing at the final path. No unnamed complete file may be
left in the folder, nothing outside it. Prints a table; a full run (the defaults, as
`make soak` runs it) overwrites benchmarks/results/soak.md, any other run writes
/tmp/aiodl-soak-results/soak.md (see `run.save_table`). Exits 1 if a promise broke or a
call raised or hung.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import aiodl  # noqa: E402
from aiodl._disk.names import part_name  # noqa: E402
from testing.servers.ftp import FTPFaults, RunningFTP, running_ftp  # noqa: E402
from testing.servers.http import FaultServer, running  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))  # run.py's save logic, when imported as a module
from run import add_save_flags, full_run, save_table  # noqa: E402

KIB = 1024
OPTIONS: dict[str, Any] = dict(  # small timeouts and backoff, so stalls do not dominate
    split=4, connections=16, per_host=16, retries=3, timeout=0.5, backoff=0.01,
    backoff_cap=0.1, max_retry_wait=2.0, min_segment_size=64 * KIB,
)  # fmt: skip
Switches = Callable[[random.Random, int], dict[str, Any]]  # (rng, a byte offset) -> Faults


def _date(rng: random.Random) -> str:  # Retry-After as an HTTP-date, past or 1 s ahead
    return format_datetime(datetime.now(UTC) + timedelta(seconds=rng.choice([-5, 1])), True)


# HTTP fault kind -> (weight, FaultServer switches). Kinds handled in http_batch have {}.
FAULTS: dict[str, tuple[float, Switches]] = {
    "none": (16, lambda r, cut: {}),
    "truncate": (12, lambda r, cut: {"truncate_at": cut, "truncate_times": r.randint(1, 2)}),
    "truncate-always": (3, lambda r, cut: {"truncate_at": cut}),
    "stall": (6, lambda r, cut: {"stall_at": cut, "stall_times": 1}),
    "retry-after": (10, lambda r, cut: {"statuses": [r.choice([429, 503])] * r.randint(1, 3),
                                        "retry_after": r.choice(["0", "0", "1", _date(r)])}),
    # above max_retry_wait: this file fails at once (and must not hold the host: see
    # tests/pacing/test_politeness.py, which this soak found)
    "retry-after-too-long": (0.3, lambda r, cut: {"statuses": [429], "retry_after": "10"}),
    "503-always": (3, lambda r, cut: {"statuses": [503] * 5}),
    "ignore-range": (6, lambda r, cut: {"ignore_range": True}),
    "wrong-range": (6, lambda r, cut: {"wrong_range_after": cut}),
    "slow": (6, lambda r, cut: r.choice([{"rate": r.randint(1, 4) << 20}, {"slow_from": 0}])),
    "chunked": (5, lambda r, cut: {"chunked": True}),
    # cut with no last chunk: a cut, never a complete file (issue 16)
    "chunked-cut": (4, lambda r, cut: {"chunked": True, "truncate_at": cut,
                                       "truncate_times": r.randint(1, 2)}),
    "breaks-down": (3, lambda r, cut: {"fail_after": cut}),
    # slow enough for a journal checkpoint (one a second), cut until the rerun heals it
    "resume": (1.5, lambda r, cut: {"rate": 256 * KIB, "truncate_at": cut}),
    "404": (4, lambda r, cut: {}), "hostile-name": (5, lambda r, cut: {}),
    "redirect": (4, lambda r, cut: {}), "changed": (4, lambda r, cut: {}),
    "checksum-good": (4, lambda r, cut: {}), "checksum-bad": (3, lambda r, cut: {}),
    # issue 16: a server naming its file after another file's part file; a redirect to a
    # host no resolver takes; same-size junk already at a target whose digest is known;
    # a folder swapped for a symlink between the run and its rerun (a second writer)
    "part-name": (3, lambda r, cut: {}), "bad-redirect": (2, lambda r, cut: {}),
    "junk-at-target": (3, lambda r, cut: {}),
    "swapped-folder": (2, lambda r, cut: {"truncate_at": cut}),
}  # fmt: skip
FTP_FAULTS = ["none", "cut-short", "cut-abort", "refuse-rest", "ignore-rest", "close-after",
              "no-mlsd", "dos-list", "hostile-listing",
              # issue 16: files named like part files beside their namesakes; no SIZE and
              # a transfer aborted (426) or never confirmed
              "part-siblings", "no-size-abort", "no-size-unconfirmed"]  # fmt: skip
SWAP = "swap"  # the folder of "swapped-folder" files, a symlink out of dest for the rerun
HOSTILE = ["type=file;size=3; ..", "type=file;size=3; a/../../x", "type=dir; ..",
           "type=OS.unix=slink:/etc; etc", "type=file;size=3; \x1b[2J"]  # fmt: skip


def part_of(path: Path) -> Path:
    """The part file of a target (a hidden name next to it)."""
    return path.with_name(part_name(path.name))


def size(rng: random.Random) -> int:
    low, high = rng.choices([(0, 16), (KIB, 64 * KIB), (64 * KIB, 512 * KIB), (512 * KIB, 3 << 20)],
                            weights=[1, 5, 3, 1])[0]  # fmt: skip
    return rng.randint(low, high)


class SoakServer(FaultServer):
    """FaultServer plus files that change on the server: ``changes[name]`` replaces the
    file (same size, new ETag) just before its second GET (a segment, or a retry)."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: dict[str, bytes] = {}
        self.gets: Counter[str] = Counter()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.path.lstrip("/")
        self.gets[name] += 1
        if self.gets[name] == 2 and name in self.changes:
            self.files[name] = data = self.changes.pop(name)
            self.faults[name].etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        return await super()._answer(request)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.rng, self.work = args, random.Random(args.seed), args.workdir
        self.tally: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, bool]] = Counter()  # first runs only
        self.reasons: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.broken: list[str] = []
        self.planted: dict[str, bytes] = {}  # junk written at targets before a batch

    def fail(self, batch: int, text: str) -> None:
        self.tally["invariants broken"] += 1
        self.broken.append(f"batch {batch}: {text}")

    async def run(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "ftp-root").mkdir(parents=True)
        logging.getLogger("pyftpdlib").addHandler(logging.NullHandler())  # else it logs INFO
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # clients hang up
        began, batch = time.monotonic(), 0
        with running_ftp(self.work / "ftp-root") as ftp:
            async with running(http := SoakServer()):
                while time.monotonic() < began + self.args.minutes * 60:  # no new batch after
                    batch, is_ftp, start = batch + 1, batch % 4 == 3, time.monotonic()
                    await (self.ftp_batch(ftp, batch) if is_ftp else self.http_batch(http, batch))
                    self.tally["FTP batches" if is_ftp else "HTTP batches"] += 1
                    took, t = time.monotonic() - start, self.tally
                    print(f"batch {batch} {'FTP ' if is_ftp else 'HTTP'} {took:5.1f} s: "
                          f"{t['downloads']} downloads, {t['invariants broken']} broken",
                          file=sys.stderr)  # fmt: skip
        self.tally["seconds"] = round(time.monotonic() - began)

    async def http_batch(self, server: SoakServer, batch: int) -> None:
        sources, digests, kinds, rng = [], {}, {}, self.rng  # digests: URL -> sha256s served
        for i in range(self.args.files):
            name, checksum = f"b{batch}-{i}.bin", None
            path: str | None = name
            kind = rng.choices(list(FAULTS), weights=[w for w, _ in FAULTS.values()])[0]
            big = {"changed": (192 * KIB, 1 << 20), "resume": (1 << 20, 2 << 20)}.get(kind)
            data = rng.randbytes(rng.randint(*big) if big else size(rng))
            url = server.url(name) if kind == "404" else server.add(name, data)
            if kind != "404":
                server.faults[name].__dict__.update(
                    FAULTS[kind][1](rng, rng.randrange(len(data) or 1))
                )
            if kind == "hostile-name":
                path = None  # named by the server
                server.faults[name].content_disposition = rng.choice([
                    f'attachment; filename="../../{name}.evil"', f"inline; filename=CON.{name}",
                    f"attachment; filename*=UTF-8''..%2F%E2%80%AE{name}%00.txt",
                    f'attachment; filename="..\\\\..\\\\{name}"',
                    f"attachment; filename*=UTF-8''{name}%E2%80%8B%E2%80%AEtxt.exe"])  # fmt: skip
            elif kind == "part-name" and i:  # the previous file of the batch is still going
                path, sibling = None, f"b{batch}-{i - 1}.bin"
                server.faults[name].content_disposition = "attachment; filename=" + rng.choice(
                    [f"{sibling}.part", f".{sibling}.aiodl-part", part_name(sibling)]
                )
            elif kind == "redirect":
                url = server.add(f"{name}.moved", b"", redirect_to=url)
            elif kind == "bad-redirect":
                url = server.add(f"{name}.bad", b"", redirect_to="http://a..b/x")
                digests[url] = set()  # nothing may be saved for it
            elif kind == "junk-at-target":
                checksum = "sha256:" + hashlib.sha256(data).hexdigest()
                self.planted[name] = bytes(len(data))  # same size, other bytes
            elif kind == "swapped-folder":
                path = f"{SWAP}/{name}"
            elif kind == "changed":
                server.changes[name] = rng.randbytes(len(data))
                digests[url] = {hashlib.sha256(server.changes[name]).hexdigest()}
            elif kind.startswith("checksum"):
                good = hashlib.sha256(data).hexdigest()
                checksum = "sha256:" + (good if kind == "checksum-good" else good[::-1])
            if kind != "bad-redirect":
                digests.setdefault(url, set()).add(hashlib.sha256(data).hexdigest())
            kinds[url] = kind
            sources.append(aiodl.Request(url, path, checksum=checksum))
        resumes = [url.rsplit("/", 1)[1] for url, kind in kinds.items()
                   if kind in ("resume", "swapped-folder")]  # fmt: skip

        def heal() -> None:  # the rerun of a "resume" file is not cut: it resumes
            for name in resumes:
                server.faults[name].truncate_times = 0

        await self.check(batch, sources, digests, kinds, heal)
        for table in (server.files, server.faults, server.sent, server.gets, server.changes):
            table.clear()
        server.seen.clear()

    async def ftp_batch(self, ftp: RunningFTP, batch: int) -> None:
        folder, digests, faults, rng = ftp.root / f"b{batch}", {}, ftp.faults, self.rng
        folder.mkdir()
        for i in range(self.args.files // 2):
            (folder / f"f{i}.bin").write_bytes(data := rng.randbytes(size(rng)))
            digests[ftp.url(f"b{batch}/f{i}.bin")] = {hashlib.sha256(data).hexdigest()}
        kind = rng.choice(FTP_FAULTS)
        if kind == "part-siblings":  # namesakes of part files, each a file of its own
            for i in range(self.args.files // 4):
                for sibling in (f"f{i}.bin.part", f".f{i}.bin.aiodl-part"):
                    (folder / sibling).write_bytes(data := rng.randbytes(size(rng)))
                    digests[ftp.url(f"b{batch}/{sibling}")] = {hashlib.sha256(data).hexdigest()}
        if kind.startswith("no-size"):  # neither SIZE nor MLST: a stream of unknown length
            faults.unsupported = {"SIZE", "MLST"}
            faults.cut_at, faults.cut_times = rng.randrange(256 * KIB), -1
            faults.cut_mode = "abort"
            if kind == "no-size-unconfirmed":
                faults.cut_at, faults.final_reply = None, "withhold"
        if kind.startswith("cut"):
            faults.cut_at, faults.cut_times = rng.randrange(256 * KIB), rng.randint(1, 3)
            faults.cut_mode = "short" if kind == "cut-short" else "abort"
        faults.refuse_rest, faults.ignore_rest = kind == "refuse-rest", kind == "ignore-rest"
        faults.close_after_transfer = kind == "close-after"
        if kind in ("no-mlsd", "dos-list"):
            faults.unsupported = {"MLSD"}
        faults.list_style = "dos" if kind == "dos-list" else "unix"
        if kind == "hostile-listing":
            lines = [f"type=file;size={p.stat().st_size}; {p.name}" for p in folder.iterdir()]
            faults.listings[f"/b{batch}"] = lines + HOSTILE
            self.faults["ftp hostile entry"] += len(HOSTILE)
        # the folder URL (a mirror, which the listing faults need), else each file's URL
        whole = kind in ("no-mlsd", "dos-list", "hostile-listing", "part-siblings") or (
            not kind.startswith("no-size") and rng.random() < 0.5
        )  # no-size: a listing would tell the sizes
        sources = [ftp.url(f"b{batch}/")] if whole else list(digests)

        def heal() -> None:  # in place: the server's handler holds this object
            ftp.faults.__dict__.update(FTPFaults().__dict__)

        await self.check(batch, sources, digests, dict.fromkeys(digests, f"ftp {kind}"), heal)
        heal()
        shutil.rmtree(folder)

    async def check(
        self, batch: int, sources: list[Any], digests: dict[str, set[str]],
        kinds: dict[str, str], heal: Callable[[], None],
    ) -> None:  # fmt: skip
        """Fetch the batch, then its failures again into the same folder; check each Result
        and what is left in the folder."""
        self.faults.update(kinds.values())
        home = self.work / f"batch-{batch}"
        dest, ok_paths = home / "dest", set[Path | None]()
        dest.mkdir(parents=True)
        for name, junk in self.planted.items():
            (dest / name).write_bytes(junk)
        self.planted.clear()
        for attempt in (1, 2):
            results = await self.fetch(batch, sources, dest, stream=(batch + attempt) % 2 == 0)
            self.tally["downloads"] += len(results)
            self.tally["resumed"] += sum(r.resumed for r in results)
            for result in results:
                ok_paths.add(self.verify(batch, result, dest, digests, kinds, attempt))
            again = {r.url for r in results if not r.ok and r.url in digests}
            sources = [s for s in sources if getattr(s, "url", s) in again
                       or (again and str(s).endswith("/"))]  # fmt: skip
            if not sources:
                break
            heal()  # FTP: the rerun finds a healthy server; HTTP keeps each file's faults
            if (dest / SWAP).is_dir() and not (
                dest / SWAP
            ).is_symlink():  # a second writer: the folder now leads out of dest
                shutil.rmtree(dest / SWAP)
                (home / "elsewhere").mkdir()
                (dest / SWAP).symlink_to(home / "elsewhere")
        for path in set(dest.rglob("*")) - ok_paths:
            if path.is_file() and not path.name.startswith(".") and ".aiodl" not in path.parts:
                self.fail(batch, f"{path} is complete but no ok Result names it")
        if outside := {p.name for p in home.iterdir()} - {"dest", "elsewhere"}:
            self.fail(batch, f"written outside dest: {sorted(outside)}")
        if (home / "elsewhere").exists() and any((home / "elsewhere").iterdir()):
            self.fail(batch, "written through a folder swapped for a symlink")
        shutil.rmtree(home)

    async def fetch(
        self, batch: int, sources: list[Any], dest: Path, stream: bool
    ) -> list[aiodl.Result]:
        """One call; only invalid options may raise, and no batch may hang."""

        def count(event: aiodl.Event) -> None:
            if isinstance(event, aiodl.Retried):
                self.retried[type(event.error).__name__] += 1

        options = OPTIONS | {"progress": count}
        try:
            async with asyncio.timeout(180):
                if not stream:
                    return await aiodl.download_many(sources, dest, **options)
                async with aclosing(aiodl.stream(sources, dest, **options)) as results:
                    return [result async for result in results]
        except Exception as error:
            self.fail(batch, f"{'stream' if stream else 'download_many'} raised {error!r:.200}")
            return []

    def verify(
        self, batch: int, result: aiodl.Result, dest: Path, digests: dict[str, set[str]],
        kinds: dict[str, str], attempt: int,
    ) -> Path | None:  # fmt: skip
        """Check one Result's promise; the path of an ok one."""
        kind, path, error = kinds.get(result.url, "ftp hostile entry"), result.path, result.error
        self.outcomes[kind, result.ok] += attempt == 1
        self.tally["slowest Result (s)"] = max(
            self.tally["slowest Result (s)"], round(result.seconds)
        )
        where = f"{result.url} ({kind}, run {attempt})"
        if not result.ok:
            status = f" {error.status}" if isinstance(error, aiodl.HTTPStatusError) else ""
            self.reasons[type(error).__name__ + status] += 1
            if error is None or not str(error).strip():
                self.fail(batch, f"{where} failed without a reason")
            if path is not None and path.exists():
                self.fail(batch, f"{where} failed ({error}) but {path} exists")
            if kind == "checksum-bad" and path is not None and part_of(path).exists():
                self.fail(batch, f"{where}: the checksum failed but {part_of(path)} was kept")
            return None
        if path is None or not path.is_file() or dest.resolve() not in path.resolve().parents:
            self.fail(batch, f"{where} ok but {path} is not a file inside dest")
            self.tally["data lost"] += 1
        elif hashlib.sha256(path.read_bytes()).hexdigest() not in digests.get(result.url, ()):
            self.fail(batch, f"{where} ok but {path} holds other bytes")
            self.tally["data lost"] += 1
        else:
            self.tally["files verified"] += 1
        if path is not None and part_of(path).exists():
            self.fail(batch, f"{where} ok but {part_of(path)} is left")
        return path

    def table(self) -> str:
        t, a, slow = self.tally, self.args, "slowest Result (s)"
        rows = [
            ("seed", a.seed), ("minutes (asked / ran)", f"{a.minutes:.2g} / {t['seconds']/60:.2g}"),
            ("batches (HTTP / FTP)", f"{t['HTTP batches']} / {t['FTP batches']}"),
            ("downloads (Results checked)", t["downloads"]),
            ("files verified (sha256)", t["files verified"]), ("resumed", t["resumed"]),
            ("failures", sum(self.reasons.values())),
            ("retries", ", ".join(f"{n} {why}" for why, n in self.retried.most_common())),
            (slow, t[slow]),  # includes waiting for a place: 429/503 halve the host's limit
            ("**data lost**", f"**{t['data lost']}**"),
            ("**invariants broken**", f"**{t['invariants broken']}**"),
        ]  # fmt: skip
        out = ["| soak | |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows), ""]
        out += [
            "| fault injected | files | ok at first | failed at first |",
            "|---|---:|---:|---:|",
        ]
        out += [f"| {kind} | {n} | {self.outcomes[kind, True]} | {self.outcomes[kind, False]} |"
                for kind, n in sorted(self.faults.items())]  # fmt: skip
        out += ["", "| failure reason (all runs) | Results |", "|---|---:|"]
        out += [f"| {reason} | {n} |" for reason, n in self.reasons.most_common()]
        return "\n".join(out + [""] + [f"- BROKEN {text}" for text in self.broken[:50]])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--minutes", type=float, default=5.0, help="no new batch after this")
    p.add_argument("--files", type=int, default=48, help="files per HTTP batch (FTP: half)")
    p.add_argument("--smoke", action="store_true", help="about 20 s, nothing saved")
    add_save_flags(p, "soak")
    args = p.parse_args()
    args.full = not args.smoke and full_run(p, args, ("seed", "minutes", "files"))
    args.workdir = Path("/tmp/aiodl-soak")
    if args.smoke:
        args.minutes, args.save = 1 / 3, "none"
    asyncio.run((soak := Soak(args)).run())
    print(table := soak.table())
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    head = f"# aiodl fault soak, {when} (seed {args.seed}, {args.minutes:g} minutes)"
    save_table("soak", f"{head}\n\n{table}\n", args, outside=Path("/tmp/aiodl-soak-results"))
    shutil.rmtree(args.workdir, ignore_errors=True)
    return 1 if soak.tally["invariants broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
