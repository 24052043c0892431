"""One swarm node without a daemon, driven over stdin/stdout by test_cluster_events.py.

Run inside a host namespace: ``python3 cluster_events_node.py init ADVERTISE DATA_ROOT`` or
``... join MANAGER TOKEN DATA_ROOT``.  It prints one JSON object per line: first who it is, then
every cluster event and member change it hears, and the answers to its commands
(``publish TOPIC TEXT``, ``sync NODE TOPIC``, ``quit``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys

from libnetwork.cluster.membership import ClusterEvent, ClusterEvents, MemberChange
from libnetwork.cluster.swarm import Swarm
from libnetwork.errors import CnmError


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def main(argv: list[str]) -> None:
    mode = argv[0]
    swarm = Swarm(argv[-1])
    if mode == "init":
        await swarm.init({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": argv[1]})
        cluster, _ = await swarm.cluster()
        token = cluster.worker_token
    else:
        await swarm.join({"ListenAddr": "0.0.0.0:2377", "RemoteAddrs": [argv[1]], "JoinToken": argv[2]})
        token = ""
    events: ClusterEvents = swarm

    async def own_table() -> bytes:
        return f"the table of {events.node_id}".encode()

    events.provide("endpoints", own_table)
    events.subscribe("endpoints", lambda e: say(event=e.payload.decode(), origin=e.origin, ltime=e.ltime)
                     if isinstance(e, ClusterEvent) else None)
    events.on_member(lambda m: say(member=m.node_id, up=m.up) if isinstance(m, MemberChange) else None)
    say(node_id=events.node_id, token=token)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        try:
            if line[0] == "publish":
                await events.publish(line[1], " ".join(line[2:]).encode())
                say(published=True)
            elif line[0] == "sync":
                table = await events.full_sync(line[1], line[2])
                say(sync=base64.b64encode(table).decode())
            elif line[0] == "quit":
                break
        except CnmError as err:
            say(error=err.message, status=err.status)
    await swarm.leave(force=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
