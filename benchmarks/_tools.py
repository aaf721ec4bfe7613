"""The tools compared, one row each: the command line as a template, and whether it is here.

Commands are written as templates so they read like the shell lines in README.md. Every tool is
told to stay quiet and to ignore personal config files, so a developer's ~/.curlrc or aria2.conf
cannot change what is measured.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_VENV_PY = REPO / ".venv" / "bin" / "python"
PY = str(_VENV_PY) if _VENV_PY.exists() else sys.executable
_PARFIVE_SCRIPT = REPO / ".venv" / "bin" / "parfive"
# parfive's own CLI (it calls parfive.Downloader(max_conn, max_splits)); inline if no script.
PARFIVE = (
    [str(_PARFIVE_SCRIPT)]
    if _PARFIVE_SCRIPT.exists()
    else [PY, "-c", "from parfive.main import main; main()"]
)
ARIA2 = "aria2c --no-conf=true -q --console-log-level=warn --summary-interval=0 --disable-ipv6=true"


@dataclass(frozen=True)
class Job:
    """What one run needs: a fresh output dir and the URLs, also as files for -i and -K."""

    out: Path
    urls: list[str]
    urls_file: Path
    curl_config: Path
    mib: int
    cacert: Path | None = None  # the private CA's PEM, for HTTPS workloads


@dataclass(frozen=True)
class Tool:
    """One row of a table. `cmd` is split like a shell line (quotes keep a script such as
    lftp's -c in one argument); {urls}, {py} and {parfive} tokens expand to several arguments,
    other {fields} come from the Job (so paths may contain spaces). {url} is the first URL."""

    key: str
    workload: str
    label: str
    cmd: str
    verify: bool = True
    probe: str = ""

    def argv(self, job: Job) -> list[str]:
        """The full command for this job."""
        return expand(self.cmd, job)

    def version_argv(self) -> list[str]:
        """The command printing the version: `probe`, else the program plus --version."""
        return expand(self.probe or f"{self.cmd.split()[0]} --version", None)


def expand(template: str, job: Job | None) -> list[str]:
    """Fill a command template; see Tool."""
    lists = {
        "{py}": [PY], "{parfive}": PARFIVE, "{urls}": job.urls if job else [],
        "{stallwatch}": [str(REPO / "benchmarks" / "stallwatch.py")],
    }  # fmt: skip
    fields: dict[str, object] = {} if job is None else {
        "out": job.out, "urls_file": job.urls_file, "cfg": job.curl_config, "mib": job.mib,
        "url": job.urls[0], "py": PY, "cacert": job.cacert, "here": Path(__file__).parent,
    }  # fmt: skip
    argv: list[str] = []
    for token in shlex.split(template):
        argv += lists[token] if token in lists else [token.format(**fields)]
    return argv


# aiodl runs under stallwatch.py: the command itself, with a ticker on its loop (the
# table's stall columns); the version probe runs the command plainly.
_AIODL = "{py} {stallwatch} --no-progress -q"
_PROBE_AIODL = "{py} -m aiodl --version"
# W1 and W3 fetch the same file, over HTTP and FTP, with the same command lines.
_AIODL_BIG = f"{_AIODL} -s 8 -j 8 --per-host 8 -d {{out}} {{urls}}"
_ARIA2_BIG = (
    f"{ARIA2} -x8 -s8 -k1M --file-allocation=falloc --allow-overwrite=true -d {{out}} "
    "-o big.bin {urls}"
)
_CURL_BIG = "curl -q -sSf -o {out}/big.bin {urls}"
# lftp: --norc skips ~/.lftprc and the like (/etc/lftp.conf is still read, but nothing in it
# applies to 127.0.0.1); log:enabled/xfer off stops a transfer log in $HOME, a line per file.
_LFTP = "lftp --norc -c 'set log:enabled/xfer no; "
TOOLS = [
    Tool("aiodl", "W1", "aiodl", _AIODL_BIG, probe=_PROBE_AIODL),
    Tool("aria2c", "W1", "aria2c -x8 -s8", _ARIA2_BIG),
    Tool("axel", "W1", "axel -n 8", "axel -n 8 -q -o {out}/big.bin {urls}"),
    Tool("curl", "W1", "curl (1 stream)", _CURL_BIG),
    Tool("parfive", "W1", "parfive (8 splits)", "{parfive} --max-conn 1 --max-splits 8 "
         "--overwrite --no-progress --directory {out} {urls}"),
    Tool("curl-null", "W1", "curl → /dev/null (network floor)",
         "curl -q -sSf -o /dev/null {urls}", verify=False),
    Tool("dd", "W1", "dd (page cache)",
         "dd if=/dev/zero of={out}/big.bin bs=1M count={mib} status=none", verify=False),
    Tool("aiodl", "W2", "aiodl", f"{_AIODL} -j 16 --per-host 16 -d {{out}} -i {{urls_file}}",
         probe=_PROBE_AIODL),
    # The same run with its progress bars drawn on a pseudo-terminal (script(1) gives one):
    # the price of the bars, read against the row above.
    Tool("aiodl-bars", "W2", "aiodl, progress bars on a pty",
         "script -qfec '{py} -m aiodl -j 16 --per-host 16 -d {out} -i {urls_file}' /dev/null",
         probe=_PROBE_AIODL),
    Tool("aria2c", "W2", "aria2c -j16", f"{ARIA2} -j16 -x1 -d {{out}} -i {{urls_file}}"),
    Tool("curl", "W2", "curl --parallel 16", "curl -q --no-progress-meter -Sf --parallel "
         "--parallel-max 16 --output-dir {out} -K {cfg}"),
    Tool("wget2", "W2", "wget2 --max-threads=16",
         "wget2 --no-config -q --max-threads=16 -P {out} -i {urls_file}"),
    Tool("parfive", "W2", "parfive (16 conns, no splits)", "{parfive} --max-conn 16 "
         "--max-splits 1 --overwrite --no-progress --directory {out} {urls}"),
    Tool("aiodl", "W3", "aiodl", _AIODL_BIG, probe=_PROBE_AIODL),
    Tool("aria2c", "W3", "aria2c -x8 -s8", _ARIA2_BIG),
    Tool("lftp", "W3", "lftp pget -n 8", _LFTP + 'pget -n 8 -O "{out}" {url}\''),
    Tool("curl", "W3", "curl (1 stream)", _CURL_BIG),
    # W4 gets one URL, the folder: its files must land directly in {out}.
    Tool("aiodl", "W4", "aiodl", f"{_AIODL} -j 16 --per-host 16 -d {{out}} {{urls}}",
         probe=_PROBE_AIODL),
    Tool("lftp", "W4", "lftp mirror -P 16", _LFTP + 'mirror -P 16 {url} "{out}"\''),
    Tool("wget", "W4", "wget -r", "wget --no-config -q -r -nH --cut-dirs=1 -P {out} {urls}"),
]  # fmt: skip


def baseline_rows(tools: list[Tool], checkout: Path) -> list[Tool]:
    """For each aiodl row, the same command run from ``checkout`` (an earlier aiodl, found
    first on PYTHONPATH), labelled with its commit: before/after figures from one run."""
    rev = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip() or checkout.name  # fmt: skip
    return [
        replace(
            t,
            key="aiodl-baseline",
            label=f"aiodl {rev} (baseline)",
            cmd=f"env PYTHONPATH={shlex.quote(str(checkout.resolve()))} {t.cmd}",
            probe=f"env PYTHONPATH={shlex.quote(str(checkout.resolve()))} {t.probe}",
        )
        for t in tools
        if t.key == "aiodl"
    ]


def _rerun(workload: str, base: str, keys: tuple[str, ...]) -> list[Tool]:
    """The rows of `base`, same labels and command lines, for `workload`: W5 scales W1 and W2 up,
    so only the files may change between a W5 figure and the one it is read against."""
    return [replace(t, workload=workload) for t in TOOLS if t.workload == base and t.key in keys]


# W9 and W10 are W1 and W2 over HTTPS (nginx with a certificate from a private CA): the
# same command lines plus each tool's flag to trust that CA, and a naive reference each.
_CA = {"aiodl": "--cacert {cacert}", "aria2c": "--ca-certificate={cacert}",
       "curl": "--cacert {cacert}", "wget2": "--ca-certificate={cacert}"}  # fmt: skip


def _secure(workload: str, base: str) -> list[Tool]:
    """The rows of `base` whose tool takes a CA flag, for `workload`, the flag put right
    after the program (after the script for aiodl, which runs under stallwatch)."""
    rows = []
    for t in TOOLS:
        if t.workload == base and t.key in _CA:
            program = "{stallwatch}" if t.key == "aiodl" else t.cmd.split()[0]
            cmd = t.cmd.replace(program, f"{program} {_CA[t.key]}", 1)
            rows.append(replace(t, workload=workload, cmd=cmd))
    return rows


TOOLS += [
    *_secure("W9", "W1"),
    Tool("naive", "W9", "naive asyncio BufferedProtocol over ssl (8 ranges)",
         "{py} {here}/naive_tls.py {url} {out}/big.bin {cacert} 8", probe="{py} --version"),
    *_secure("W10", "W2"),
    Tool("naive", "W10", "naive aiohttp loop (16 workers)",
         "{py} {here}/naive_aiohttp.py {urls_file} {out} {cacert} 16", probe="{py} --version"),
]  # fmt: skip

_SCALE_PEERS = ("aiodl", "aria2c", "curl")
TOOLS += [*_rerun("W5a", "W2", _SCALE_PEERS), *_rerun("W5b", "W1", _SCALE_PEERS)]


def clean_env() -> dict[str, str]:
    """The environment for every tool: no proxy may divert loopback traffic, and
    `python -m aiodl` must import the working tree under test, installed or not."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def version(tool: Tool) -> str | None:
    """First words of the version output, or None when the tool is missing or does not start."""
    argv = tool.version_argv()
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=clean_env(), timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0 or not lines:
        return None
    words = [w for w in lines[0].split() if any(c.isalnum() for c in w)]  # "LFTP | Version 4.9"
    return " ".join(words[:3])
