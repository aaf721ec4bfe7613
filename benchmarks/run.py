#!/usr/bin/env python3
"""Benchmark aiodl against aria2c, axel, curl, wget, lftp and parfive on loopback servers.

Over a loopback nginx, W1 fetches one big file over 8 connections and W2 many 64 KiB files 16 at
a time; over a loopback vsftpd, W3 fetches the same big file in 8 segments and W4 mirrors the
folder of small files with 16 connections. W5a and W5b rerun W2 with 20,000 files of 4 KiB and
W1 with a 4 GiB file (made for the run, removed after it), to see whether aiodl's memory stays
flat and its time linear. W9 and W10 are W1 and W2 over HTTPS (nginx with a certificate
from a private CA made for the run).
Runs are interleaved (rep by rep, tool by tool) so a slow phase of the machine hits every tool
alike, and every output is checked by sha256: a fast wrong download must not win.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import _data
import _tools
from _data import Source
from _tools import Job, Tool

# Tests and benchmarks share one vsftpd launcher; run as a script, this file has only its own
# folder on sys.path, so the repo root is added to import it.
sys.path.insert(0, str(_tools.REPO))
from testing.servers import nginx as _nginx
from testing.servers import vsftpd

TIME = "/usr/bin/time"
RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("W1", "W2", "W3", "W4", "W5a", "W5b", "W9", "W10")
# Each W5 workload is read against the one it scales up (aiodl's RSS for W5a, time for W5b).
SCALED = {"W5a": "W2", "W5b": "W1"}
GIB = 1 << 30
SMOKE = {
    "big_mib": 16, "small_count": 50, "scale_mib": 64, "scale_count": 500,
    "reps": 1, "tools": "aiodl,curl", "save": "none",
}  # fmt: skip
# What a full run is (every workload, tool and size at its default): only a full run
# replaces the curated table in results/ by itself; any other run writes outside the tree.
FULL_RUN = ("big_mib", "small_count", "scale_mib", "scale_count", "reps", "only", "tools")
ENV = _tools.clean_env()


@dataclass(frozen=True)
class Workload:
    """A set of sources fetched in one run, plus the -i / -K files listing their URLs.

    `mirror` is the URL path of the folder a mirror tool is given instead of the file URLs;
    `refs` are the tools the table states ratios to; `skip` says why it cannot run here.
    """

    key: str
    title: str
    sources: list[Source]
    work: Path
    scheme: str = "http"
    mirror: str = ""
    refs: tuple[str, ...] = ("aria2c",)
    skip: str = ""

    @property
    def size(self) -> int:
        """Bytes one run writes: the size of the scratch file that faults memory in."""
        return sum(s.path.stat().st_size for s in self.sources)

    @property
    def urls_file(self) -> Path:
        """One URL a line, for -i."""
        return self.work / f"urls-{self.key}.txt"

    @property
    def curl_config(self) -> Path:
        """url/output pairs for curl -K."""
        return self.work / f"curl-{self.key}.cfg"


@dataclass(frozen=True)
class Run:
    """One timed command; status is ok, FAILED, or unchecked (floors: exit code only)."""

    workload: str
    tool: str
    rep: int
    seconds: float
    peak_rss_kib: int | None
    returncode: int
    status: str
    detail: str
    utc: str
    stall_worst_ms: float | None = None  # aiodl rows: how late a 5 ms ticker on its loop woke
    stall_p99_ms: float | None = None


def parse_args(argv: list[str]) -> argparse.Namespace:
    """CLI; --smoke only changes defaults, so `--smoke --reps 2` still means two reps."""
    keys = sorted({t.key for t in _tools.TOOLS})
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aiodl-bench"))
    p.add_argument("--big-mib", type=int, default=1024, help="W1/W3 file size (default 1024)")
    p.add_argument("--small-count", type=int, default=2000, help="W2/W4 files (default 2000)")
    p.add_argument("--scale-mib", type=int, default=4096, help="W5b file size (default 4096)")
    p.add_argument("--scale-count", type=int, default=20000, help="W5a files (default 20000)")
    p.add_argument("--keep-scale", action="store_true", help="keep the W5 data for the next run")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"workloads, e.g. W1,W3 (default: all of {','.join(WORKLOADS)})",
    )
    p.add_argument("--tools", default=",".join(keys), help=f"subset of {','.join(keys)}")
    p.add_argument("--timeout", type=float, default=600, help="seconds per run")
    p.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of an earlier aiodl: its rows run beside today's in the same run",
    )
    add_save_flags(p, "peers")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CI: --big-mib 16 --small-count 50 --reps 1 --tools aiodl,curl --no-save",
    )
    if "--smoke" in argv:
        p.set_defaults(**SMOKE)
    args = p.parse_args(argv)
    args.full = not args.smoke and full_run(p, args, FULL_RUN)
    args.only = _pick(p, "--only", args.only, WORKLOADS)
    args.tools = _pick(p, "--tools", args.tools, keys)
    return args


def add_save_flags(p: argparse.ArgumentParser, family: str) -> None:
    """--save / --no-save, shared by the benchmark scripts (see save_table)."""
    p.set_defaults(save="auto")
    p.add_argument(
        "--save",
        dest="save",
        action="store_const",
        const="tree",
        help=f"write results/{family}.md even if this is not a full run",
    )
    p.add_argument(
        "--no-save", dest="save", action="store_const", const="none", help="write no file"
    )


def full_run(p: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]) -> bool:
    """Whether every option that shapes the results is at its default: a full run."""
    return all(getattr(args, name) == p.get_default(name) for name in names)


def _pick(
    p: argparse.ArgumentParser,
    flag: str,
    value: str,
    known: Sequence[str],
) -> list[str]:
    """Split a comma list and reject typos, which would otherwise silently measure nothing."""
    picked = [v.strip() for v in value.split(",") if v.strip()]
    unknown = sorted(set(picked) - set(known))
    if unknown or not picked:
        p.error(f"{flag}: unknown {unknown or 'empty list'}; choose from {', '.join(known)}")
    return picked


def log(msg: str) -> None:
    """Progress goes to stderr so stdout carries only the report."""
    print(msg, file=sys.stderr, flush=True)


def build_workloads(args: argparse.Namespace, work: Path) -> list[Workload]:
    """Create or reuse the data and hash it, once per invocation; FTP reuses the HTTP data."""
    data, out, only = work / "data", list[Workload](), set(args.only)
    ftp_refs = ("aria2c", "lftp")
    if only & {"W1", "W3", "W9"}:
        log(f"data: big.bin {args.big_mib} MiB in {data}")
        big = [_data.big_source(data, args.big_mib)]
        title = f"1 file of {args.big_mib} MiB"
        out.append(Workload("W1", f"{title}, 8 connections", big, work))
        out.append(Workload("W3", f"{title} over FTP, 8 segments", big, work, "ftp", refs=ftp_refs))
        tls_refs = ("aria2c", "curl")
        out.append(
            Workload("W9", f"{title} over HTTPS, 8 connections", big, work, "https", refs=tls_refs)
        )
    if only & {"W2", "W4", "W10"}:
        log(f"data: {args.small_count} x 64 KiB in {data}")
        small = _data.small_sources(data, args.small_count)
        title = f"{args.small_count} files of 64 KiB"
        folder = small[0].url_path.rsplit("/", 1)[0] + "/"
        out.append(Workload("W2", f"{title}, 16 concurrent", small, work))
        mirror = f"{title} over FTP, their folder mirrored, 16 connections"
        out.append(Workload("W4", mirror, small, work, "ftp", folder, refs=("lftp",)))
        secure = f"{title} over HTTPS, 16 concurrent"
        out.append(Workload("W10", secure, small, work, "https", refs=("aria2c", "naive")))
    out += scale_workloads(args, work)
    return sorted((w for w in out if w.key in only), key=lambda w: WORKLOADS.index(w.key))


def scale_workloads(args: argparse.Namespace, work: Path) -> list[Workload]:
    """W5a, W2's commands on many 4 KiB files, and W5b, W1's on a bigger file; W5b is skipped,
    before its data is made, when the disk could not hold it."""
    data, out, only = work / "data", list[Workload](), set(args.only)
    if "W5a" in only:
        log(f"data: {args.scale_count} x 4 KiB in {data}")
        many = _data.small_sources(data, args.scale_count, _data.TINY_SIZE)
        title = f"{args.scale_count} files of 4 KiB, 16 concurrent (W2's commands)"
        out.append(Workload("W5a", title, many, work))
    if "W5b" in only:
        title = f"1 file of {args.scale_mib} MiB, 8 connections (W1's commands)"
        short = _disk_short(work, args.scale_mib)
        if short:
            log(f"W5b skipped: {short}")
            out.append(Workload("W5b", title, [], work, skip=short))
        else:
            log(f"data: big.bin {args.scale_mib} MiB in {data}")
            out.append(Workload("W5b", title, [_data.big_source(data, args.scale_mib)], work))
    return out


def _disk_short(work: Path, mib: int) -> str:
    """Why a file of `mib` cannot be benchmarked here, or "" if it can.

    The source, the scratch file as big as it and the output coexist on this disk, so 3x its
    size plus 2 GiB to spare: 14 GiB (15 GB) for 4 GiB, even if the source is already made.
    """
    need, free = 3 * mib * _data.MIB + 2 * GIB, shutil.disk_usage(work).free
    if free >= need:
        return ""
    return (
        f"{mib} MiB needs {need / 1e9:.1f} GB free in {work} (source, scratch file and output, "
        f"2 GiB to spare), only {free / 1e9:.1f} GB are"
    )


def write_url_files(wl: Workload, base: str) -> list[str]:
    """urls.txt for -i and a curl -K config: 2000 URLs would not fit nicely in argv."""
    urls = [base + s.url_path for s in wl.sources]
    wl.urls_file.write_text("".join(f"{u}\n" for u in urls))
    wl.curl_config.write_text(
        "".join(
            f'url = "{u}"\noutput = "{s.name}"\n' for u, s in zip(urls, wl.sources, strict=True)
        )
    )
    return urls


def out_root(work: Path) -> None:
    """The parent of all run dirs, marked as an ext4 "top" directory (chattr +T).

    This ext4 has no journal, and then inode allocation skips, one costly check at a time,
    inodes freed in the last 60-300 s: 2000 creates beside 2000 fresh deletes took 1.1 s
    instead of 0.1 s. Below a +T dir, ext4 places each new dir in a block group chosen from a
    hash of its name, so run dirs get random names (see run_one) to land away from the
    inodes the previous runs freed.
    """
    root = work / "out"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["chattr", "+T", str(root)], capture_output=True, check=False)


def prepare(root: Path, wl: Workload) -> None:
    """Everything the machine notes ask for before a timed run, none of it inside the timer."""
    for old in root.iterdir():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    _data.fault_in_memory(root.parent / "scratch.bin", wl.size)
    _data.warm_cache(wl.sources)
    os.sync()  # fresh data or the last output must not be written back during the next run


def timed(
    argv: list[str],
    cwd: Path,
    rss_file: Path,
    timeout: float,
    env: dict[str, str] = ENV,
) -> tuple[float, int, int | None, str]:
    """Wall time, exit code, peak RSS (KiB, from GNU time) and stderr tail of one command.

    GNU time writes %M to its own file (-o), so a tool's stderr cannot garble the number. The
    command gets its own session, so a timeout or Ctrl-C kills the tool and not just `time`.
    """
    cmd = [TIME, "-o", str(rss_file), "-f", "%M", *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _abort(proc)
        err = proc.communicate()[1] + f"\ntimed out after {timeout:g} s".encode()
    finally:
        _abort(proc)
    seconds = time.perf_counter() - start
    return seconds, proc.returncode, _read_rss(rss_file), err.decode(errors="replace")


def _abort(proc: subprocess.Popen[bytes]) -> None:
    """Kill the tool under `time` first so `time` can still reap it (an orphan would linger as
    a zombie where PID 1 does not reap), then anything left in the session."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for kid in kids:
            os.kill(int(kid), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _read_rss(path: Path) -> int | None:
    """Last line of GNU time's output; earlier lines may say how the command exited."""
    try:
        return int(path.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def run_one(
    tool: Tool,
    wl: Workload,
    urls: list[str],
    rep: int,
    args: argparse.Namespace,
) -> Run:
    """Prepare, time, verify: one row of the JSONL."""
    parent = args.workdir / "out"
    prepare(parent, wl)
    out = parent / f"{wl.key}-{tool.key}-{rep}-{os.urandom(4).hex()}"
    out.mkdir()
    cacert = _nginx.ca_file(args.workdir) if wl.scheme == "https" else None
    job = Job(out, urls, wl.urls_file, wl.curl_config, wl.size // _data.MIB, cacert)
    utc = datetime.now(UTC).isoformat(timespec="seconds")
    stalls = parent / "stalls.json"  # written by benchmarks/stallwatch.py (aiodl rows)
    stalls.unlink(missing_ok=True)
    env = {**ENV, "AIODL_STALLS": str(stalls)}
    seconds, rc, rss, err = timed(tool.argv(job), out, parent / "time.txt", args.timeout, env)
    stall = json.loads(stalls.read_text()) if stalls.exists() else {}
    if rc != 0:
        status, detail = "FAILED", f"exit {rc}: {' | '.join(err.strip().splitlines()[-3:])}"
    elif not tool.verify:
        status, detail = "unchecked", ""
    else:
        problem = _data.verify(out, wl.sources)
        status, detail = ("FAILED", problem) if problem else ("ok", "")
    return Run(
        wl.key, tool.key, rep, round(seconds, 4), rss, rc, status, detail, utc,
        stall.get("worst_ms"), stall.get("p99_ms"),
    )  # fmt: skip


def run_all(
    args: argparse.Namespace,
    bases: dict[str, str],
    workloads: list[Workload],
    tools: dict[Tool, str | None],
) -> list[Run]:
    """Interleave: for each rep, every tool once, so drifts spread evenly across tools."""
    runs: list[Run] = []
    for wl in workloads:
        base = bases[wl.scheme]
        urls = [base + wl.mirror] if wl.mirror else write_url_files(wl, base)
        ready = [t for t, v in tools.items() if t.workload == wl.key and v]
        for rep in range(1, args.reps + 1):
            for tool in ready:
                r = run_one(tool, wl, urls, rep, args)
                rss = f"{r.peak_rss_kib / 1024:6.1f} MiB" if r.peak_rss_kib else "   ? MiB"
                log(
                    f"[{wl.key} {rep}/{args.reps}] {tool.key:<9} {r.seconds:7.2f} s {rss} "
                    f"{r.status} {r.detail}"
                )
                runs.append(r)
    return runs


def _median(runs: list[Run]) -> float | None:
    """Median over runs that did not fail: a failed run's time says nothing about speed."""
    good = [r.seconds for r in runs if r.status != "FAILED"]
    return statistics.median(good) if good else None


def _ok_cell(runs: list[Run]) -> str:
    """yes / FAILED k/n / n/a for floors, which have nothing to compare."""
    failed = sum(r.status == "FAILED" for r in runs)
    if failed:
        return f"FAILED {failed}/{len(runs)}"
    return "n/a (floor)" if all(r.status == "unchecked" for r in runs) else "yes"


def _peak_mib(runs: list[Run]) -> float | None:
    """The highest peak RSS of the runs, in MiB; None if GNU time reported none."""
    kib = max((r.peak_rss_kib for r in runs if r.peak_rss_kib), default=None)
    return kib and kib / 1024


def _stall(runs: list[Run], field: str) -> str:
    """The highest of the runs' stall figures (ms); '-' for tools not run on our loop."""
    values = [getattr(r, field) for r in runs if getattr(r, field) is not None]
    return f"{max(values):.1f}" if values else "-"


def _num(x: float | None, digits: int = 2) -> str:
    """A table number, or '-' when there is none (all runs failed, RSS not reported)."""
    return "-" if x is None else f"{x:.{digits}f}"


def table(wl: Workload, tools: dict[Tool, str | None], runs: list[Run]) -> list[str]:
    """The markdown table of one workload, one row per tool, in the order they ran, with a
    ratio column per reference tool of the workload."""
    head = [f"### {wl.key}: {wl.title}", ""]
    if wl.skip:
        return [*head, f"Skipped: {wl.skip}.", ""]
    mine = [r for r in runs if r.workload == wl.key]
    refs = [_median([r for r in mine if r.tool == ref]) for ref in wl.refs]
    rows = [
        *head,
        f"| tool | median s | {' | '.join(f'ratio to {ref}' for ref in wl.refs)} "
        "| peak RSS MiB | worst stall ms | p99 stall ms | ok |",
        f"|---|---:|{'---:|' * len(refs)}---:|---:|---:|---|",
    ]
    for tool, ver in tools.items():
        if tool.workload != wl.key:
            continue
        its = [r for r in mine if r.tool == tool.key]
        if ver is None or not its:
            state = "not installed" if ver is None else "no runs"
            rows.append(f"| {tool.label} | {state} |{' |' * (len(refs) + 4)}")
            continue
        med = _median(its)
        ratios = [f"{med / ref:.2f}" if med is not None and ref else "-" for ref in refs]
        rows.append(
            f"| {tool.label} | {_num(med)} | {' | '.join(ratios)} "
            f"| {_num(_peak_mib(its), 1)} | {_stall(its, 'stall_worst_ms')} "
            f"| {_stall(its, 'stall_p99_ms')} | {_ok_cell(its)} |"
        )
    return [*rows, ""]


def scaling(wl: Workload, workloads: list[Workload], runs: list[Run]) -> list[str]:
    """The line under a W5 table reading aiodl against the workload W5 scales up, when both ran
    in this invocation: figures from separate invocations do not compare on this VM."""
    base = next((w for w in workloads if w.key == SCALED.get(wl.key)), None)
    if base is None or wl.skip:
        return []
    mine, theirs = _aiodl_ok(runs, wl.key), _aiodl_ok(runs, base.key)
    if not (mine and theirs):
        return [f"Scaling: no passing aiodl run in {wl.key} or {base.key} to compare.", ""]
    line = _memory_line if wl.key == "W5a" else _time_line
    return [line(wl, base, mine, theirs), ""]


def _aiodl_ok(runs: list[Run], key: str) -> list[Run]:
    """aiodl's passing runs of one workload: a failed run may have stopped early, and small."""
    return [r for r in runs if r.workload == key and r.tool == "aiodl" and r.status == "ok"]


def _memory_line(wl: Workload, base: Workload, mine: list[Run], theirs: list[Run]) -> str:
    """W5a: memory must stay flat as the file count grows; the issue allows 1.5x W2's peak."""
    rss, ref = _peak_mib(mine), _peak_mib(theirs)
    if not (rss and ref):
        return "Scaling, memory: no peak RSS reported."
    ratio = rss / ref
    verdict = "met" if ratio <= 1.5 else "MISSED"
    return (
        f"Scaling, memory: aiodl peak RSS {rss:.1f} MiB for {len(wl.sources)} files vs "
        f"{ref:.1f} MiB in {base.key} for {len(base.sources)}: ratio {ratio:.2f} "
        f"(target <= 1.5, {verdict})."
    )


def _time_line(wl: Workload, base: Workload, mine: list[Run], theirs: list[Run]) -> str:
    """W5b: time must grow linearly with bytes, so W1's median scaled by the size ratio."""
    med, ref, factor = _median(mine) or 0, _median(theirs) or 0, wl.size / base.size
    return (
        f"Scaling, time: aiodl median {med:.2f} s for {wl.size / _data.MIB:g} MiB vs {factor:g} x "
        f"its {base.key} median {ref:.2f} s = {factor * ref:.2f} s: ratio "
        f"{med / (factor * ref):.2f} (linear in bytes = 1.00)."
    )


def report(
    args: argparse.Namespace,
    workloads: list[Workload],
    tools: dict[Tool, str | None],
    runs: list[Run],
) -> str:
    """Header with what a reader needs to reproduce the numbers, then one table per workload."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = sorted({v for v in tools.values() if v})
    servers = {
        "http": "nginx (1 worker, sendfile)",
        "https": "nginx with TLS (1 worker, TLS 1.3, a private CA)",
        "ftp": "vsftpd (anonymous, sendfile)",
    }
    used = " and ".join(servers[s] for s in servers if s in {w.scheme for w in workloads})
    head = [
        f"## aiodl benchmark, {when}",
        "",
        f"Loopback {used} on 127.0.0.1, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}. "
        f"Median of {args.reps} interleaved rep(s); every output checked by sha256; "
        "ratio to X = median / X's median (lower is faster); peak RSS = max over reps.",
        "",
        f"Versions: {'; '.join(versions) or 'none'}.",
        "",
    ]
    body = [[*table(wl, tools, runs), *scaling(wl, workloads, runs)] for wl in workloads]
    return "\n".join([*head, *(line for lines in body for line in lines)])


def save_table(
    family: str, text: str, args: argparse.Namespace, outside: Path | None = None
) -> Path | None:
    """Write one workload family's table, for every benchmark script.

    The repo keeps one curated file per family, ``results/<family>.md`` (peers, polite,
    scale, soak), each the latest full run's table: a full run (``make bench``, ``make
    soak``: every option at its default) overwrites it, as does any run given ``--save``.
    Any other run (a subset, other sizes) writes ``<family>.md`` in ``outside`` (default
    ``<workdir>/results``) instead, so a partial run never replaces the curated table.
    ``--no-save`` and ``--smoke`` write nothing. Returns the path written, if any.
    """
    if args.save == "none":
        return None
    into_tree = args.save == "tree" or args.full
    folder = RESULTS if into_tree else outside or args.workdir / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{family}.md"
    path.write_text(text if text.endswith("\n") else text + "\n")
    log(f"saved {path}")
    return path


def save_raw(runs: list[Run], args: argparse.Namespace) -> Path | None:
    """Every run as one JSON object a line, in the work dir (never in the tree)."""
    if args.save == "none":
        return None
    path = args.workdir / "results" / "peers.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    log(f"saved {path}")
    return path


def start_servers(stack: ExitStack, work: Path, workloads: list[Workload]) -> dict[str, str]:
    """nginx and/or vsftpd, only those the workloads need, both serving the data dir; returns
    the base URL per scheme. The stack stops them on any exit."""
    schemes = {w.scheme for w in workloads}
    data, bases = work / "data", dict[str, str]()
    if "http" in schemes:
        probe = next(w for w in workloads if w.scheme == "http").sources[0].url_path
        bases["http"] = stack.enter_context(_nginx.serve(work, data, probe))
    if "https" in schemes:
        probe = next(w for w in workloads if w.scheme == "https").sources[0].url_path
        tls = _nginx.certificates(work)
        bases["https"] = stack.enter_context(_nginx.serve(work / "tls", data, probe, tls))
    if "ftp" in schemes:
        port = stack.enter_context(vsftpd.serve(data, work / "vsftpd"))
        bases["ftp"] = f"ftp://127.0.0.1:{port}"
    log(f"servers: {' '.join(bases.values())}")
    return bases


def remove_scale_data(workloads: list[Workload]) -> None:
    """W5's folders (4 GiB, 20,000 files) go after the run unless --keep-scale."""
    for wl in workloads:
        if wl.key in SCALED:
            shutil.rmtree(wl.sources[0].path.parent, ignore_errors=True)
            log(f"removed {wl.sources[0].path.parent}")


def main(argv: list[str]) -> int:
    """Data, servers, runs, report; exit 1 if any run failed or aiodl was asked for but absent."""
    args = parse_args(argv)
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    workloads = build_workloads(args, work)
    live = [w for w in workloads if not w.skip]
    keys = {w.key for w in live}
    picked = [t for t in _tools.TOOLS if t.key in args.tools and t.workload in keys]
    if args.baseline:
        picked += _tools.baseline_rows(picked, args.baseline)
    tools = {t: _tools.version(t) for t in picked}
    out_root(work)
    try:
        with ExitStack() as stack:
            runs = run_all(args, start_servers(stack, work, live), live, tools)
    finally:
        shutil.rmtree(work / "out", ignore_errors=True)
    text = report(args, workloads, tools, runs)  # sizes it states are read from the data
    if not args.keep_scale:
        remove_scale_data(live)
    print(text)
    save_table("peers", text, args)
    save_raw(runs, args)
    missing_aiodl = any(t.key == "aiodl" and v is None for t, v in tools.items())
    return 1 if missing_aiodl or any(r.status == "FAILED" for r in runs) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted; servers stopped, outputs removed")
        sys.exit(130)
