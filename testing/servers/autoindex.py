"""Real servers' folder listings (autoindex) on 127.0.0.1: nginx (``autoindex on``),
apache2 (mod_autoindex + mod_dir, fancy indexing with its ``?C=N;O=D`` sort links),
lighttpd (mod_dirlisting) and python's ``http.server``.

One runner shape for all four: a ``Server`` says how to write its config and which
command runs it in the foreground; ``serve`` starts it as our child with every path it
writes in the work folder (nothing of the system's setup is read or touched), waits until
it answers, yields its base URL, and stops it with a signal. A server that is not
installed skips its tests, unless ``AIODL_REQUIRE_INTEGRATION=1`` (``.ci/run``) makes that
a failure.

apache refuses to serve as root, so as root it drops to ``www-data``: the served folder
must be readable by that user (``readable_root`` makes such a folder).
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing.servers.children import free_port, log_tail, stop

APACHE_MODULES = Path("/usr/lib/apache2/modules")
NGINX_TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class Server:
    """How to run one kind of server: ``binary`` (looked up in PATH and the sbin folders;
    "" for python itself) and ``command(root, work, port)``, which writes the config into
    ``work`` and returns the command line."""

    name: str
    binary: str
    command: Callable[[str, Path, Path, int], list[str]]

    def path(self) -> str | None:
        if not self.binary:
            return sys.executable
        return shutil.which(self.binary) or shutil.which(self.binary, path="/usr/sbin:/sbin")


def _nginx(binary: str, root: Path, work: Path, port: int) -> list[str]:
    temps = ""
    for name in NGINX_TEMPS:
        (work / "nginx-tmp" / name).mkdir(parents=True, exist_ok=True)
        temps += f"    {name}_temp_path {work / 'nginx-tmp' / name};\n"
    user = "user root;\n" if os.geteuid() == 0 else ""
    (work / "nginx.conf").write_text(
        f"""{user}worker_processes 1;
daemon off;
pid {work / "nginx.pid"};
error_log {work / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type application/octet-stream;
    charset utf-8;
{temps}    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ autoindex on; }}
    }}
}}
"""
    )
    return [binary, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")]


def _apache(binary: str, root: Path, work: Path, port: int) -> list[str]:
    modules = "\n".join(
        f"LoadModule {name}_module {APACHE_MODULES / f'mod_{name}.so'}"
        for name in ("mpm_prefork", "authz_core", "dir", "autoindex", "mime")
    )
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    (work / "apache2.conf").write_text(
        f"""{modules}
{user}ServerRoot {work}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
DefaultRuntimeDir {work}
PidFile {work / "apache2.pid"}
ErrorLog {work / "error.log"}
Mutex file:{work}
TypesConfig /etc/mime.types
StartServers 10
MinSpareServers 10
MaxSpareServers 16
MaxRequestWorkers 16
DocumentRoot {root}
DirectoryIndex index.html
IndexOptions FancyIndexing HTMLTable VersionSort NameWidth=* Charset=UTF-8
<Directory "{root}">
    Options +Indexes
    Require all granted
</Directory>
"""
    )
    # In the foreground as our child, with its workers (-X would serve one connection at
    # a time, and a kept-alive connection holds the rest back for seconds).
    return [binary, "-DFOREGROUND", "-f", str(work / "apache2.conf")]


def _lighttpd(binary: str, root: Path, work: Path, port: int) -> list[str]:
    (work / "lighttpd.conf").write_text(
        f"""server.modules = ("mod_dirlisting")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{work / "error.log"}"
dir-listing.activate = "enable"
dir-listing.encoding = "utf-8"
"""
    )
    return [binary, "-D", "-f", str(work / "lighttpd.conf")]


def _http_server(binary: str, root: Path, work: Path, port: int) -> list[str]:
    return [binary, "-m", "http.server", "--bind", "127.0.0.1", "-d", str(root), str(port)]


SERVERS = {
    server.name: server
    for server in (
        Server("nginx", "nginx", _nginx),
        Server("apache2", "apache2", _apache),
        Server("lighttpd", "lighttpd", _lighttpd),
        Server("http.server", "", _http_server),
    )
}


def _installed(server: Server) -> str:
    binary = server.path()
    if binary is not None:
        return binary
    message = f"{server.name} is not installed (.ci/run installs it)"
    if os.environ.get("AIODL_REQUIRE_INTEGRATION") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def serve(name: str, root: Path, work: Path) -> Iterator[str]:
    """Run server ``name`` serving ``root`` for the block; yields ``http://127.0.0.1:PORT``.

    A session of its own keeps a Ctrl-C from reaching it before the finally clause.
    """
    server = SERVERS[name]
    binary = _installed(server)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = server.command(binary, root, work, port)
    with open(work / "output.log", "wb") as output:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not start on port {port}: {log_tail(work / 'error.log')}"
                )
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def readable_root() -> Iterator[Path]:
    """An empty folder every user may read (apache serves as www-data), removed after."""
    path = Path(tempfile.mkdtemp(prefix="aiodl-autoindex-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)
