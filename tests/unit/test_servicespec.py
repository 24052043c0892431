"""ServiceSpec defaults and refusals, against dockerd 20.10's answers (docs/reference/services-api.md)."""

from __future__ import annotations

import json

import pytest

from libnetwork.cluster import servicespec
from libnetwork.cluster.servicespec import NetworkTarget, PortIntent, fill_defaults, insert_defaults, parse_spec
from libnetwork.errors import InvalidParameter

RAW = {"Name": "raw", "TaskTemplate": {"ContainerSpec": {"Image": "bb", "Args": ["sleep", "1000"]}}}
# What dockerd stored of RAW, and what ?insertDefaults=true shows of it (captured).
RAW_STORED = ('{"Name":"raw","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"bb","Args":["sleep","1000"],'
              '"Isolation":"default"},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":1}}}')
RAW_DEFAULTS = (
    '{"Name":"raw","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"bb","Args":["sleep","1000"],'
    '"StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{},"RestartPolicy":'
    '{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0,"Runtime":"container"},'
    '"Mode":{"Replicated":{"Replicas":1}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":'
    '5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":'
    '"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}}')
# The body `docker service create --name web --replicas 2 -p 8080:80 bb sleep 1000` sends.
CLI_WEB = {"Name": "web", "Labels": {}, "TaskTemplate": {
    "ContainerSpec": {"Image": "bb:latest", "Args": ["sleep", "1000"], "Init": False, "DNSConfig": {}},
    "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0},
    "Mode": {"Replicated": {"Replicas": 2}},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]}}
WEB_STORED = (
    '{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"bb:latest","Args":["sleep","1000"],'
    '"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},'
    '"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":2}},'
    '"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,'
    '"PublishMode":"ingress"}]}}')


def _compact(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


def _spec(**extra: object) -> dict:
    return {"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "bb"}}, **extra}


def test_fill_defaults_stores_what_dockerd_stores():
    assert _compact(fill_defaults(RAW)) == RAW_STORED
    assert _compact(fill_defaults(CLI_WEB)) == WEB_STORED


def test_fill_defaults_is_idempotent_and_leaves_the_input_alone():
    given = json.loads(json.dumps(CLI_WEB))
    once = fill_defaults(given)
    assert given == CLI_WEB
    assert fill_defaults(once) == once


def test_insert_defaults_is_the_inspect_form():
    assert _compact(insert_defaults(fill_defaults(RAW))) == RAW_DEFAULTS


def test_insert_defaults_keeps_given_values():
    spec = fill_defaults(_spec(TaskTemplate={"ContainerSpec": {"Image": "bb"},
                                             "RestartPolicy": {"Condition": "none", "MaxAttempts": 0}}))
    shown = insert_defaults(spec)["TaskTemplate"]["RestartPolicy"]
    assert shown == {"Condition": "none", "Delay": 5000000000, "MaxAttempts": 0}


def test_an_empty_name_gets_a_random_one():
    name = fill_defaults({"TaskTemplate": {"ContainerSpec": {"Image": "bb"}}})["Name"]
    assert parse_spec(fill_defaults({"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "bb"}}})).name == name


def test_parse_spec_reads_the_intent():
    spec = fill_defaults({
        "Name": "web", "Labels": {"x": "y"},
        "TaskTemplate": {"ContainerSpec": {"Image": "cnm-task", "Command": ["sh"], "Args": ["-c", "true"],
                                           "Env": ["A=b"], "Hostname": "hh", "Labels": {"z": "w"}},
                         "Networks": [{"Target": "ov1"}, {"Target": "ova", "Aliases": ["foo"]}]},
        "Mode": {"Replicated": {"Replicas": 3}},
        "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}, {"Protocol": "udp", "TargetPort": 53},
                                   {"TargetPort": 81, "PublishedPort": 81, "PublishMode": "host"}]}})
    intent = parse_spec(spec)
    assert intent.name == "web" and intent.image == "cnm-task" and intent.argv == ("sh", "-c", "true")
    assert intent.env == ("A=b",) and intent.hostname == "hh" and intent.labels == {"x": "y"}
    assert intent.container_labels == {"z": "w"}
    assert (intent.mode, intent.replicas, intent.endpoint_mode) == ("replicated", 3, "vip")
    assert intent.networks == (NetworkTarget("ov1"), NetworkTarget("ova", ("foo",)))
    assert intent.ports == (PortIntent("tcp", 80, 8080), PortIntent("udp", 53, 0),
                            PortIntent("tcp", 81, 81, "host"))


def test_global_mode_and_deprecated_networks():
    intent = parse_spec(fill_defaults(_spec(Mode={"Global": {}}, Networks=[{"Target": "ov1"}])))
    assert (intent.mode, intent.replicas) == ("global", 0)
    assert intent.networks == (NetworkTarget("ov1"),)


def test_dnsrr_with_host_ports_is_fine():
    spec = _spec(EndpointSpec={"Mode": "dnsrr", "Ports": [{"TargetPort": 80, "PublishedPort": 82,
                                                            "PublishMode": "host"}]})
    assert parse_spec(fill_defaults(spec)).endpoint_mode == "dnsrr"


def test_same_published_port_on_two_protocols_is_fine():
    spec = _spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080},
                                         {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080}]})
    assert len(parse_spec(fill_defaults(spec)).ports) == 2


