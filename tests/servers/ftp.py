"""A real FTP server (pyftpdlib) on 127.0.0.1 in a background thread, recording commands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


@dataclass
class FTPLog:
    """Every command the server received, in order, and switches for faults."""

    commands: list[str] = field(default_factory=list)
    refuse_rest: bool = False

    def count(self, verb: str) -> int:
        return sum(1 for line in self.commands if line.split(" ", 1)[0] == verb)


@dataclass(frozen=True)
class RunningFTP:
    root: Path
    port: int
    log: FTPLog

    def url(self, path: str, user: str = "") -> str:
        auth = f"{user}@" if user else ""
        return f"ftp://{auth}127.0.0.1:{self.port}/{path}"


def _handler(log: FTPLog, authorizer: DummyAuthorizer) -> type[FTPHandler]:
    class RecordingHandler(FTPHandler):
        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            log.commands.append(f"{cmd} {arg}".strip())
            if cmd == "REST" and log.refuse_rest:
                self.respond("502 REST not implemented here.")
                return
            super().pre_process_command(line, cmd, arg)

    RecordingHandler.authorizer = authorizer
    RecordingHandler.banner = "aiodl test server"
    RecordingHandler.auth_failed_timeout = 0.05  # pyftpdlib sleeps 3 s after a bad login
    return RecordingHandler


@contextmanager
def running_ftp(root: Path) -> Iterator[RunningFTP]:
    """Serve ``root`` (anonymous read, and user ``alice``/``wonder``) until the block ends."""
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonder", str(root), perm="elr")
    authorizer.add_anonymous(str(root))
    log = FTPLog()
    server = FTPServer(("127.0.0.1", 0), _handler(log, authorizer))
    server.max_cons = 64
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"timeout": 0.05, "handle_exit": False}, daemon=True
    )
    thread.start()
    try:
        yield RunningFTP(root, server.address[1], log)
    finally:
        server.close_all()
        thread.join(timeout=5)
