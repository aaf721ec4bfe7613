"""Loopback places for connection tests: a resolver that answers what a test says (no
query ever leaves the machine), a port where nothing listens, an address that never
answers, and Debian's lighttpd on ``::1`` (a real server that is strict about ``Host``).
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

Answer = Sequence[str] | BaseException


class FakeResolver:
    """Answers each lookup with the next of ``answers`` (the last one repeats): a list of
    addresses, or an exception to raise. Every lookup is recorded as ``(host, port)``."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:  # [::1]:P must not also take 127.0.0.1:P
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


@contextmanager
def closed_port(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A port of ``host`` that is bound but not listening: connections to it are refused
    (RST), and no other program can start listening there during the test."""
    with _socket(host) as sock:
        sock.bind((host, port))
        yield sock.getsockname()[1]


@contextmanager
def black_hole(host: str, port: int = 0) -> Iterator[int]:
    """A listener at ``host``:``port`` whose accept queue (``listen(0)``: one place) is
    already full and never drained: the kernel drops new SYNs without an answer, as a
    firewalled or vanished address does. Yields its port.

    The queue is filled until a connection attempt gets no answer within half a second,
    which on loopback (where an answer takes microseconds) means the queue is full.
    """
    with ExitStack() as stack:
        listener = stack.enter_context(_socket(host))
        listener.bind((host, port))
        listener.listen(0)
        address = listener.getsockname()[:2]
        for _ in range(16):
            filler = stack.enter_context(_socket(host))
            filler.settimeout(0.5)
            try:
                filler.connect(address)
            except TimeoutError:
                break
        else:
            pytest.fail(f"the accept queue of {address} never filled")
        yield address[1]


@contextmanager
def lighttpd(root: Path, host: str = "::1") -> Iterator[int]:
    """Debian's lighttpd serving the files of ``root`` on ``host`` at a free port; yields
    the port. The listening socket is made here and handed over as systemd's socket
    activation does, so there is no race for the port and no wait for the server to be
    ready (the kernel queues connections until lighttpd accepts them). Fails, never
    skips, where lighttpd is not installed."""
    binary = shutil.which("lighttpd") or shutil.which("lighttpd", path="/usr/sbin:/sbin")
    if binary is None:
        pytest.fail("lighttpd is not installed: apt-get install -y lighttpd")
    with _socket(host) as listener:
        listener.bind((host, 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        bind = f"[{host}]" if ":" in host else host
        config = root.parent / "lighttpd.conf"
        config.write_text(
            f'server.document-root = "{root}"\n'
            f'server.bind = "{bind}"\n'
            f"server.port = {port}\n"
            'server.systemd-socket-activation = "enable"\n'
            f'server.errorlog = "{root.parent / "lighttpd.log"}"\n'
        )
        fd = listener.fileno()
        onto_3 = "" if fd == 3 else f"3<&{fd} {fd}<&-"  # activated sockets start at fd 3
        command = f"{shlex.quote(binary)} -D -f {shlex.quote(str(config))}"
        script = f"LISTEN_PID=$$ LISTEN_FDS=1 exec {command} {onto_3}"
        process = subprocess.Popen(["bash", "-c", script], pass_fds=(fd,))
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
