"""A server in a second process that sends a large chunked body as fast as it can.

A server on the test's own event loop cannot outrun the client (while the client holds
the loop, it sends nothing), so it cannot show a client that never gives the loop back.
Run as ``python -m testing.servers.bulk MIB``: prints its port, then answers every GET on
127.0.0.1 with ``MIB`` one-MiB chunks and closes the connection.
"""

from __future__ import annotations

import socket
import sys
import threading

CHUNK = b"x" * (1 << 20)


def _answer(conn: socket.socket, mebibytes: int) -> None:
    with conn:
        request = b""
        while b"\r\n\r\n" not in request:
            got = conn.recv(1 << 16)
            if not got:
                return
            request += got
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(mebibytes):
                conn.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away


def main() -> None:
    mebibytes = int(sys.argv[1])
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_answer, args=(conn, mebibytes), daemon=True).start()


if __name__ == "__main__":
    main()
