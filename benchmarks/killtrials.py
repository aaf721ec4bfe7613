#!/usr/bin/env python3
"""Kill -9 trials: a download killed at a random moment must resume, losing little.

Each trial serves a fresh file (256 MiB by default) at a fixed rate over 4 connections
from the aiohttp fault server, runs ``aiodl -s 4`` on it, sends SIGKILL at a random moment
between 1 s and the expected end, then runs the same command again at full speed. Per
trial: when the kill came, what the server had sent by then, what the journal held
(written and flushed ranges), what the rerun fetched again, whether it said "resumed"
and whether the file is exact. The goal (issue 19): every trial resumes, and the rerun
fetches no more than the server had sent after the journal's last checkpoint, i.e.
``refetched - (size - written)`` is about 0 and ``sent - written`` stays within what
arrives in one checkpoint interval (0.25 s). Prints a markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from testing import journaled  # noqa: E402
from testing.servers.http import FaultServer, running  # noqa: E402

MIB = 1 << 20


async def aiodl(dest: Path, url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiodl", "--no-progress", "--json", "-s", "4", "-d", str(dest),
        url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


async def trial(server: FaultServer, n: int, size: int, rate: int, rng: random.Random) -> dict:
    data = os.urandom(size)
    name = f"t{n}.bin"
    url = server.add(name, data, rate=rate // 4)
    dest = Path(tempfile.mkdtemp(prefix="aiodl-kill-"))
    try:
        process = await aiodl(dest, url)
        at = rng.uniform(1.0, size / rate)
        began = time.monotonic()
        with suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), at)
        sent = server.sent.get(name, 0)
        finished = process.returncode is not None
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        await process.communicate()
        written, flushed = journaled(dest, "written"), journaled(dest, "ranges")
        server.faults[name].rate = None
        again = await aiodl(dest, url)
        out, _ = await again.communicate()
        result = json.loads(out) if out else {}
        exact = (dest / name).exists() and (
            hashlib.sha256((dest / name).read_bytes()).digest() == hashlib.sha256(data).digest()
        )
        return {
            "n": n, "kill_s": round(time.monotonic() - began, 2), "finished": finished,
            "sent": sent, "written": written, "flushed": flushed,
            "refetched": sum(result.get("delivered", {}).values()),
            "resumed": bool(result.get("resumed")), "exact": exact, "size": size,
        }  # fmt: skip
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        server.files.pop(name, None)


def report(rows: list[dict], size: int, rate: int) -> list[str]:
    mib = lambda n: f"{n / MIB:.1f}"  # noqa: E731
    lines = [
        f"Kill -9 trials: {len(rows)} x {size // MIB} MiB at {rate // MIB} MiB/s over 4 "
        "connections, killed at a random moment, then rerun at full speed.",
        "",
        "| trial | killed at s | sent MiB | journal written MiB | flushed MiB | "
        "refetched MiB | refetch beyond the gap MiB | resumed | exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        beyond = r["refetched"] - (r["size"] - r["written"])
        resumed = "finished" if r["finished"] else ("yes" if r["resumed"] else "**no**")
        lines.append(
            f"| {r['n']} | {r['kill_s']} | {mib(r['sent'])} | {mib(r['written'])} | "
            f"{mib(r['flushed'])} | {mib(r['refetched'])} | {mib(beyond)} | {resumed} | "
            f"{'yes' if r['exact'] else '**no**'} |"
        )
    killed = [r for r in rows if not r["finished"]]
    lag = max((r["sent"] - r["written"] for r in killed), default=0)
    lines += [
        "",
        f"Resumed: {sum(r['resumed'] for r in killed)}/{len(killed)} killed runs; exact: "
        f"{sum(r['exact'] for r in rows)}/{len(rows)}; worst lag of the journal behind "
        f"what the server had sent: {mib(lag)} MiB ({lag / rate:.2f} s of transfer).",
    ]
    return lines


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rate-mib", type=int, default=32)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the kills' resets
    rng, size, rate = random.Random(args.seed), args.mib * MIB, args.rate_mib * MIB
    rows = []
    async with running() as server:
        for n in range(1, args.trials + 1):
            rows.append(await trial(server, n, size, rate, rng))
            print(f"trial {n}: {rows[-1]}", file=sys.stderr, flush=True)
    print("\n".join(report(rows, size, rate)))
    killed = [r for r in rows if not r["finished"]]
    return 0 if all(r["resumed"] for r in killed) and all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
