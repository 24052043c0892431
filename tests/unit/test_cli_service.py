"""``cnm service``: argument parsing into Docker's ServiceSpec, and docker's output formats (no daemon)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from libnetwork.cli.commands import root_command
from libnetwork.cli.errors import StatusError
from libnetwork.cli.flags import UsageError, parse_args
from libnetwork.cli.service import create_spec, parse_publish, parse_scale
from libnetwork.cli.serviceviews import human_duration, service_list_text, service_pretty_text, task_list_text


def _create(*argv: str):
    service = next(c for c in root_command().subcommands if c.name == "service")
    command = next(c for c in service.subcommands if c.name == "create")
    opts, args, changed = parse_args(command, list(argv))
    return create_spec(opts, args, changed)


def test_create_builds_the_spec_docker_sends():
    spec = _create("--name", "web", "--replicas", "2", "-p", "8080:80", "--network", "ov1",
                   "--network", "name=ova,alias=foo", "--env", "A=b", "--hostname", "hh", "--", "sleep", "1000")
    assert spec == {
        "Name": "web", "Labels": {},
        "TaskTemplate": {"ContainerSpec": {"Image": "cnm-task", "Args": ["sleep", "1000"], "Hostname": "hh",
                                           "Env": ["A=b"], "Init": False, "DNSConfig": {}},
                         "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {},
                         "Networks": [{"Target": "ov1"}, {"Target": "ova", "Aliases": ["foo"]}], "ForceUpdate": 0},
        "Mode": {"Replicated": {"Replicas": 2}},
        "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                                   "PublishMode": "ingress"}]}}


def test_create_global_dnsrr_and_image():
    spec = _create("--name", "g", "--mode", "global", "--endpoint-mode", "dnsrr", "--image", "bb")
    assert spec["Mode"] == {"Global": {}} and spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == "bb"


@pytest.mark.parametrize("argv, message", [
    (("--mode", "global", "--replicas", "2"), "replicas can only be used with replicated or replicated-job mode"),
    (("--mode", "foo"), "Unknown mode: foo, only replicated and global supported"),
])
def test_create_refuses_modes_as_docker(argv, message):
    with pytest.raises(StatusError) as caught:
        _create("--name", "x", *argv)
    assert caught.value.message == message


@pytest.mark.parametrize("argv, message", [
    (("--replicas", "-1"), 'invalid argument "-1" for "--replicas" flag: strconv.ParseUint: parsing "-1": '
                           "invalid syntax"),
    (("-p", "80:80/icmp"), 'invalid argument "80:80/icmp" for "-p, --publish" flag: invalid proto: icmp'),
    (("-p", "70000:80"), 'invalid argument "70000:80" for "-p, --publish" flag: invalid hostPort: 70000'),
    (("-p", "80:70000"), 'invalid argument "80:70000" for "-p, --publish" flag: invalid containerPort: 70000'),
    (("--publish", "mode=foo,target=80"), 'invalid argument "mode=foo,target=80" for "-p, --publish" flag: '
                                          "invalid publish mode value (foo): must be either 'ingress' or 'host'"),
])
def test_create_flag_errors_are_dockers(argv, message):
    with pytest.raises(UsageError) as caught:
        _create("--name", "x", *argv)
    assert str(caught.value).startswith(message)


def test_publish_forms():
    assert parse_publish("53/udp") == {"Protocol": "udp", "TargetPort": 53, "PublishMode": "ingress"}
    assert parse_publish("mode=host,target=80,published=81,protocol=udp") == {
        "Protocol": "udp", "TargetPort": 80, "PublishedPort": 81, "PublishMode": "host"}


def test_scale_specifiers():
    assert parse_scale("web=3") == ("web", 3)
    with pytest.raises(StatusError, match='web: invalid replicas value -1: strconv.ParseUint: parsing "-1"'):
        parse_scale("web=-1")
    with pytest.raises(StatusError, match="invalid scale specifier 'web'"):
        parse_scale("web")


@pytest.mark.parametrize("seconds, text", [(0.5, "Less than a second"), (1, "1 second"), (14, "14 seconds"),
                                           (90, "About a minute"), (150, "2 minutes"), (3600, "About an hour"),
                                           (7200, "2 hours"), (3 * 86400, "3 days")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


SERVICES = [
    {"ID": "zcjartwlrzderrhkvrbfxmu68", "Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec": {
        "Image": "bb:latest"}}, "Mode": {"Replicated": {"Replicas": 2}}},
     "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]},
     "ServiceStatus": {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}},
    {"ID": "i8a6o8ywx8atgxj94vua9bcob", "Spec": {"Name": "hostp", "TaskTemplate": {"ContainerSpec": {
        "Image": "bb:latest"}}, "Mode": {"Replicated": {"Replicas": 1}}},
     "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 81, "PublishMode": "host"}]},
     "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 1, "CompletedTasks": 0}},
    {"ID": "y34421490r9ugopxw36ujouii", "Spec": {"Name": "glob", "TaskTemplate": {"ContainerSpec": {
        "Image": "bb:latest"}}, "Mode": {"Global": {}}},
     "Endpoint": {"Spec": {}}, "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 1, "CompletedTasks": 0}},
]


def test_service_ls_as_docker_printed_it():
    assert service_list_text(SERVICES) == (
        "ID             NAME      MODE         REPLICAS   IMAGE       PORTS\n"
        "y34421490r9u   glob      global       1/1        bb:latest   \n"
        "i8a6o8ywx8at   hostp     replicated   1/1        bb:latest   \n"
        "zcjartwlrzde   web       replicated   2/2        bb:latest   *:8080->80/tcp\n")


def test_service_ps_as_docker_printed_it():
    now = datetime(2026, 12, 6, 6, 9, 22, tzinfo=UTC)
    tasks = [
        {"ID": "w3ae8r6ai8ig0000000000000", "ServiceID": "f", "Slot": 1, "NodeID": "n", "DesiredState": "shutdown",
         "Spec": {"ContainerSpec": {"Image": "bb:latest"}},
         "Status": {"Timestamp": "2026-12-06T06:09:08.0Z", "State": "failed",
                    "Err": "starting container failed: failed to create shim task"}},
        {"ID": "1dfii7p7iwyp0000000000000", "ServiceID": "f", "Slot": 1, "NodeID": "n", "DesiredState": "running",
         "Spec": {"ContainerSpec": {"Image": "bb:latest"}},
         "Status": {"Timestamp": "2026-12-06T06:09:18.0Z", "State": "preparing"}},
    ]
    assert task_list_text(tasks, {"f": "failer"}, {"n": "vm"}, now) == (
        "ID             NAME           IMAGE       NODE      DESIRED STATE   CURRENT STATE             "
        "ERROR                              PORTS\n"
        "1dfii7p7iwyp   failer.1       bb:latest   vm        Running         Preparing 4 seconds ago   "
        "                                   \n"
        "w3ae8r6ai8ig    \\_ failer.1   bb:latest   vm        Shutdown        Failed 14 seconds ago     "
        "\"starting container failed: fa…\"   \n")


def test_inspect_pretty_as_docker_printed_it():
    with open("docs/reference/services-api.md") as doc:
        text = doc.read()
    expected = text.split("$ docker service inspect --pretty web\n", 1)[1].split("$ docker", 1)[0]
    service = json.loads(text.split("The same with `?insertDefaults=true`:\n\n```json\n", 1)[1].split("```", 1)[0])
    assert service_pretty_text(service, {}) == expected
