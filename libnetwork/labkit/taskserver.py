"""A service's task for the labs and tests: says which task answered and whom it saw, then echoes lines.

Run by path as a service's command (``python3 taskserver.py PORT``; standard
library only).  Each TCP connection first gets "HOSTNAME PEER\n" (the task's
hostname is its own, in its UTS namespace), then every line it sends comes
back prefixed with the hostname, so a held connection shows it still
reaches the same task.
"""

import socket
import sys
import threading


def serve(conn: socket.socket, peer: str) -> None:
    name = socket.gethostname()
    with conn:
        conn.sendall(f"{name} {peer}\n".encode())
        for line in conn.makefile("r"):
            conn.sendall(f"{name} {line.strip()}\n".encode())


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", int(sys.argv[1])))
    listener.listen(256)
    while True:
        conn, peer = listener.accept()
        threading.Thread(target=serve, args=(conn, peer[0]), daemon=True).start()


if __name__ == "__main__":
    main()
