"""A real FTP server (pyftpdlib) on 127.0.0.1 in a background thread, with switchable faults.

``FTPFaults`` holds the ways FTP servers break downloads and mirrors (REST refused or
ignored, data connections cut, commands not implemented, DOS listings, hostile listings,
a PASV reply naming another host); every command received is recorded, so tests assert
what the client actually sent.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


@dataclass
class FTPFaults:
    """Switches for the whole server; ``cut_times`` counts down per RETR, -1 means always."""

    refuse_rest: bool = False  # answer REST with 502
    ignore_rest: bool = False  # answer REST with 350, then send from byte 0 anyway
    cut_at: int | None = None  # a RETR that passes this file offset stops there
    cut_mode: Literal["short", "abort"] = "short"  # end with 226 (a lie), or fail with 426
    cut_times: int = -1
    unsupported: set[str] = field(default_factory=set)  # verbs answered "500 not understood"
    silent: set[str] = field(default_factory=set)  # verbs never answered (a stalled server)
    raw_replies: dict[str, bytes] = field(default_factory=dict)  # verb -> bytes sent as reply
    close_after_transfer: bool = False  # close the control connection after each 226
    rate: int = 0  # bytes per second for the whole server (it sleeps while serving files)
    list_style: Literal["unix", "dos"] = "unix"
    listings: dict[str, list[str]] = field(default_factory=dict)  # MLSD/LIST lines per path
    # After a RETR's data connection closes: reply as usual, send nothing, or hang up.
    final_reply: Literal["send", "withhold", "hang_up"] = "send"
    login_delay: float = 0.0  # seconds the server (its one thread) sleeps before each PASS

    def take_cut(self, start: int) -> int | None:
        """The offset a RETR from ``start`` stops at, if the cut fires for it."""
        if self.cut_at is None or start > self.cut_at or self.cut_times == 0:
            return None
        if self.cut_times > 0:
            self.cut_times -= 1
        return self.cut_at


@dataclass
class FTPLog:
    """Every command the server received, in order, and every data connection it served."""

    commands: list[str] = field(default_factory=list)
    data_connections: int = 0
    control_connections: int = 0
    refused: int = 0  # connections turned away with "421 too many connections"

    def count(self, verb: str) -> int:
        return sum(1 for line in self.commands if line.split(" ", 1)[0] == verb)

    def args(self, verb: str) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.commands if line.startswith(verb + " ")]


@dataclass
class Trap:
    """Listeners on an address nobody should connect to; ``hits`` counts who did."""

    address: str
    ports: list[int]
    hits: int = 0


@dataclass(frozen=True)
class RunningFTP:
    root: Path
    port: int
    log: FTPLog
    faults: FTPFaults
    trap: Trap | None = None

    def url(self, path: str, user: str = "") -> str:
        auth = f"{user}@" if user else ""
        return f"ftp://{auth}127.0.0.1:{self.port}/{path}"


class _SlowFile(io.RawIOBase):
    """A served file read at ``rate`` bytes per second. The server's one thread sleeps, so
    the rate holds for all its data connections together."""

    def __init__(self, file: Any, rate: int) -> None:
        self._file, self._rate = file, rate
        self.name = file.name

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._file.seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        chunk = bytes(self._file.read(size))
        time.sleep(len(chunk) / self._rate)
        return chunk

    def close(self) -> None:
        self._file.close()
        super().close()


class _CutFile(io.RawIOBase):
    """A served file that ends (or fails) at ``cut``: a data connection that breaks."""

    def __init__(self, file: Any, cut: int, mode: str) -> None:
        self._file, self._cut, self._mode = file, cut, mode
        self.name = file.name

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._file.seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        left = self._cut - self._file.tell()
        if left <= 0:
            if self._mode == "abort":
                raise OSError("data connection cut by the test server")
            return b""
        return bytes(self._file.read(left if size < 0 else min(size, left)))

    def close(self) -> None:
        self._file.close()
        super().close()


def _dos_lines(folder: Path) -> list[str]:
    """``folder`` listed the way IIS does: ``11-23-26  01:05PM  <DIR>  name``."""
    lines = []
    for path in sorted(folder.iterdir()):
        stamp = time.strftime("%m-%d-%y  %I:%M%p", time.gmtime(path.stat().st_mtime))
        size = "<DIR>" if path.is_dir() else str(path.stat().st_size)
        lines.append(f"{stamp}  {size:>20} {path.name}")
    return lines


def _handler(log: FTPLog, faults: FTPFaults, authorizer: DummyAuthorizer) -> type[FTPHandler]:
    class FaultyFS(AbstractedFS):  # type: ignore[misc]
        cut_next: int | None = None

        def open(self, filename: str, mode: str) -> Any:
            file = super().open(filename, mode)
            if faults.rate:
                file = _SlowFile(file, faults.rate)
            cut, self.cut_next = self.cut_next, None
            return file if cut is None else _CutFile(file, cut, faults.cut_mode)

    class FaultyHandler(FTPHandler):  # type: ignore[misc]
        abstracted_fs = FaultyFS
        use_sendfile = False  # every byte goes through FaultyFS, so cuts can happen

        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            log.commands.append(f"{cmd} {arg}".strip())
            if cmd in faults.silent:
                return
            if cmd in faults.raw_replies:
                super(FTPHandler, self).push(faults.raw_replies[cmd])  # bytes, not text
            elif cmd in faults.unsupported:
                self.respond("500 Command not understood.")
            elif cmd == "REST" and faults.refuse_rest:
                self.respond("502 REST not implemented here.")
            else:
                super().pre_process_command(line, cmd, arg)

        def on_connect(self) -> None:
            log.control_connections += 1

        def ftp_PASS(self, line: str) -> Any:
            time.sleep(faults.login_delay)  # a slow password hash (argon2, say)
            return super().ftp_PASS(line)

        def ftp_RETR(self, file: str) -> Any:
            if faults.ignore_rest:
                self._restart_position = 0
            self.fs.cut_next = faults.take_cut(self._restart_position)
            return super().ftp_RETR(file)

        def handle_max_cons_per_ip(self) -> None:
            log.refused += 1
            super().handle_max_cons_per_ip()

        def on_file_sent(self, file: str) -> None:
            if faults.close_after_transfer:
                self.close_when_done()

        def _push_lines(self, path: str, verb: str, lines: list[str]) -> str:
            self.push_dtp_data("".join(f"{line}\r\n" for line in lines).encode(), cmd=verb)
            return path

        def _synthetic(self, path: str) -> list[str] | None:
            return faults.listings.get(self.fs.fs2ftp(path))

        def ftp_CWD(self, path: str) -> Any:
            if self._synthetic(path) is not None and not Path(path).is_dir():
                return self.respond("250 Entered a folder that only a listing holds.")
            return super().ftp_CWD(path)

        def ftp_MLSD(self, path: str) -> Any:
            lines = self._synthetic(path)
            return (
                super().ftp_MLSD(path) if lines is None else self._push_lines(path, "MLSD", lines)
            )

        def ftp_LIST(self, path: str) -> Any:
            lines = self._synthetic(path)
            if lines is None and faults.list_style == "dos":
                lines = _dos_lines(Path(path))
            return (
                super().ftp_LIST(path) if lines is None else self._push_lines(path, "LIST", lines)
            )

    class CountingDTP(FaultyHandler.dtp_handler):  # type: ignore[misc,name-defined]
        def __init__(self, sock: Any, cmd_channel: Any) -> None:
            log.data_connections += 1
            super().__init__(sock, cmd_channel)

        def close(self) -> None:
            cut_off = self.cmd == "RETR" and faults.final_reply != "send" and not self._closed
            if cut_off:
                self._resp = None
            super().close()
            if cut_off and faults.final_reply == "hang_up":
                self.cmd_channel.close()

    FaultyHandler.dtp_handler = CountingDTP
    FaultyHandler.authorizer = authorizer
    FaultyHandler.banner = "aiodl test server"
    FaultyHandler.auth_failed_timeout = 0.05  # pyftpdlib sleeps 3 s after a bad login
    return FaultyHandler


@contextmanager
def _trap(address: str, count: int) -> Iterator[Trap]:
    """``count`` listening ports on ``address`` whose numbers are free on 127.0.0.1 too."""
    with ExitStack() as stack:
        sockets = []
        while len(sockets) < count:
            probe = stack.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            listener = stack.enter_context(socket.socket())
            listener.bind((address, port))
            listener.listen()
            listener.settimeout(0.05)
            sockets.append((probe, listener))
        trap = Trap(address, [listener.getsockname()[1] for _, listener in sockets])
        for probe, _ in sockets:
            probe.close()  # the port is free again on 127.0.0.1, for the FTP server
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for _, listener in sockets:
                    try:
                        listener.accept()[0].close()
                        trap.hits += 1
                    except TimeoutError:
                        pass

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield trap
        finally:
            stop.set()
            thread.join(timeout=5)


@contextmanager
def running_ftp(
    root: Path, *, max_per_ip: int = 0, masquerade: str | None = None
) -> Iterator[RunningFTP]:
    """Serve ``root`` (anonymous read, and user ``alice``/``wonder``) until the block ends.

    ``masquerade`` makes PASV replies name that address (with ports also listened on
    there, see ``trap``) while data connections are really served on 127.0.0.1.
    """
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonder", str(root), perm="elr")
    authorizer.add_anonymous(str(root))
    log, faults = FTPLog(), FTPFaults()
    handler = _handler(log, faults, authorizer)
    with ExitStack() as stack:
        trap = None
        if masquerade is not None:
            trap = stack.enter_context(_trap(masquerade, 4))
            handler.masquerade_address = masquerade
            handler.passive_ports = trap.ports
        server = FTPServer(("127.0.0.1", 0), handler)
        server.max_cons = 256
        server.max_cons_per_ip = max_per_ip
        stop = threading.Event()
        thread = threading.Thread(target=_serve_until, args=(server, stop), daemon=True)
        thread.start()
        try:
            yield RunningFTP(root, server.address[1], log, faults, trap)
        finally:
            stop.set()
            thread.join(timeout=5)


def _serve_until(server: FTPServer, stop: threading.Event) -> None:
    """Serve until ``stop``, then close everything from this same thread: closing the
    server's poller from another thread while it polls fails that poll (EBADF)."""
    try:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
    finally:
        server.close_all()
