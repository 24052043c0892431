#!/usr/bin/env bash
# The single-host tour: a daemon in a throwaway "host" namespace, two networks,
# sandboxes that ping each other, connect/disconnect, exec, inspect, rm.
# Nothing outside the throwaway namespace is touched; everything is removed at exit.
set -euo pipefail

HOSTNS="cnm-demo-$$"
ROOT="$(mktemp -d /tmp/cnm-demo.XXXXXX)"
SOCK="$ROOT/exec/cnm.sock"
export CNM_HOST="unix://$SOCK"

FETCH='import sys, time, urllib.request
for _ in range(50):
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=2).status, "OK from", sys.argv[1]); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("no answer from " + sys.argv[1])'
http_get_from_host() { nsenter --net="/run/netns/$HOSTNS" python3 -c "$FETCH" "$1"; }
http_get_from_sandbox() { cnm exec "$1" -- python3 -c "$FETCH" "$2"; }

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

cleanup() {
    set +e
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null
    [ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    for ns in "$ROOT"/exec/netns/*; do [ -e "$ns" ] && umount -l "$ns" 2>/dev/null; done
    umount -l "$ROOT/exec/netns" 2>/dev/null
    ip netns delete "$HOSTNS" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT

ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up
echo "starting cnmd in namespace $HOSTNS (log: $ROOT/cnmd.log)"
nsenter --net="/run/netns/$HOSTNS" cnmd --data-root "$ROOT/data" --exec-root "$ROOT/exec" >"$ROOT/cnmd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do cnm version >/dev/null 2>&1 && break; sleep 0.1; done

step cnm network ls
step cnm network create --subnet 10.10.0.0/24 frontend
step cnm network create --subnet 10.20.0.0/24 backend
step cnm sandbox create --name web --network frontend
step cnm sandbox create --name db --network backend --ip 10.20.0.10
step cnm sandbox ls
step cnm network connect --alias api backend web
step cnm exec web -- ip -br addr
step cnm exec web -- ping -c 2 -W 2 10.20.0.10
step cnm exec web -- cat /etc/resolv.conf
echo
echo "embedded DNS at 127.0.0.11: names and network-scoped aliases on the networks a sandbox shares"
step cnm exec web -- ping -c 1 -W 2 db
step cnm exec db -- ping -c 1 -W 2 api
step cnm exec db -- ping -c 1 -W 2 web.backend
step cnm network inspect backend --format '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{println}}{{end}}'
step cnm network disconnect backend web
if cnm exec web -- ping -c 1 -W 1 10.20.0.10 >/dev/null 2>&1; then
    echo "unexpected: web still reaches db after disconnect"; exit 1
fi
echo "web no longer reaches db after disconnect"
if cnm exec db -- ping -c 1 -W 1 api >/dev/null 2>&1; then
    echo "unexpected: the alias api still resolves from db after disconnect"; exit 1
fi
echo "and the alias api no longer resolves from db"

echo
echo "publish a port: a web server in a sandbox, reached from the host on 8080"
step cnm sandbox create --name shop --network frontend -p 8080:80
cnm exec shop -- python3 -m http.server 80 >/dev/null 2>&1 &
SERVER_PID=$!
step cnm port shop
HOST_IP=$(ip -n "$HOSTNS" -4 -o addr show dev cnm0 | awk '{print $4}' | cut -d/ -f1)
step http_get_from_host "http://127.0.0.1:8080/"
step http_get_from_host "http://$HOST_IP:8080/"
step http_get_from_sandbox web "http://$HOST_IP:8080/"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
step cnm sandbox rm -f shop

echo
echo "the same daemon answers the real docker CLI:"
step env DOCKER_HOST="$CNM_HOST" docker network ls
step cnm sandbox rm -f web db
step cnm network rm frontend backend
echo
echo "demo finished: everything it made is being removed"
