"""The service and task routes over an in-memory backend: shapes, filters, errors, and the docker CLI reading them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libnetwork.api import serviceviews
from libnetwork.cluster.servicerecords import ServiceRecord, TaskRecord

from .fake_services import INGRESS_ID, INGRESS_VIEW, NODE_ID, FakeServices, build_app

WEB = {"Name": "web", "Labels": {}, "TaskTemplate": {
    "ContainerSpec": {"Image": "bb:latest", "Args": ["sleep", "1000"], "Init": False, "DNSConfig": {}},
    "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0},
    "Mode": {"Replicated": {"Replicas": 2}},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]}}
# dockerd 20.10's Endpoint and first task of that service (docs/reference/services-api.md), IDs replaced.
WEB_ENDPOINT = {"Spec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                                  "PublishMode": "ingress"}]},
                "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}],
                "VirtualIPs": [{"NetworkID": INGRESS_ID, "Addr": "10.0.0.3/24"}]}
WEB_TASK_SPEC = {"ContainerSpec": {"Image": "bb:latest", "Args": ["sleep", "1000"], "Init": False, "DNSConfig": {},
                                   "Isolation": "default"},
                 "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0}


def _run(backend, *calls, manager=True):
    async def run():
        client = TestClient(TestServer(build_app(backend, manager)))
        await client.start_server()
        answers = []
        try:
            for method, path, kwargs in calls:
                response = await client.request(method, path, **kwargs)
                body = await response.read()
                answers.append((response.status, json.loads(body) if body else None))
        finally:
            await client.close()
        return answers

    return asyncio.run(run())


def _created(*specs):
    backend = FakeServices()
    asyncio.run(_create_all(backend, specs))
    return backend


async def _create_all(backend, specs):
    for spec in specs:
        await backend.create_service(spec)


def test_create_answers_201_with_id_and_warnings():
    backend = FakeServices()
    [(status, body)] = _run(backend, ("POST", "/v1.45/services/create", {"json": WEB}))
    assert status == 201
    assert body == {"ID": next(iter(backend.services)), "Warnings": None}


def test_inspect_shows_the_service_as_dockerd():
    backend = _created(WEB)
    [(status, view), (_, defaults)] = _run(backend, ("GET", "/services/web", {}),
                                           ("GET", "/services/web", {"params": {"insertDefaults": "true"}}))
    assert status == 200
    assert list(view) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint"]
    assert view["Endpoint"] == WEB_ENDPOINT
    assert view["Spec"]["TaskTemplate"]["Runtime"] == "container"
    assert "UpdateConfig" not in view["Spec"] and defaults["Spec"]["UpdateConfig"]["Order"] == "stop-first"


def test_endpoint_is_empty_without_ports_or_vips():
    record = ServiceRecord(id="s", created_at="t", updated_at="t", spec={"Name": "dns",
                                                                          "EndpointSpec": {"Mode": "dnsrr"}})
    assert serviceviews.endpoint_view(record) == {"Spec": {}}


def test_task_view_matches_dockerds_shape():
    backend = _created(WEB)
    [(status, tasks)] = _run(backend, ("GET", "/tasks", {"params": {"filters": '{"service":["web"]}'}}))
    assert status == 200 and len(tasks) == 2
    task = tasks[0]
    assert list(task) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Labels", "Spec", "ServiceID", "Slot", "NodeID",
                          "Status", "DesiredState", "NetworksAttachments"]
    assert task["Spec"] == WEB_TASK_SPEC
    assert task["Status"] == {"Timestamp": task["UpdatedAt"], "State": "running", "Message": "started",
                              "ContainerStatus": {"ContainerID": "d44a58849ae7", "PID": 6257, "ExitCode": 0},
                              "PortStatus": {}}
    assert task["NetworksAttachments"] == [{"Network": INGRESS_VIEW, "Addresses": ["10.0.0.5/24"]}]


def test_a_pending_task_omits_what_it_has_not_got():
    task = TaskRecord(id="t", service_id="s", slot=0, node_id="", created_at="c", updated_at="u",
                      state="pending", message="pending task scheduling", err="no suitable node")
    view = serviceviews.task_view(task, 3, None, lambda _: None)
    assert "Slot" not in view and "NodeID" not in view and "NetworksAttachments" not in view
    assert view["Status"] == {"Timestamp": "u", "State": "pending", "Message": "pending task scheduling",
                              "Err": "no suitable node", "PortStatus": {}}


@pytest.mark.parametrize("filters, names", [
    ({"name": ["we"]}, ["web"]), ({"name": ["db"]}, ["db"]), ({"mode": ["global"]}, ["db"]),
    ({"mode": ["foo"]}, []), ({"label": ["x=y"]}, ["db"]), ({"label": ["x"]}, ["db"]), ({"id": ["svc"]}, ["web", "db"]),
])
def test_service_filters(filters, names):
    backend = _created(WEB, {"Name": "db", "Labels": {"x": "y"}, "TaskTemplate": {"ContainerSpec": {"Image": "bb"}},
                             "Mode": {"Global": {}}})
    [(status, found)] = _run(backend, ("GET", "/services", {"params": {"filters": json.dumps(filters)}}))
    assert status == 200 and [s["Spec"]["Name"] for s in found] == names


def test_service_status_on_request():
    backend = _created(WEB)
    [(_, found)] = _run(backend, ("GET", "/services", {"params": {"status": "true"}}))
    assert found[0]["ServiceStatus"] == {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}


@pytest.mark.parametrize("filters, count", [
    ({"name": ["web.1"]}, 1), ({"desired-state": ["running"]}, 2), ({"desired-state": ["shutdown"]}, 0),
    ({"node": [NODE_ID]}, 2), ({"_up-to-date": ["true"], "service": ["svc"]}, 2), ({"label": ["a"]}, 0),
])
def test_task_filters(filters, count):
    [(status, found)] = _run(_created(WEB), ("GET", "/tasks", {"params": {"filters": json.dumps(filters)}}))
    assert status == 200 and len(found) == count


@pytest.mark.parametrize("method, path, kwargs, status, message", [
    ("GET", "/services", {"params": {"filters": '{"foo":["x"]}'}}, 400, "Invalid filter 'foo'"),
    ("GET", "/tasks", {"params": {"filters": '{"foo":["x"]}'}}, 400, "Invalid filter 'foo'"),
    ("GET", "/tasks", {"params": {"filters": '{"desired-state":["x"]}'}}, 500, "Invalid desired-state filter: 'x'"),
    ("GET", "/tasks", {"params": {"filters": '{"service":["nosuch"]}'}}, 404, "service nosuch not found"),
    ("GET", "/services/nosuch", {}, 404, "service nosuch not found"),
    ("DELETE", "/services/nosuch", {}, 404, "service nosuch not found"),
    ("GET", "/tasks/nosuch", {}, 404, "task nosuch not found"),
    ("POST", "/services/web/update", {"json": WEB}, 400,
     "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"),
    ("POST", "/services/web/update", {"json": WEB, "params": {"version": "abc"}}, 400,
     "invalid service version 'abc': strconv.ParseUint: parsing \"abc\": invalid syntax"),
    ("POST", "/services/create", {"json": WEB}, 409,
     "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists"),
    ("POST", "/services/create", {"json": {**WEB, "Name": "x", "Mode": {"Replicated": {"Replicas": -1}}}}, 400,
     "json: cannot unmarshal number -1 into Go struct field ReplicatedService.Mode.Replicated.Replicas of type uint64"),
    ("GET", "/services/web/logs", {}, 501, "service and task logs are not implemented by this daemon"),
])
def test_errors(method, path, kwargs, status, message):
    assert _run(_created(WEB), (method, path, kwargs)) == [(status, {"message": message})]


def test_update_scales_and_keeps_the_previous_spec():
    backend = _created(WEB)
    record, version = next(iter(backend.services.values()))
    scaled = {**record.spec, "Mode": {"Replicated": {"Replicas": 3}}}
    answers = _run(backend, ("POST", "/services/web/update", {"json": scaled, "params": {"version": str(version)}}),
                   ("POST", "/services/web/update", {"json": scaled, "params": {"version": str(version)}}),
                   ("GET", "/services/web", {}))
    assert answers[0] == (200, {"Warnings": None})
    assert answers[1] == (400, {"message": "rpc error: code = Unknown desc = update out of sequence"})
    assert answers[2][1]["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert answers[2][1]["PreviousSpec"]["Mode"] == {"Replicated": {"Replicas": 2}}


def test_remove_answers_200_empty():
    backend = _created(WEB)
    assert _run(backend, ("DELETE", "/services/web", {})) == [(200, None)]
    assert not backend.services and not backend.tasks


@pytest.mark.parametrize("method, path", [("GET", "/services"), ("POST", "/services/create"), ("GET", "/tasks"),
                                          ("GET", "/tasks/x"), ("DELETE", "/services/x")])
def test_not_a_manager_is_503(method, path):
    [(status, body)] = _run(FakeServices(), (method, path, {}), manager=False)
    assert status == 503 and body["message"].startswith("This node is not a swarm manager.")


@pytest.mark.skipif(not os.path.exists("/usr/local/bin/docker"), reason="no docker CLI")
def test_the_docker_cli_reads_the_answers(tmp_path):
    """docker service create/ls/ps/inspect/scale/rm against these routes, printing what it prints for dockerd."""
    async def run() -> list[tuple[int, str]]:
        sock = str(tmp_path / "s.sock")
        runner = web.AppRunner(build_app(FakeServices()))
        await runner.setup()
        await web.UnixSite(runner, sock).start()
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_API_VERSION"}
        env.update(DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=str(tmp_path))
        outputs = []
        try:
            for argv in (["create", "-d", "--name", "web", "--replicas", "2", "-p", "8080:80", "bb", "sleep", "1000"],
                         ["ls"], ["ps", "--format", "{{.Name}} {{.Node}} {{.DesiredState}}", "web"],
                         ["inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{.Endpoint.Spec.Mode}}", "web"],
                         ["inspect", "--pretty", "web"], ["scale", "-d", "web=3"], ["ls", "--format", "{{.Replicas}}"],
                         ["rm", "web", "nosuch"]):
                proc = await asyncio.create_subprocess_exec(
                    shutil.which("docker") or "docker", "service", *argv, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                out, _ = await proc.communicate()
                outputs.append((proc.returncode or 0, out.decode()))
        finally:
            await runner.cleanup()
        return outputs

    create, ls, ps, inspect, pretty, scale, replicas, rm = asyncio.run(run())
    assert create[0] == 0 and create[1].rstrip().endswith("svc0000000000000000000001")
    assert ls == (0, "ID             NAME      MODE         REPLICAS   IMAGE       PORTS\n"
                     "svc000000000   web       replicated   2/2        bb:latest   *:8080->80/tcp\n")
    assert ps == (0, "web.1 vm Running\nweb.2 vm Running\n")
    assert inspect == (0, "2 vip\n")
    assert pretty[0] == 0 and "Ports:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n" in pretty[1]
    assert scale == (0, "web scaled to 3\n")
    assert replicas == (0, "2/3\n")
    assert rm == (1, "web\nError response from daemon: service nosuch not found\n")
