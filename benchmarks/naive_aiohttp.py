#!/usr/bin/env python3
"""W10's naive reference: a plain aiohttp loop, 16 workers sharing one session (its
keep-alive pool), each file read whole and written under its URL's name. No retries, no
part files, no flush to disk: the floor of an aiohttp downloader.

    naive_aiohttp.py URLS_FILE OUT_DIR CACERT [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path

import aiohttp


async def main(urls: list[str], out: str, cacert: str, concurrency: int) -> None:
    context = ssl.create_default_context(cafile=cacert)
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while urls:
                url = urls.pop()
                async with session.get(url) as response:
                    response.raise_for_status()
                    body = await response.read()
                (Path(out) / url.rsplit("/", 1)[1]).write_bytes(body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    urls_file, out, cacert = sys.argv[1:4]
    urls = Path(urls_file).read_text().split()
    asyncio.run(main(urls, out, cacert, int(sys.argv[4]) if len(sys.argv) > 4 else 16))
