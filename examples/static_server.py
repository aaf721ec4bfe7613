"""A static file server on 127.0.0.1 for the examples: ``python static_server.py ROOT``.

aiohttp's static handler answers Range requests and uses sendfile, like nginx would. The
chosen port is printed on the first line of stdout; the server runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def serve(root: str) -> None:
    app = web.Application()
    app.router.add_static("/", root, show_index=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
