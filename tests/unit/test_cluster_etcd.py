"""The etcd member's command line and the membership arithmetic, without an etcd."""

from __future__ import annotations

import pytest

from libnetwork.cluster.etcd import (
    EtcdConfig,
    EtcdReconfigRefused,
    MemberInfo,
    initial_cluster_after_add,
    peer_url,
    render_argv,
)


def config(**changes: object) -> EtcdConfig:
    fields: dict[str, object] = dict(
        name="node1", data_dir="/var/lib/cnm/swarm/etcd", advertise_ip="10.0.0.1", ca_file="/ca.pem",
        cert_file="/node.pem", key_file="/node-key.pem", initial_cluster={"node1": peer_url("10.0.0.1")})
    fields.update(changes)
    return EtcdConfig(**fields)  # type: ignore[arg-type]


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in argv[1:])


def test_clients_on_loopback_only_and_peers_by_mutual_tls_with_manager_certificates() -> None:
    got = flags(render_argv(config(), existing=False))
    assert got["listen-client-urls"] == got["advertise-client-urls"] == "http://127.0.0.1:2379"
    assert got["listen-peer-urls"] == got["initial-advertise-peer-urls"] == "https://10.0.0.1:2380"
    assert got["peer-client-cert-auth"] == "true"
    assert got["peer-cert-allowed-hostname"] == "swarm-manager"
    assert (got["peer-trusted-ca-file"], got["peer-cert-file"], got["peer-key-file"]) == \
        ("/ca.pem", "/node.pem", "/node-key.pem")
    assert got["initial-cluster-state"] == "new"


def test_a_member_with_data_restarts_as_existing() -> None:
    assert flags(render_argv(config(), existing=True))["initial-cluster-state"] == "existing"
    assert flags(render_argv(config(initial_state="existing"), existing=False))["initial-cluster-state"] == "existing"


def test_ipv6_peer_urls_are_bracketed() -> None:
    assert peer_url("fd00::1", 2380) == "https://[fd00::1]:2380"


def test_the_initial_cluster_must_name_the_member() -> None:
    with pytest.raises(ValueError, match="does not name"):
        config(initial_cluster={"other": peer_url("10.0.0.2")})
    with pytest.raises(ValueError, match="initial_state"):
        config(initial_state="joining")


def member(member_id: int, name: str, ip: str) -> MemberInfo:
    return MemberInfo(member_id, name, (peer_url(ip),), (), False)


def test_the_joiner_gets_every_member_by_name() -> None:
    added = member(3, "", "10.0.0.3")
    members = [member(1, "n1", "10.0.0.1"), member(2, "n2", "10.0.0.2"), added]
    assert initial_cluster_after_add(members, added, "n3") == {
        "n1": "https://10.0.0.1:2380", "n2": "https://10.0.0.2:2380", "n3": "https://10.0.0.3:2380"}


def test_another_member_not_started_yet_is_a_refusal_to_retry() -> None:
    added = member(3, "", "10.0.0.3")
    with pytest.raises(EtcdReconfigRefused):
        initial_cluster_after_add([member(1, "n1", "10.0.0.1"), member(2, "", "10.0.0.2"), added], added, "n3")
