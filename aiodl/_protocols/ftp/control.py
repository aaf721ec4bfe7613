"""An FTP control connection: command lines out, replies in, on one asyncio Protocol.

aioftp wraps every read and write of the control connection in ``asyncio.wait_for``,
a Task each; for a tree of small files that was a third of the time per file. Here a
command is one ``write`` and a reply is one future, replies are parsed by the sans-IO
``ReplyParser``, and commands may be pipelined (sent before earlier replies arrive;
replies come back in order). Names go out as UTF-8 with surrogateescape, so a name that
was not valid UTF-8 in a listing is sent back to the server byte for byte.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..._network.connect import Connector
from .wire import Reply, ReplyParser


class ReplyError(Exception):
    """The server answered with an unexpected code."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}".strip())
        self.reply = reply


class _ControlProtocol(asyncio.Protocol):
    """Collects replies as they arrive; ``next_reply`` hands them out in order."""

    def __init__(self) -> None:
        self._parser = ReplyParser()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._replies.extend(self._parser.feed(data))
        except ValueError as error:
            self._lost = ConnectionError(f"FTP control connection broken: {error}")
            if self._transport is not None:
                self._transport.close()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            self._lost = exc or ConnectionResetError("the server closed the control connection")
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_reply(self) -> Reply:
        while not self._replies:
            if self._lost is not None:
                raise self._lost
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._replies.popleft()


class Control:
    """One control connection; ``address`` is the server IP it reached."""

    def __init__(
        self, transport: asyncio.Transport, protocol: _ControlProtocol, seconds: float
    ) -> None:
        self._protocol = protocol
        self._transport = transport
        self._seconds = seconds
        self._unanswered = 1  # the greeting
        self.address: str = self._transport.get_extra_info("peername")[0]

    @classmethod
    async def open(cls, connector: Connector, host: str, port: int, seconds: float) -> Control:
        """Connect (every address of a name, as ``connector`` does) and read the greeting
        (a ReplyError unless it is 220); connecting, the whole greeting, and every reply
        later must each come within ``seconds``."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(seconds):
            sock = await connector.connect(host, port)
            try:
                transport, protocol = await loop.create_connection(_ControlProtocol, sock=sock)
            except BaseException:
                sock.close()
                raise
        control = cls(transport, protocol, seconds)
        try:
            control.check(await control.final(), "220")  # after any "120 ready in a moment"
        except BaseException:
            control.close()
            raise
        return control

    def send(self, *lines: str) -> None:
        """Send command lines without waiting (their replies come in order)."""
        for line in lines:
            if "\r" in line or "\n" in line:  # the rest would be a command of its own
                verb = line.split(" ", 1)[0]
                raise ValueError(f"refusing to send {verb} with a line break in its argument")
        payload = "".join(f"{line}\r\n" for line in lines)
        self._transport.write(payload.encode("utf-8", errors="surrogateescape"))
        self._unanswered += len(lines)

    async def reply(self) -> Reply:
        """The next reply, within the timeout."""
        async with asyncio.timeout(self._seconds):
            return await self._next()

    async def final(self) -> Reply:
        """The next reply that is not preliminary (1xx), all of them within one timeout:
        a server repeating "120 wait" cannot hold us for ever."""
        async with asyncio.timeout(self._seconds):
            while (reply := await self._next()).is_a("1"):
                pass
        return reply

    async def settle(self) -> None:
        """Read the replies still owed, all within one timeout, so that the next command's
        reply is its own (a RETR ended early still owes its 426)."""
        async with asyncio.timeout(self._seconds):
            while self._unanswered > 0:
                await self._next()

    @property
    def settled(self) -> bool:
        """Whether every command sent has had its final (not 1xx) reply read."""
        return self._unanswered <= 0

    async def _next(self) -> Reply:
        reply = await self._protocol.next_reply()
        if not reply.is_a("1"):
            self._unanswered -= 1
        return reply

    async def command(self, line: str, expected: str) -> Reply:
        """Send ``line`` and return its reply, which must start with ``expected``."""
        self.send(line)
        return self.check(await self.reply(), expected)

    @staticmethod
    def check(reply: Reply, expected: str) -> Reply:
        if not reply.is_a(expected):
            raise ReplyError(reply)
        return reply

    async def login(self, user: str, password: str) -> None:
        """USER, then PASS when asked; 230 means logged in."""
        reply = await self.command(f"USER {user}", "")
        if reply.is_a("331"):
            reply = await self.command(f"PASS {password}", "")
        self.check(reply, "230")

    async def quit(self) -> None:
        """Say goodbye politely (the caller bounds how long that may take)."""
        try:
            await self.command("QUIT", "2")
        finally:
            self.close()

    @property
    def alive(self) -> bool:
        """False once either side has closed the connection."""
        return not self._transport.is_closing()

    def close(self) -> None:
        self._transport.close()
