"""What a daemon in no swarm answers (the swarm routes, /info), and a client that hangs up mid-request."""

from __future__ import annotations

import socket
import time

import docker
import pytest

from .conftest import api

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                 'this node to swarm and try again.')


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1.45/swarm"), ("GET", "/v1.45/swarm/unlockkey"), ("GET", "/v1.45/nodes"),
    ("GET", "/v1.45/services"), ("GET", "/v1.45/tasks"), ("GET", "/v1.45/secrets"), ("GET", "/v1.45/configs"),
])
def test_manager_routes_answer_503(cnmd, method, path):
    status, body, headers = api(cnmd, method, path)
    assert (status, body) == (503, {"message": NOT_A_MANAGER})
    assert headers["Content-Type"] == "application/json"


def test_swarm_leave_is_503_not_part_of_a_swarm(cnmd):
    status, body, _ = api(cnmd, "POST", "/v1.45/swarm/leave?force=1")
    assert (status, body) == (503, {"message": "This node is not part of a swarm"})
    # docker-py's integration tests leave any swarm after each test: a 503 passes as done.
    client = docker.APIClient(base_url=cnmd.host)
    try:
        assert client.leave_swarm(force=True) is True
        with pytest.raises(docker.errors.APIError, match="not part of a swarm"):
            client.leave_swarm()
    finally:
        client.close()


def test_cli_swarm_commands_and_info(cnmd):
    nodes = cnmd.docker("node", "ls", check=False)
    assert nodes.returncode == 1 and nodes.stderr.strip() == f"Error response from daemon: {NOT_A_MANAGER}"
    leave = cnmd.docker("swarm", "leave", check=False)
    assert leave.stderr.strip() == "Error response from daemon: This node is not part of a swarm"
    info = cnmd.docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.OSType}}").stdout.strip()
    assert info == "inactive linux"
    printed = cnmd.docker("info")
    assert " Swarm: inactive" in printed.stdout and "ERROR" not in printed.stdout


def test_client_that_hangs_up_mid_request_is_one_debug_line(cnmd):
    before = len(cnmd.log())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(cnmd.socket)
    # A body announced and never sent: the daemon is reading it when the client goes.
    sock.sendall(b"POST /v1.45/networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"Name\": ")
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 5
    while "client went away" not in cnmd.log()[before:]:
        assert time.monotonic() < deadline, cnmd.log()[before:]
        time.sleep(0.05)
    written = cnmd.log()[before:]
    assert "request crashed" not in written and "Traceback" not in written
    assert api(cnmd, "GET", "/_ping")[0] == 200
