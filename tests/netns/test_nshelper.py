"""The namespace helper: namespaces and sockets made for the daemon, without a fork per request."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

from libnetwork.netlink import Netlink, is_netns, remove_netns
from libnetwork.nshelper import NamespaceHelper
from libnetwork.testing import require_root, run_in


@pytest.fixture
def helper():
    require_root()
    made = NamespaceHelper()
    yield made
    made.close()


@pytest.fixture
def netns_dir():
    directory = tempfile.mkdtemp(prefix="cnm-nshelper-")
    yield directory
    for name in os.listdir(directory):
        remove_netns(os.path.join(directory, name))
    os.system(f"umount -l {directory} 2>/dev/null")
    os.rmdir(directory)


def test_a_namespace_and_sockets_that_belong_to_it(helper, netns_dir):
    path = os.path.join(netns_dir, "one")
    helper.create_namespace(path)
    assert is_netns(path)
    assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino

    # bound from the daemon, the socket still lives in the namespace it was made in
    [udp] = helper.open_sockets(path, [(socket.AF_INET, socket.SOCK_DGRAM, 0)])
    with udp:
        run_in(path, "ip", "link", "set", "lo", "up")
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        run_in(path, "python3", "-c",
               f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ('127.0.0.1', {port}))")
        udp.settimeout(5)
        assert udp.recvfrom(16)[0] == b"hi"

    inside = Netlink(path)
    try:
        assert {link.name for link in inside.links()} == {"lo"}
    finally:
        inside.close()


def test_errors_are_oserrors_and_the_helper_keeps_serving(helper, netns_dir):
    with pytest.raises(OSError) as failed:
        helper.open_sockets(os.path.join(netns_dir, "missing"), [(socket.AF_INET, socket.SOCK_DGRAM, 0)])
    assert "missing" in str(failed.value)
    not_a_netns = os.path.join(netns_dir, "plain-file")
    open(not_a_netns, "w").close()
    with pytest.raises(OSError):
        helper.open_sockets(not_a_netns, [(socket.AF_INET, socket.SOCK_DGRAM, 0)])
    os.unlink(not_a_netns)
    path = os.path.join(netns_dir, "after")
    helper.create_namespace(path)
    assert is_netns(path)


def test_a_dead_helper_is_replaced(helper, netns_dir):
    helper.create_namespace(os.path.join(netns_dir, "first"))
    helper._process.kill()
    helper._process.wait()
    path = os.path.join(netns_dir, "second")
    helper.create_namespace(path)
    assert is_netns(path)


def test_sysctls_at_birth_and_later_stay_in_their_namespace(helper, netns_dir):
    def read(path: str, key: str) -> str:
        return run_in(path, "cat", f"/proc/sys/net/{key}").stdout.strip()

    with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as handle:
        ours = handle.read().strip()
    path = os.path.join(netns_dir, "tuned")
    helper.create_namespace(path, {"ipv6/conf/default/disable_ipv6": "1"})
    assert read(path, "ipv6/conf/default/disable_ipv6") == "1"
    helper.set_sysctls(path, {"ipv4/ip_forward": "1"})
    assert read(path, "ipv4/ip_forward") == "1"
    with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as handle:
        assert handle.read().strip() == ours
    with pytest.raises(OSError):
        helper.set_sysctls(path, {"../kernel/hostname": "x"})
    with pytest.raises(OSError):
        helper.set_sysctls(path, {"ipv4/no_such_knob": "1"})
    assert read(path, "ipv4/ip_forward") == "1"