@pytest.mark.parametrize("spec, message", [
    (_spec(Mode={"Replicated": {"Replicas": -1}}),
     "json: cannot unmarshal number -1 into Go struct field ReplicatedService.Mode.Replicated.Replicas of type uint64"),
    (_spec(Mode={"Replicated": {"Replicas": "x"}}),
     "json: cannot unmarshal string into Go struct field ReplicatedService.Mode.Replicated.Replicas of type uint64"),
    (_spec(Mode={"Replicated": {}, "Global": {}}), "must specify only one service mode"),
    (_spec(EndpointSpec={"Mode": "dnsrr", "Ports": [{"TargetPort": 80, "PublishedPort": 8181}]}),
     "rpc error: code = InvalidArgument desc = EndpointSpec: port published with ingress mode can't be used "
     "with dnsrr mode"),
    (_spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8185}, {"TargetPort": 81,
                                                                               "PublishedPort": 8185}]}),
     "rpc error: code = InvalidArgument desc = EndpointSpec: duplicate published ports provided"),
    (_spec(EndpointSpec={"Mode": "foo"}), 'invalid resolution mode: "foo"'),
    (_spec(Name="bad_name!"), "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"),
    (_spec(Name="a.b"), "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"),
    (_spec(Name="a" * 64), "rpc error: code = InvalidArgument desc = name must be 63 characters or fewer"),
    ({"Name": "e13", "TaskTemplate": {"ContainerSpec": {}}},
     "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided"),
    ({"Name": "e14"}, "mismatched Runtime and *Spec fields"),
    ({}, "mismatched Runtime and *Spec fields"),
    (_spec(EndpointSpec={"Ports": [{"Protocol": "icmp", "TargetPort": 80}]}), "invalid proto: icmp"),
    (_spec(EndpointSpec={"Ports": [{"TargetPort": 0, "PublishedPort": 8184}]}), "invalid containerPort: 0"),
    (_spec(EndpointSpec={"Ports": [{"TargetPort": 70000}]}), "invalid containerPort: 70000"),
    (_spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 70000}]}), "invalid hostPort: 70000"),
    (_spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishMode": "foo"}]}),
     "invalid publish mode value (foo): must be either 'ingress' or 'host'"),
    (_spec(Mode={"ReplicatedJob": {}}), "service mode ReplicatedJob is not supported by this daemon"),
])
def test_parse_spec_refuses_what_docker_refuses(spec, message):
    with pytest.raises(InvalidParameter) as caught:
        parse_spec(fill_defaults(spec))
    assert caught.value.message == message
    assert caught.value.status == 400


def test_cluster_texts_format_as_dockerd_prints_them():
    assert servicespec.NAME_CONFLICT.format(name="web") == (
        "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")
    assert servicespec.PORT_IN_USE.format(port=8080, service="web", id="zcjartwlrzderrhkvrbfxmu68") == (
        "rpc error: code = InvalidArgument desc = port '8080' is already in use by service 'web' "
        "(zcjartwlrzderrhkvrbfxmu68) as an ingress port")
    assert servicespec.INGRESS_NOT_ATTACHABLE.format(network="ingress") == (
        'rpc error: code = InvalidArgument desc = Service cannot be explicitly attached to the ingress network '
        '"ingress"')
    assert servicespec.NETWORK_NOT_FOUND.format(network="nonet") == "network nonet not found"
    assert servicespec.SERVICE_NOT_FOUND.format(reference="nosuch") == "service nosuch not found"
    assert servicespec.OUT_OF_SEQUENCE == "rpc error: code = Unknown desc = update out of sequence"
