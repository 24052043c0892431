#!/usr/bin/env bash
# macvlan: sandboxes as hosts of their own on a LAN.
#
# The "LAN" is a Linux bridge inside a throwaway "host" namespace where cnmd
# runs. A second throwaway namespace is a machine on that LAN (its router at
# .1 and a NAS at .2); a veth pair joins the daemon's side to the LAN, and its
# host end, uplink0, is the macvlan parent. Nothing outside the throwaway
# namespaces is touched; everything is removed at exit.
set -euo pipefail

HOSTNS="cnm-mvlab-$$"
LANHOST="cnm-mvlab-lanhost-$$"
ROOT="$(mktemp -d /tmp/cnm-mvlab.XXXXXX)"
SOCK="$ROOT/exec/cnm.sock"
export CNM_HOST="unix://$SOCK"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say() { printf '\n\033[36m# %s\033[0m\n' "$*"; }
on_host() { ip netns exec "$HOSTNS" "$@"; }
on_lan() { ip netns exec "$LANHOST" "$@"; }

cleanup() {
    set +e
    [ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    for ns in "$ROOT"/exec/netns/*; do [ -e "$ns" ] && umount -l "$ns" 2>/dev/null; done
    umount -l "$ROOT/exec/netns" 2>/dev/null
    ip netns delete "$LANHOST" 2>/dev/null
    ip netns delete "$HOSTNS" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT

ip netns add "$HOSTNS"
ip netns add "$LANHOST"
ip -n "$HOSTNS" link set lo up
ip -n "$LANHOST" link set lo up

# The LAN: bridge lan0; the LAN host on one port, the daemon's uplink on another.
ip -n "$HOSTNS" link add lan0 type bridge
ip -n "$HOSTNS" link add uplink0 type veth peer name lan0p0
ip -n "$HOSTNS" link add lan0p1 type veth peer name eth0 netns "$LANHOST"
for l in lan0p0 lan0p1; do ip -n "$HOSTNS" link set "$l" master lan0; done
for l in lan0 lan0p0 lan0p1 uplink0; do ip -n "$HOSTNS" link set "$l" up; done
ip -n "$LANHOST" link set eth0 up
ip -n "$LANHOST" addr add 192.168.77.1/24 dev eth0   # the LAN's router
ip -n "$LANHOST" addr add 192.168.77.2/24 dev eth0   # a NAS
ip -n "$LANHOST" addr add 192.168.78.1/24 dev eth0   # the router on a second subnet

echo "starting cnmd in namespace $HOSTNS (log: $ROOT/cnmd.log)"
nsenter --net="/run/netns/$HOSTNS" cnmd --data-root "$ROOT/data" --exec-root "$ROOT/exec" >"$ROOT/cnmd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do cnm version >/dev/null 2>&1 && break; sleep 0.1; done

say "the host's links: uplink0 is the parent, lan0 the LAN's switch"
step on_host ip -br link

say "a macvlan network on uplink0; the NAS's address is kept away from sandboxes"
step cnm network create -d macvlan --subnet 192.168.77.0/24 --gateway 192.168.77.1 \
    --aux-address nas=192.168.77.2 -o parent=uplink0 lan
step cnm sandbox create --name web --network lan
step cnm sandbox create --name db --network lan
step cnm exec web -- ip -d -br link show eth0
step cnm exec web -- ip route

say "each sandbox is a host of its own on the LAN: it reaches the router, the NAS and its sibling"
step cnm exec web -- ping -c 1 -W 2 192.168.77.1
step cnm exec web -- ping -c 1 -W 2 192.168.77.2
step cnm exec web -- ping -c 1 -W 2 192.168.77.4

say "the LAN reaches them by their own MAC (02:42 + the IPv4 address, as Docker 26)"
step on_lan ping -c 1 -W 2 192.168.77.3
step on_lan ping -c 1 -W 2 192.168.77.4
step on_lan ip neigh show dev eth0
step cnm network inspect lan --format '{{range .Containers}}{{.Name}} {{.IPv4Address}} {{.MacAddress}}{{println}}{{end}}'

say "a second network on the same parent, private mode: its sandboxes never reach each other"
step cnm network create -d macvlan --subnet 192.168.78.0/24 --gateway 192.168.78.1 \
    -o parent=uplink0 -o macvlan_mode=private quiet
step cnm sandbox create --name q1 --network quiet
step cnm sandbox create --name q2 --network quiet
step cnm exec q1 -- ping -c 1 -W 2 192.168.78.1
if cnm exec q1 -- ping -c 1 -W 1 192.168.78.3 >/dev/null 2>&1; then
    echo "unexpected: private children reached each other"; exit 1
fi
echo "q1 does not reach q2: private mode"

say "an overlapping subnet on the same parent is refused"
cnm network create -d macvlan --subnet 192.168.77.0/24 --ip-range 192.168.77.128/25 \
    -o parent=uplink0 clash || true

say "no parent: an internal network of its own (no default route)"
step cnm network create -d macvlan --subnet 10.99.0.0/24 island
step cnm sandbox create --name i1 --network island
step cnm sandbox create --name i2 --network island
step cnm exec i1 -- ping -c 1 -W 2 10.99.0.3
step cnm exec i1 -- ip route
say "dm-<network id> is the network's own parent: a dummy link, or a veth pair (dm-/dp-) where the kernel has no dummy driver"
step on_host ip -br link

say "a VLAN sub-interface as the parent (made by the daemon where the kernel has 802.1q)"
if cnm network create -d macvlan --subnet 192.168.79.0/24 -o parent=uplink0.79 tagged; then
    step on_host ip -d link show uplink0.79
    step cnm network rm tagged
    echo "uplink0.79 is gone with the network:"
    on_host ip -br link show uplink0.79 2>&1 || true
fi

say "removing everything: only what the daemon made goes, uplink0 stays"
step cnm sandbox rm -f web db q1 q2 i1 i2
step cnm network rm lan quiet island
step on_host ip -br link
echo
echo "lab finished: the throwaway namespaces are being removed"
