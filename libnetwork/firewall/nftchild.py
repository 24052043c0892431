"""A libnftables context inside another network namespace, serving ``nftctx._InNamespace``.

Run as a script under ``nsenter --net=PATH`` (standard library and the
nftables binding only, so it starts fast and never imports the daemon).
One request a line on stdin, ``["json", {...}]`` or ``["text", "..."]``;
one answer a line on stdout, ``[rc, output, error]``.  It exits when stdin
closes, so it never outlives its owner.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    try:
        from nftables import Nftables

        nft = Nftables()
        nft.set_json_output(True)
    except (ImportError, OSError) as err:
        print(json.dumps(str(err)), flush=True)
        return 1
    print(json.dumps(["ready"]), flush=True)
    for line in sys.stdin:
        kind, payload = json.loads(line)
        if kind == "json":
            rc, output, error = nft.json_cmd(payload)
        else:
            rc, output, error = nft.cmd(payload)
        print(json.dumps([rc, output, error]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
