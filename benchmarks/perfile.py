#!/usr/bin/env python3
"""The per-file budget: microseconds of the loop's time per small file, by phase.

Runs W2 (2000 x 64 KiB from a loopback nginx, 16 at a time) once through the CLI under
cProfile, and reads each phase's cumulative time off the profile, divided by the number
of files. cProfile slows Python code (not system calls) by roughly 1.5-2x, so the figures
are for comparing phases and runs of this script with each other, not with wall times.
Prints a markdown table; writes nothing but a scratch folder it removes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

import _data

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from testing.servers import nginx as _nginx  # noqa: E402

# phase -> (module path fragment, function name): the function whose cumulative time is it.
PHASES = {
    "request + head parse (incl. connect/reuse)": ("_protocols/http/plain.py", "get"),
    "response checks (describe)": ("_protocols/http/driver.py", "_describe"),
    "open/create the part file": ("_disk/partfile.py", "open_part"),
    "body copy (pump)": ("_core/pump.py", "pump"),
    "segment machinery around it (transfer run)": ("_core/transfer.py", "run"),
    "size check, flush, rename (commit)": ("_disk/commit.py", "commit"),
    "events": ("_core/events.py", "report"),
    "one file in all (FileDownload.run)": ("_core/download.py", "run"),
}


def budget(stats: pstats.Stats, files: int) -> list[tuple[str, float]]:
    table = stats.stats  # type: ignore[attr-defined]
    rows = []
    for phase, (fragment, name) in PHASES.items():
        total = sum(
            cumulative
            for (path, _, function), (_, _, _, cumulative, _) in table.items()
            if path.endswith(fragment) and function == name
        )
        rows.append((phase, total / files * 1e6))
    rows.append(("the whole command, per file", stats.total_tt / files * 1e6))  # type: ignore[attr-defined]
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="aiodl-perfile-"))
    try:
        sources = _data.small_sources(work / "data", args.count)
        with _nginx.serve(work, work / "data", sources[0].url_path) as base:
            urls = work / "urls.txt"
            urls.write_text("".join(f"{base}{s.url_path}\n" for s in sources))
            _data.warm_cache(sources)
            from aiodl._cli.command import main as aiodl_main

            profile = cProfile.Profile()
            argv = ["--no-progress", "-q", "-j", "16", "--per-host", "16"]
            profile.runcall(aiodl_main, [*argv, "-d", str(work / "out"), "-i", str(urls)])
            problem = _data.verify(work / "out", sources)
            if problem:
                print(f"download wrong: {problem}", file=sys.stderr)
                return 1
        stats = pstats.Stats(profile)
        print(f"Per-file budget, W2 ({args.count} x 64 KiB, 16 at a time), under cProfile:\n")
        print("| phase | µs per file (cumulative) |\n|---|---:|")
        for phase, micros in budget(stats, args.count):
            print(f"| {phase} | {micros:.0f} |")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
