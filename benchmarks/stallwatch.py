#!/usr/bin/env python3
"""Run the aiodl command with a ticker on its event loop, and report how late the ticker woke.

The ticker sleeps 5 ms again and again; how much later than asked it wakes is how long the
loop was held by something else (a copy loop, a blocking call). That is what a service that
awaits aiodl feels. Used as ``stallwatch.py ARGS...`` in place of ``python -m aiodl ARGS...``;
the worst and the 99th-percentile lateness (ms) go to the JSON file named by $AIODL_STALLS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

TICK = 0.005


class _Ticker:
    def __init__(self) -> None:
        self.late: list[float] = []

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK)
            self.late.append(time.perf_counter() - asked - TICK)

    def summary(self) -> dict[str, float]:
        if not self.late:
            return {"worst_ms": 0.0, "p99_ms": 0.0, "ticks": 0}
        ordered = sorted(self.late)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {"worst_ms": ordered[-1] * 1e3, "p99_ms": p99 * 1e3, "ticks": len(ordered)}


class _WatchedPolicy(asyncio.DefaultEventLoopPolicy):
    """Every loop the command makes starts the ticker first (asyncio.run makes one)."""

    def __init__(self, ticker: _Ticker) -> None:
        super().__init__()
        self._ticker = ticker

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        tasks: list[asyncio.Task[None]] = []
        loop.call_soon(lambda: tasks.append(loop.create_task(self._ticker.run())))
        return loop


def main() -> int:
    try:
        from aiodl._cli.command import main as aiodl_main
    except ImportError:  # an aiodl from before the _cli package (a --baseline checkout)
        from aiodl._cli import main as aiodl_main  # type: ignore[attr-defined,no-redef]

    ticker = _Ticker()
    asyncio.set_event_loop_policy(_WatchedPolicy(ticker))
    try:
        return aiodl_main(sys.argv[1:])
    finally:
        target = os.environ.get("AIODL_STALLS")
        if target:
            Path(target).write_text(json.dumps(ticker.summary()))


if __name__ == "__main__":
    sys.exit(main())
