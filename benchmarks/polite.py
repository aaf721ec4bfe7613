#!/usr/bin/env python3
"""W6: mirrors and bandwidth caps, aiodl beside aria2c, on a loopback nginx.

- W6a: one file from one throttled mirror, then from two equal ones at once. Each mirror
  serves at most ``--mirror-rate`` bytes per second in all, however many connections
  ask (``_throttled``: nginx's limit_rate is per request, with a free first second).
  Target (issue 8): two mirrors >= 1.8 x the throughput of one.
- W6b: a bandwidth cap (``--limit-rate``) on an unthrottled server, timed against the time
  the cap allows. Target: within +-10 % over about 10 s.

Interleaved reps, sha256-checked outputs, medians; the table goes to stdout and, for a
full run, to results/polite.md (see ``run.save_table``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import _data
import _throttled  # after run: it puts the repo (aiodl) on sys.path
from run import add_save_flags, full_run, log, save_table, timed

from testing.servers import nginx as _nginx

TIME_OUT = 300.0
FULL_RUN = ("mib", "mirror_rate", "cap", "cap_seconds", "reps")  # results/polite.md's run


@dataclass(frozen=True)
class Case:
    """One command line to time: ``argv(out_dir)``, for the table row ``label``."""

    workload: str
    label: str
    argv: Callable[[Path], list[str]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aiodl-bench-polite"))
    p.add_argument("--mib", type=int, default=400, help="W6a file size (default 400)")
    p.add_argument("--mirror-rate", type=float, default=50e6, help="bytes/s per mirror (50 MB)")
    p.add_argument("--cap", default="10M", help="W6b --limit-rate (default 10M = 10 MiB/s)")
    p.add_argument("--cap-seconds", type=float, default=10.0, help="W6b length at the cap")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="small and quick: keeps the harness alive")
    add_save_flags(p, "polite")
    args = p.parse_args(argv)
    args.full = not args.smoke and full_run(p, args, FULL_RUN)
    if args.smoke:
        args.mib, args.mirror_rate, args.cap, args.cap_seconds = 16, 16e6, "2M", 1.0
        args.reps, args.save = 1, "none"
    return args


def rate_bytes(text: str) -> int:
    """``10M``/``12500k`` -> bytes per second (powers of 1024, as aiodl, aria2c and nginx)."""
    power = " KMG".index(text[-1].upper()) if text[-1].isalpha() else 0
    return int(float(text.rstrip("kKmMgG")) * 1024**power)


def cases(
    args: argparse.Namespace, bases: list[str], open_base: str, paths: dict[str, str]
) -> list[Case]:
    py, per_host = sys.executable, "8"
    one, two = bases[0] + paths["W6a"], bases[1] + paths["W6a"]
    capped = open_base + paths["W6b"]

    def aiodl(*extra: str) -> Callable[[Path], list[str]]:
        return lambda out: [py, "-m", "aiodl", "--no-progress", "-q", "-d", str(out), *extra]

    def listed(out: Path) -> list[str]:
        urls = out.parent / "mirrors.txt"
        urls.write_text(f"{one}\t{two}\n")
        return aiodl("-s", "8", "--per-host", per_host, "-i", str(urls))(out)

    def aria2(*extra: str) -> Callable[[Path], list[str]]:
        base = ["aria2c", "-q", "--allow-overwrite=true", "--file-allocation=falloc"]
        return lambda out: [*base, "-d", str(out), *extra]

    return [
        Case("W6a", "aiodl, 1 mirror", aiodl("-s", "8", "--per-host", per_host, one)),
        Case("W6a", "aiodl, 2 mirrors", listed),
        Case("W6a", "aria2c, 1 mirror", aria2("-s8", f"-x{per_host}", one)),
        Case("W6a", "aria2c, 2 mirrors", aria2("-s8", f"-x{per_host}", one, two)),
        Case("W6b", f"aiodl --limit-rate {args.cap}", aiodl("--limit-rate", args.cap, capped)),
        Case(
            "W6b",
            f"aria2c --max-overall-download-limit={args.cap}",
            aria2(f"--max-overall-download-limit={args.cap}", "-s8", "-x8", capped),
        ),
    ]


def run(args: argparse.Namespace, case: Case, source: _data.Source, rep: int) -> tuple[float, str]:
    out = args.workdir / "out" / f"{case.workload}-{rep}-{abs(hash(case.label))}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        seconds, rc, _rss, err = timed(case.argv(out), out, out.parent / "time.txt", TIME_OUT)
        if rc != 0:
            return seconds, f"FAILED exit {rc}: {err.strip()[-200:]}"
        problem = _data.verify(out, [source])
        return seconds, f"FAILED {problem}" if problem else "ok"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def table(args: argparse.Namespace, times: dict[str, list[float]], sizes: dict[str, int]) -> str:
    med = {label: statistics.median(ts) if ts else None for label, ts in times.items()}
    mib = 1 << 20
    rows = [
        "## W6: mirrors and bandwidth caps",
        "",
        f"W6a: {sizes['W6a'] // mib} MiB, each mirror capped at {args.mirror_rate / 1e6:g} MB/s "
        "in all, 8 segments, up to 8 connections per host. "
        f"W6b: {sizes['W6b'] // mib} MiB under a {args.cap}/s cap. Median of {args.reps}.",
        "",
        "| case | median s | MiB/s |",
        "|---|---:|---:|",
    ]
    for label, m in med.items():
        size = sizes["W6b" if "limit" in label else "W6a"]
        rows.append(f"| {label} | {_num(m)} | {_num(m and size / mib / m, 1)} |")
    rows.append("")
    for tool in ("aiodl", "aria2c"):
        one, two = med.get(f"{tool}, 1 mirror"), med.get(f"{tool}, 2 mirrors")
        if one and two:
            rows.append(f"- {tool}: two mirrors give {one / two:.2f} x one mirror's throughput.")
    due = sizes["W6b"] / rate_bytes(args.cap)
    for label, m in med.items():
        if "limit" in label and m:
            rows.append(f"- {label}: {m:.2f} s for {due:.2f} s at the cap: {m / due:.2f} x.")
    return "\n".join([*rows, ""])


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data = args.workdir / "data"
    mirrored = _data.big_source(data, args.mib)
    capped_mib = max(1, round(rate_bytes(args.cap) * args.cap_seconds / (1 << 20)))
    capped = _data.big_source(data, capped_mib)
    paths = {"W6a": mirrored.url_path, "W6b": capped.url_path}
    sizes = {"W6a": mirrored.path.stat().st_size, "W6b": capped.path.stat().st_size}
    sources = {"W6a": mirrored, "W6b": capped}
    times: dict[str, list[float]] = {}
    failed = False
    with ExitStack() as stack:
        work = args.workdir
        bases = stack.enter_context(_throttled.serve(data, args.mirror_rate, 2))
        open_base = stack.enter_context(_nginx.serve(work, data, paths["W6b"]))
        have_aria2 = shutil.which("aria2c") is not None
        todo = [
            c for c in cases(args, bases, open_base, paths) if have_aria2 or "aria2c" not in c.label
        ]
        for rep in range(1, args.reps + 1):
            for case in todo:
                seconds, status = run(args, case, sources[case.workload], rep)
                tag = f"[{case.workload} {rep}/{args.reps}]"
                log(f"{tag} {case.label:<44} {seconds:6.2f} s {status}")
                failed |= status != "ok"
                times.setdefault(case.label, []).extend([seconds] if status == "ok" else [])
    text = table(args, times, sizes)
    print(text)
    save_table("polite", text, args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
