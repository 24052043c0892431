"""The client side of taskserver.py, run inside a namespace (by path, standard library only).

``spread HOST PORT N``: N connections one after the other; prints
{"tasks": {hostname: count}, "peers": [...], "errors": n}.
``hold HOST PORT N``: N connections kept open; prints the hostname each
reached, waits for a line on stdin, sends a line on each and prints what came
back ("error" for a connection that broke).
"""

import json
import socket
import sys


def connect(host: str, port: int) -> tuple[socket.socket, str, str]:
    conn = socket.create_connection((host, port), timeout=3)
    first = conn.makefile("r").readline().split()
    return conn, first[0], first[1]


def spread(host: str, port: int, count: int) -> None:
    tasks: dict[str, int] = {}
    peers: set[str] = set()
    errors = 0
    for _ in range(count):
        try:
            conn, name, peer = connect(host, port)
            conn.close()
            tasks[name] = tasks.get(name, 0) + 1
            peers.add(peer)
        except (OSError, IndexError):
            errors += 1
    print(json.dumps({"tasks": tasks, "peers": sorted(peers), "errors": errors}), flush=True)


def hold(host: str, port: int, count: int) -> None:
    held = [connect(host, port) for _ in range(count)]
    print(json.dumps([name for _, name, _ in held]), flush=True)
    sys.stdin.readline()
    answers = []
    for conn, _, _ in held:
        try:
            conn.sendall(b"still\n")
            reply = conn.makefile("r").readline().split()
            answers.append(reply[0] if reply and reply[1:] == ["still"] else "error")
        except (OSError, IndexError):
            answers.append("error")
    print(json.dumps(answers), flush=True)


if __name__ == "__main__":
    mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    (spread if mode == "spread" else hold)(host, port, count)
