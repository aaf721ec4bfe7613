"""A throw-away vsftpd on 127.0.0.1: anonymous, read-only, serving one folder.

For the integration tests and benchmarks/run.py alike, so both meet the same real server.
vsftpd runs in the foreground as our child with a private config in the work dir, so the
system's /etc/vsftpd.conf is never read and stopping it is just a signal. Stdlib only.
"""

from __future__ import annotations

import ftplib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from testing.servers.children import free_port

VSFTPD = "/usr/sbin/vsftpd"
# Passive data ports stay below Linux's ephemeral range (32768-60999), so a data port never
# collides with a client's outgoing port; a mirror of 2000 files opens 2000 data connections.
PASV_PORTS = (10000, 29999)


def _user() -> str:
    """The account anonymous sessions run as: Debian's package creates `ftp`."""
    try:
        return pwd.getpwnam("ftp").pw_name
    except KeyError:
        return "nobody"


def render_config(
    root: Path, empty: Path, port: int, max_per_ip: int = 200, extra: str = ""
) -> str:
    """vsftpd.conf for a loopback, anonymous, read-only server tuned for throughput.

    Why the less obvious lines: vsftpd chroots anonymous sessions into anon_root and refuses
    one the session user can write; secure_chroot_dir is where the unprivileged helper is
    jailed and must exist; max_clients/max_per_ip allow a 16-way mirror several times over.
    """
    user = _user()
    return f"""listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
anon_root={root}
no_anon_password=YES
ftp_username={user}
nopriv_user={user}
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_min_port={PASV_PORTS[0]}
pasv_max_port={PASV_PORTS[1]}
max_clients=200
max_per_ip={max_per_ip}
use_sendfile=YES
xferlog_enable=NO
dirmessage_enable=NO
secure_chroot_dir={empty}
{extra}"""


def _login_error(port: int) -> str | None:
    """None once an anonymous login succeeds, else what went wrong.

    A 220 greeting alone proves little: vsftpd checks anon_root (chroot, writability) only
    when a session logs in, and answers "500 OOPS" then.
    """
    try:
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port, timeout=2)
            ftp.login()
            ftp.voidcmd("NOOP")
        return None
    except (OSError, EOFError, ftplib.Error) as exc:
        return f"{type(exc).__name__}: {exc}".strip()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll until anonymous login works; fail with vsftpd's own words if it never does."""
    deadline = time.monotonic() + 10
    error: str | None = "not tried"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vsftpd exited ({proc.returncode}): {log.read_text().strip()}")
        error = _login_error(port)
        if error is None:
            return
        if "OOPS" in error:  # a config problem, it will not go away
            break
        time.sleep(0.05)
    said = log.read_text().strip() or "(log empty)"
    raise RuntimeError(f"vsftpd on port {port} not usable: {error} | {said}")


def _sessions(pid: int) -> list[int]:
    """The listener's children: one per FTP session, each leading a process session of its own."""
    try:
        return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End open sessions, then the listener.

    vsftpd puts each session in a process session of its own (setsid), so a signal to the
    listener's group would leave them serving until their client hangs up. (Their helper
    processes become zombies of PID 1 even after a clean QUIT; that is vsftpd.)
    """
    for pid in _sessions(proc.pid):
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while _sessions(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # the listener reaps them; gone too soon, it would leave zombies
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serve(root: Path, work: Path, *, max_per_ip: int = 200, extra: str = "") -> Iterator[int]:
    """Serve `root` read-only to anonymous FTP on 127.0.0.1 for the block; yields the port.

    `root` must not be writable by the session user (vsftpd refuses otherwise). Config, log
    and the empty chroot dir go into `work`; `extra` is more config lines. A session of
    its own keeps a Ctrl-C from reaching vsftpd before the finally clause stops it.
    """
    work.mkdir(parents=True, exist_ok=True)
    empty = work / "vsftpd-empty"
    empty.mkdir(exist_ok=True)
    empty.chmod(0o755)
    port = free_port()
    conf = work / "vsftpd.conf"
    conf.write_text(render_config(root.resolve(), empty.resolve(), port, max_per_ip, extra))
    log = work / "vsftpd.log"
    with log.open("wb") as out:
        # vsftpd writes "500 OOPS: ..." to fd 0, where an inetd-style session's socket would
        # be, so the log must be its stdin too or startup errors vanish.
        proc = subprocess.Popen(
            [VSFTPD, str(conf)],
            stdin=out,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, port, log)
        yield port
    finally:
        _stop(proc)
