#!/usr/bin/env python3
"""W7 and W8: huge jobs, on one machine and on a Dask cluster, over a loopback nginx.

- W7 (issue 9): the CLI in manifest mode on 20,000 and then 1,000,000 URLs of tiny bodies
  (nginx answers every /tiny/ path with 6 bytes from memory), sharded 2 deep, --no-sync
  (a million fsyncs would measure the disk, not the downloader). Peak RSS must stay
  flat (target <= 300 MiB), throughput >= 2,000 files/s; then the same command again,
  which must skip every file from the manifest without a request.
- W8: 2,000 x 64 KiB files (W2's) in manifest mode by one process, then by a LocalCluster
  of 2 worker processes (started before the clock, as a running cluster would be), then
  by `--dask-local 2` (cluster start included). Target: cluster <= 1.5 x one process.

Outputs are checked (the manifest complete, bodies and sha256 compared); medians of
interleaved reps. The table goes to stdout and, for a full run, to results/scale.md.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import _data
import _tools
from run import add_save_flags, full_run, log, save_table, timed

sys.path.insert(0, str(_tools.REPO))
from distributed import Client, LocalCluster

from aiodl.distributed import download_on_dask
from testing.servers import nginx as _nginx

PY = sys.executable
AIODL = [PY, "-m", "aiodl", "-q", "--no-progress"]
TIME_OUT = 3600.0
FULL_RUN = ("urls", "files", "reps")  # the run results/scale.md holds


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aiodl-bench"))
    p.add_argument("--urls", default="20000,1000000", help="W7 job sizes (default 20000,1000000)")
    p.add_argument("--files", type=int, default=2000, help="W8 files of 64 KiB (default 2000)")
    p.add_argument("--reps", type=int, default=3, help="W8 reps (default 3)")
    add_save_flags(p, "scale")
    p.add_argument("--smoke", action="store_true", help="CI: 2,000 URLs, 50 files, 1 rep")
    args = p.parse_args(argv)
    args.full = not args.smoke and full_run(p, args, FULL_RUN)
    if args.smoke:
        args.urls, args.files, args.reps, args.save = "2000", 50, 1, "none"
    args.urls = [int(n) for n in args.urls.split(",")]
    return args


def manifest_counts(job: Path) -> dict[str, int]:
    with sqlite3.connect(job) as db:
        return dict(db.execute("SELECT state, count(*) FROM sources GROUP BY state"))


def w7(args: argparse.Namespace, base: str) -> list[str]:
    """One row per job size: first run, then the rerun the manifest answers."""
    rows = []
    for count in args.urls:
        work = args.workdir / f"w7-{count}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        urls = work / "urls.txt"
        with urls.open("w") as handle:
            handle.writelines(f"{base}/tiny/{n}.txt\n" for n in range(count))
        argv = [*AIODL, "--no-sync", "--shard", "2", "-j", "16", "--per-host", "16"]
        argv += ["--manifest", str(work / "job.sqlite"), "-i", str(urls), "-d", str(work / "out")]
        first = timed(argv, work, work / "rss", TIME_OUT)
        log(f"[W7 {count}] first run {first[0]:.1f} s rc={first[1]} {first[3].strip()[-200:]}")
        counts = manifest_counts(work / "job.sqlite")
        again = timed(argv, work, work / "rss", TIME_OUT)
        log(f"[W7 {count}] rerun {again[0]:.1f} s rc={again[1]}")
        sample = work / "out" / "00"  # one of 256 shard folders
        bodies = {p.read_bytes() for p in sample.rglob("*.txt")}
        ok = first[1] == again[1] == 0 and counts == {"done": count} and bodies == {b"aiodl\n"}
        rows.append(
            f"| {count:,} | {first[0]:.1f} | {count / first[0]:,.0f} | "
            f"{(first[2] or 0) / 1024:.0f} | {again[0]:.1f} | {(again[2] or 0) / 1024:.0f} | "
            f"{'ok' if ok else f'FAILED {counts}'} |"
        )
        shutil.rmtree(work, ignore_errors=True)
    return rows


def w8(args: argparse.Namespace, base: str, sources: list[_data.Source]) -> list[str]:
    """One process against two Dask workers on the same files; medians of interleaved reps."""
    work = args.workdir / "w8"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    urls = [base + source.url_path for source in sources]
    (work / "urls.txt").write_text("".join(url + "\n" for url in urls))
    options = ["-j", "16", "--per-host", "16", "-i", str(work / "urls.txt")]
    times: dict[str, list[float]] = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):

        def on_cluster(out: Path) -> tuple[float, int]:
            began = time.perf_counter()
            summary = download_on_dask(
                urls, out, out / "job.sqlite", client=client, connections=16, per_host=16
            )
            return time.perf_counter() - began, 0 if summary.done == len(urls) else 1

        cases = {
            "one process (aiodl --manifest)": lambda out: timed(
                [*AIODL, *options, "--manifest", str(out / "job.sqlite"), "-d", str(out)],
                out, out / "rss", TIME_OUT,
            )[:2],
            "LocalCluster, 2 workers (running)": on_cluster,
            "aiodl --dask-local 2 (cluster start included)": lambda out: timed(
                [*AIODL, *options, "--dask-local", "2", "--manifest", str(out / "job.sqlite"),
                 "-d", str(out)], out, out / "rss", TIME_OUT,
            )[:2],
        }  # fmt: skip
        for rep in range(1, args.reps + 1):
            for label, case in cases.items():
                out = work / f"out-{rep}-{len(times.get(label, []))}-{abs(hash(label))}"
                out.mkdir()
                _data.warm_cache(sources)
                seconds, rc = case(out)
                problem = _data.verify(out, sources) if rc == 0 else f"exit {rc}"
                log(f"[W8 {rep}/{args.reps}] {label:<48} {seconds:6.2f} s {problem or 'ok'}")
                if problem is None:
                    times.setdefault(label, []).append(seconds)
                shutil.rmtree(out, ignore_errors=True)
    single = statistics.median(times.get(next(iter(cases)), [float("nan")]))
    rows = []
    for label in cases:
        median = statistics.median(times[label]) if label in times else float("nan")
        rows.append(f"| {label} | {median:.2f} | {median / single:.2f}x |")
    return rows


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data = args.workdir / "data"
    sources = _data.small_sources(data, args.files)
    lines = [f"# W7/W8 scale, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", ""]
    with ExitStack() as stack:
        base = stack.enter_context(_nginx.serve(args.workdir, data, sources[0].url_path))
        lines += [
            "W7: CLI in manifest mode, tiny bodies, --shard 2 --no-sync -j 16",
            "",
            "| URLs | first run (s) | files/s | peak RSS (MiB) | rerun (s) | rerun RSS (MiB)"
            " | check |",
            "|---:|---:|---:|---:|---:|---:|---|",
            *w7(args, base),
            "",
            f"W8: {args.files} x 64 KiB in manifest mode, median of {args.reps}",
            "",
            "| run | seconds | vs one process |",
            "|---|---:|---:|",
            *w8(args, base, sources),
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    save_table("scale", text, args)
    return 0 if "FAILED" not in text and "nan" not in text else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
