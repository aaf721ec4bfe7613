"""The tools compared, one row each: how to call them for a job and whether they are here.

Flags follow the brief in benchmarks/README.md; every tool is told to stay quiet and to ignore
its personal config files so that a developer's ~/.curlrc cannot change what is measured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_VENV_PY = REPO / ".venv" / "bin" / "python"
PY = str(_VENV_PY) if _VENV_PY.exists() else sys.executable
_PARFIVE = REPO / ".venv" / "bin" / "parfive"
_PARFIVE_INLINE = (
    "import sys, parfive;"
    "d = parfive.Downloader(max_conn=int(sys.argv[1]), max_splits=int(sys.argv[2]),"
    " progress=False, overwrite=True);"
    "[d.enqueue_file(u, path=sys.argv[3]) for u in sys.argv[4:]];"
    "sys.exit(1 if d.download().errors else 0)"
)
ARIA2_QUIET = [
    "--no-conf=true",
    "-q",
    "--console-log-level=warn",
    "--summary-interval=0",
    "--disable-ipv6=true",
]


@dataclass(frozen=True)
class Job:
    """What one run needs: a fresh output dir and the URLs, also as files for -i and -K."""

    out: Path
    urls: list[str]
    urls_file: Path
    curl_config: Path
    mib: int


@dataclass(frozen=True)
class Tool:
    """A command line for one workload; `base` is also what `--version` is appended to."""

    key: str
    workload: str
    label: str
    base: tuple[str, ...]
    args: Callable[[Job], list[str]]
    verify: bool = True
    probe: tuple[str, ...] = ()

    def argv(self, job: Job) -> list[str]:
        """The full command for this job."""
        return [*self.base, *self.args(job)]


def _parfive(key: str, workload: str, label: str, conn: int, splits: int) -> Tool:
    """parfive's console script when the venv has one, else the same calls inline."""
    if _PARFIVE.exists():
        opts = ["--max-conn", str(conn), "--max-splits", str(splits)]
        opts += ["--overwrite", "--no-progress"]
        return Tool(
            key,
            workload,
            label,
            (str(_PARFIVE),),
            lambda j: [*opts, "--directory", str(j.out), *j.urls],
        )
    probe = (PY, "-c", "import parfive; print('parfive', parfive.__version__)")
    return Tool(
        key,
        workload,
        label,
        (PY, "-c", _PARFIVE_INLINE),
        lambda j: [str(conn), str(splits), str(j.out), *j.urls],
        probe=probe,
    )


def _dd(job: Job) -> list[str]:
    """Page-cache write floor: the same byte count as W1 from /dev/zero, no fsync."""
    bs = 4 if job.mib % 4 == 0 else 1
    return [
        "if=/dev/zero",
        f"of={job.out / 'big.bin'}",
        f"bs={bs}M",
        f"count={job.mib // bs}",
        "status=none",
    ]


def _w1() -> list[Tool]:
    """W1: one big file over 8 connections, plus the network and page-cache floors."""
    return [
        Tool(
            "aiodl",
            "W1",
            "aiodl",
            (PY, "-m", "aiodl"),
            lambda j: [
                "--no-progress",
                "-q",
                "-s",
                "8",
                "-j",
                "8",
                "--per-host",
                "8",
                "-d",
                str(j.out),
                *j.urls,
            ],
        ),
        Tool(
            "aria2c",
            "W1",
            "aria2c -x8 -s8",
            ("aria2c",),
            lambda j: [
                *ARIA2_QUIET,
                "-x8",
                "-s8",
                "-k1M",
                "--file-allocation=falloc",
                "--allow-overwrite=true",
                "-d",
                str(j.out),
                "-o",
                "big.bin",
                *j.urls,
            ],
        ),
        Tool(
            "axel",
            "W1",
            "axel -n 8",
            ("axel",),
            lambda j: ["-n", "8", "-q", "-o", str(j.out / "big.bin"), *j.urls],
        ),
        Tool(
            "curl",
            "W1",
            "curl (1 stream)",
            ("curl",),
            lambda j: ["-q", "-sSf", "-o", str(j.out / "big.bin"), *j.urls],
        ),
        _parfive("parfive", "W1", "parfive (8 splits)", 1, 8),
        Tool(
            "curl-null",
            "W1",
            "curl → /dev/null (network floor)",
            ("curl",),
            lambda j: ["-q", "-sSf", "-o", "/dev/null", *j.urls],
            verify=False,
        ),
        Tool("dd", "W1", "dd (page cache)", ("dd",), _dd, verify=False),
    ]


def _w2() -> list[Tool]:
    """W2: many small files, 16 at a time, each over its own keep-alive connection."""
    return [
        Tool(
            "aiodl",
            "W2",
            "aiodl",
            (PY, "-m", "aiodl"),
            lambda j: [
                "--no-progress",
                "-q",
                "-j",
                "16",
                "--per-host",
                "16",
                "-d",
                str(j.out),
                "-i",
                str(j.urls_file),
            ],
        ),
        Tool(
            "aria2c",
            "W2",
            "aria2c -j16",
            ("aria2c",),
            lambda j: [*ARIA2_QUIET, "-j16", "-x1", "-i", str(j.urls_file), "-d", str(j.out)],
        ),
        Tool(
            "curl",
            "W2",
            "curl --parallel 16",
            ("curl",),
            lambda j: [
                "-q",
                "-sSf",
                "--parallel",
                "--parallel-max",
                "16",
                "--output-dir",
                str(j.out),
                "-K",
                str(j.curl_config),
            ],
        ),
        Tool(
            "wget2",
            "W2",
            "wget2 --max-threads=16",
            ("wget2",),
            lambda j: [
                "--no-config",
                "-q",
                "--max-threads=16",
                "-P",
                str(j.out),
                "-i",
                str(j.urls_file),
            ],
        ),
        _parfive("parfive", "W2", "parfive (16 conns, no splits)", 16, 1),
    ]


TOOLS: list[Tool] = [*_w1(), *_w2()]


def clean_env() -> dict[str, str]:
    """The environment for every tool: no proxy may divert loopback traffic, and
    `python -m aiodl` must import the working tree under test, installed or not."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def version(tool: Tool) -> str | None:
    """First words of `--version`, or None when the tool is not installed or does not start."""
    if shutil.which(tool.base[0]) is None:
        return None
    try:
        probe = tool.probe or (*tool.base, "--version")
        done = subprocess.run(
            probe, capture_output=True, text=True, env=clean_env(), timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0 or not line:
        return None
    return " ".join(line[0].split()[:3])
