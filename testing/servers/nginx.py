"""A throw-away nginx on 127.0.0.1 serving the benchmark data.

It runs in the foreground (daemon off) as our child, with every path it writes inside the work
dir, so nothing of the system's nginx setup is touched and stopping it is just a signal.
"""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testing.servers.children import free_port, log_tail, stop

NGINX = "/usr/sbin/nginx"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render_config(work: Path, root: Path, port: int, tls: tuple[Path, Path] | None = None) -> str:
    """nginx.conf tuned to stay out of the way: sendfile, no access log, endless keep-alive.

    One worker: the machine has two cores and the client under test needs one of them.
    Every path under /tiny/ answers the same 6-byte body from memory: a million distinct
    URLs without a million files on the server's side. ``tls`` (certificate chain, key)
    makes it HTTPS: TLS 1.3 and session tickets as nginx defaults to, no kTLS.
    """
    temps = "\n".join(f"    {d}_temp_path {work / 'nginx-tmp' / d};" for d in TEMP_DIRS)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
{temps}
    server {{
        listen 127.0.0.1:{port}{" ssl" if tls else ""};
        {f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};" if tls else ""}
        root {root};
        location /tiny/ {{ return 200 "aiodl\\n"; }}
    }}
}}
"""


def _answers(port: int, probe: str, tls: bool) -> bool:
    """True once nginx serves the probe path with 200."""
    conn = (
        http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=1, context=ssl._create_unverified_context()
        )
        if tls
        else http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    )
    try:
        conn.request("HEAD", probe)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, probe: str, log: Path, tls: bool) -> None:
    """Poll until nginx answers; fail with its error log if it exits or stays silent."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited ({proc.returncode}): {log_tail(log)}")
        if _answers(port, probe, tls):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not answer on port {port}: {log_tail(log)}")


def ca_file(work: Path) -> Path:
    """The private CA's certificate (PEM) that HTTPS clients are told to trust."""
    return work / "tls" / "ca.pem"


def certificates(work: Path) -> tuple[Path, Path]:
    """A private CA (trustme, from the venv) and a certificate for 127.0.0.1 from it:
    (chain, key) for nginx; the CA goes to ``ca_file``."""
    import trustme

    folder = work / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_file(work)))
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return chain, key


@contextmanager
def serve(
    work: Path, root: Path, probe: str, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Run nginx for the duration of the block and yield its base URL (``https://`` when
    ``tls`` is given: see ``render_config``).

    The finally clause stops it on errors and KeyboardInterrupt too; its own session keeps a
    Ctrl-C from reaching it before we are done with it.
    """
    port = free_port()
    conf = work / "nginx.conf"
    log = work / "nginx-error.log"
    for d in TEMP_DIRS:
        (work / "nginx-tmp" / d).mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    conf.write_text(render_config(work, root, port, tls))
    argv = [NGINX, "-p", str(work), "-c", str(conf), "-e", str(log)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_ready(proc, port, probe, log, tls is not None)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        stop(proc)
