"""``cnm swarm ...`` and ``cnm node ...`` against a fake daemon that answers
what a real dockerd answered (docs/reference/swarm-captures): each test
checks the requests the CLI sends and what it prints against the docker
CLI's run in the same capture."""

import functools
import io
import json
from pathlib import Path

import pytest

from libnetwork.cli.main import run as cli_run
from libnetwork.cli.nodeviews import bytes_size, pretty_print
from libnetwork.cli.validators import node_addr, parse_duration, validate_cidr_list

from .fake_daemon import FakeDaemon

CAPTURES = Path(__file__).resolve().parents[2] / "docs" / "reference" / "swarm-captures"


@functools.cache
def _load(name):
    return json.loads((CAPTURES / f"{name}.json").read_text())


def exchange(name, label, request, status="200 OK"):
    """The first captured exchange of ``request`` (method and path, no /v1.41) with a full body."""
    for rec in _load(name):
        if rec.get("label") != label or "request" not in rec or rec["status"] != status:
            continue
        method, _, path = rec["request"].partition(" ")
        if f"{method} {path.removeprefix('/v1.41')}" == request and not str(rec["resp_body"]).startswith("<omitted"):
            return rec
    raise LookupError(f"{name}: {label}: {request}")


def body(name, label, request, status="200 OK"):
    return exchange(name, label, request, status)["resp_body"]


def docker_run(name, label, cli):
    """The docker CLI's run of ``cli`` in a capture: (rc, stdout, stderr)."""
    for rec in _load(name):
        if rec.get("label") == label and rec.get("cli") == cli:
            return rec["rc"], rec["stdout"], rec["stderr"]
    raise LookupError(f"{name}: {label}: {cli}")


def error_reply(name, label, cli, status):
    """An error answer rebuilt from the message the docker CLI printed (for bodies the capture left out)."""
    message = docker_run(name, label, cli)[2].removeprefix("Error response from daemon: ").removesuffix("\n")
    return status, {"message": message}


def reply(name, label, request, status="200 OK"):
    """A route answer from a capture: (status code, JSON body or None for an empty one)."""
    rec = exchange(name, label, request, status)
    return int(status.split()[0]), (rec["resp_body"] if rec["resp_body"] != "" else None)


SWARM = body("manager", "manager/swarm", "GET /swarm")
LEADER = body("nodes", "nodes/inspect", "GET /nodes/z723eh4yjto9g8ieqqbw2gs0u")
WORKER = body("nodes", "nodes/inspect", "GET /nodes/node2")
NODES = body("nodes", "nodes/list", "GET /nodes")
INFO_NODE1 = body("nodes", "nodes/list", "GET /info")
LEADER_ID = LEADER["ID"]
WORKER_ID = WORKER["ID"]


@pytest.fixture
def daemon():
    d = FakeDaemon()
    yield d
    d.close()


def cnm(daemon, *argv):
    out, err = io.StringIO(), io.StringIO()
    status = cli_run(["-H", "unix://" + daemon.path] + list(argv), out, err, io.StringIO())
    return status, out.getvalue(), err.getvalue()


def sent(daemon):
    return [f"{r['method']} {r['path']}" for r in daemon.requests]


def empty():
    return (200, None)


# ------------------------------------------------------------------ swarm init

class TestInit:
    def test_plain_init_prints_dockers_text(self, daemon):
        daemon.routes[("POST", "/swarm/init")] = reply("init", "init/ok", "POST /swarm/init")
        daemon.routes[("GET", f"/nodes/{LEADER_ID}")] = (200, LEADER)
        daemon.routes[("GET", "/swarm")] = (200, SWARM)
        assert cnm(daemon, "swarm", "init", "--advertise-addr", "192.168.10.11") == docker_run(
            "init", "init/ok", "docker swarm init --advertise-addr 192.168.10.11")
        assert sent(daemon) == ["POST /swarm/init", f"GET /nodes/{LEADER_ID}", "GET /swarm"]
        assert daemon.requests[0]["body"] == exchange("init", "init/ok", "POST /swarm/init")["req_body"]
        assert daemon.requests[0]["content_type"] == "application/json"

    def test_every_option_and_the_unlock_key(self, daemon):
        label = "init/all-options"
        init = exchange("init", label, "POST /swarm/init")
        node_id = init["resp_body"]
        daemon.routes[("POST", "/swarm/init")] = (200, node_id)
        daemon.routes[("GET", f"/nodes/{node_id}")] = reply("init", label, f"GET /nodes/{node_id}")
        daemon.routes[("GET", "/swarm")] = reply("init", label, "GET /swarm")
        daemon.routes[("GET", "/swarm/unlockkey")] = reply("init", label, "GET /swarm/unlockkey")
        cli = ("docker swarm init --advertise-addr 192.168.10.11 --listen-addr 192.168.10.11:2377 "
               "--data-path-addr 192.168.10.11 --data-path-port 4790 --default-addr-pool 10.20.0.0/16 "
               "--default-addr-pool 10.30.0.0/16 --default-addr-pool-mask-length 26 --availability drain "
               "--task-history-limit 3 --autolock --cert-expiry 48h")
        assert cnm(daemon, *cli.split()[1:]) == docker_run("init", label, cli)
        assert daemon.requests[0]["body"] == init["req_body"]
        assert sent(daemon)[-1] == "GET /swarm/unlockkey"

    def test_daemon_errors(self, daemon):
        daemon.routes[("POST", "/swarm/init")] = reply("init", "init/twice", "POST /swarm/init",
                                                       "503 Service Unavailable")
        assert cnm(daemon, "swarm", "init", "--advertise-addr", "192.168.10.11") == docker_run(
            "init", "init/twice", "docker swarm init --advertise-addr 192.168.10.11")
        assert sent(daemon) == ["POST /swarm/init"]

    def test_advertise_hint_is_added_by_the_client(self, daemon):
        message = ("could not choose an IP address to advertise since this system has multiple addresses on "
                   "interface eth0 (192.168.10.11 and 192.168.10.111)")
        daemon.routes[("POST", "/swarm/init")] = (400, {"message": message})
        assert cnm(daemon, "swarm", "init") == docker_run("init", "init/no-advertise-addr-two-ips",
                                                          "docker swarm init")

    def test_bad_pool_is_a_usage_error(self, daemon):
        status, out, err = cnm(daemon, "swarm", "init", "--advertise-addr", "192.168.10.11",
                               "--default-addr-pool", "10.0.0.0/33")
        rc, _, docker_err = docker_run("init", "init/bad-addr-pool", "docker swarm init --advertise-addr "
                                       "192.168.10.11 --default-addr-pool 10.0.0.0/33")
        assert (status, out, err) == (rc, "", docker_err.replace("docker", "cnm"))
        assert daemon.requests == []

    def test_bad_availability_sends_nothing(self, daemon):
        assert cnm(daemon, "swarm", "init", "--availability", "sleep") == (
            1, "", 'invalid availability "sleep", only active, pause and drain are supported\n')
        assert daemon.requests == []


# ------------------------------------------------------------------ swarm join, leave

class TestJoinLeave:
    TOKEN = "SWMTKN-1-04dzpmti2uf4dpb00g3bixv1icazyutjv9z26o4p5rjofa4nhx-ctdoh8t3pofaoee35nfnx7f2o"

    @pytest.mark.parametrize("label, token", [
        ("join/worker", TOKEN),
        ("join/manager", "SWMTKN-1-04dzpmti2uf4dpb00g3bixv1icazyutjv9z26o4p5rjofa4nhx-9t1me86rwyz7e0xc67is8jp2t"),
    ])
    def test_join_reports_the_role(self, daemon, label, token):
        daemon.routes[("POST", "/swarm/join")] = empty()
        daemon.routes[("GET", "/info")] = reply("join", label, "GET /info")
        cli = f"docker swarm join --token {token} 192.168.10.11:2377"
        assert cnm(daemon, *cli.split()[1:]) == docker_run("join", label, cli)
        assert sent(daemon) == ["POST /swarm/join", "GET /info"]
        assert daemon.requests[0]["body"] == exchange("join", label, "POST /swarm/join")["req_body"]

    def test_join_options(self, daemon):
        daemon.routes[("POST", "/swarm/join")] = empty()
        daemon.routes[("GET", "/info")] = reply("join", "join/worker", "GET /info")
        assert cnm(daemon, "swarm", "join", "--token", "T", "--listen-addr", "eth0", "--advertise-addr", "eth1",
                   "--data-path-addr", "10.0.0.2", "--availability", "Drain", "m1")[0] == 0
        assert daemon.requests[0]["body"] == {
            "ListenAddr": "eth0:2377", "AdvertiseAddr": "eth1", "DataPathAddr": "10.0.0.2", "RemoteAddrs": ["m1"],
            "JoinToken": "T", "Availability": "drain"}

    def test_join_error(self, daemon):
        label = "join/wrong-secret"
        daemon.routes[("POST", "/swarm/join")] = reply("join", label, "POST /swarm/join", "400 Bad Request")
        token = "SWMTKN-1-04dzpmti2uf4dpb00g3bixv1icazyutjv9z26o4p5rjofa4nhx-aaaaaaaaaaaaaaaaaaaaaaaaa"
        cli = f"docker swarm join --token {token} 192.168.10.11:2377"
        assert cnm(daemon, *cli.split()[1:]) == docker_run("join", label, cli)
        assert sent(daemon) == ["POST /swarm/join"]

    def test_join_needs_the_address(self, daemon):
        status, _, err = cnm(daemon, "swarm", "join", "--token", "T")
        assert status == 125 and err.startswith("cnm: 'cnm swarm join' requires 1 argument")

    @pytest.mark.parametrize("argv, path", [((), "/swarm/leave"), (("--force",), "/swarm/leave?force=1"),
                                            (("-f",), "/swarm/leave?force=1")])
    def test_leave(self, daemon, argv, path):
        daemon.routes[("POST", "/swarm/leave")] = empty()
        assert cnm(daemon, "swarm", "leave", *argv) == (0, "Node left the swarm.\n", "")
        assert sent(daemon) == ["POST " + path]

    def test_leave_error_keeps_the_daemons_text(self, daemon):
        label = "leave/last-manager-no-force"
        daemon.routes[("POST", "/swarm/leave")] = error_reply("leave", label, "docker swarm leave", 503)
        assert cnm(daemon, "swarm", "leave") == docker_run("leave", label, "docker swarm leave")


# ------------------------------------------------------------------ join-token, inspect

class TestJoinToken:
    def routes(self, daemon, swarm=SWARM):
        daemon.routes[("GET", "/swarm")] = swarm if isinstance(swarm, list) else (200, swarm)
        daemon.routes[("GET", "/info")] = reply("manager", "manager/join-token", "GET /info")
        daemon.routes[("GET", f"/nodes/{LEADER_ID}")] = (200, LEADER)

    @pytest.mark.parametrize("role", ["worker", "manager"])
    def test_text(self, daemon, role):
        self.routes(daemon)
        assert cnm(daemon, "swarm", "join-token", role) == docker_run(
            "manager", "manager/join-token", f"docker swarm join-token {role}")
        assert sent(daemon) == ["GET /swarm", "GET /info", f"GET /nodes/{LEADER_ID}", "GET /swarm"]

    @pytest.mark.parametrize("role", ["worker", "manager"])
    def test_quiet(self, daemon, role):
        self.routes(daemon)
        assert cnm(daemon, "swarm", "join-token", "-q", role) == docker_run(
            "manager", "manager/join-token", f"docker swarm join-token -q {role}")
        assert sent(daemon) == ["GET /swarm"]

    def test_rotate_posts_the_spec_back_then_reads_the_new_token(self, daemon):
        rotated = dict(SWARM, Version={"Index": 55}, JoinTokens=dict(
            SWARM["JoinTokens"], Worker="SWMTKN-1-04dzpmti2uf4dpb00g3bixv1icazyutjv9z26o4p5rjofa4nhx-"
                                        "3v5yt917zbjo2xodualm603zp"))
        self.routes(daemon, [(200, dict(SWARM, Version={"Index": 55})), (200, rotated)])
        daemon.routes[("POST", "/swarm/update")] = empty()
        assert cnm(daemon, "swarm", "join-token", "--rotate", "worker") == docker_run(
            "swarm", "swarm/rotate-worker-token", "docker swarm join-token --rotate worker")
        update = exchange("swarm", "swarm/rotate-worker-token",
                          "POST /swarm/update?rotateManagerToken=false&rotateManagerUnlockKey=false"
                          "&rotateWorkerToken=true&version=55")
        assert sent(daemon)[:3] == ["GET /swarm", "POST " + update["request"].split(" ")[1].removeprefix("/v1.41"),
                                    "GET /swarm"]
        assert daemon.requests[1]["body"] == SWARM["Spec"]

    def test_rotate_quiet_prints_only_the_token(self, daemon):
        self.routes(daemon)
        daemon.routes[("POST", "/swarm/update")] = empty()
        assert cnm(daemon, "swarm", "join-token", "--rotate", "-q", "manager") == (
            0, SWARM["JoinTokens"]["Manager"] + "\n", "")
        assert sent(daemon) == [
            "GET /swarm",
            "POST /swarm/update?rotateManagerToken=true&rotateManagerUnlockKey=false&rotateWorkerToken=false"
            "&version=10",
            "GET /swarm"]

    def test_unknown_role_sends_nothing(self, daemon):
        assert cnm(daemon, "swarm", "join-token", "boss") == (1, "", "unknown role boss\n")
        assert daemon.requests == []

    def test_not_a_manager(self, daemon):
        daemon.routes[("GET", "/swarm")] = reply("worker", "worker/routes", "GET /swarm", "503 Service Unavailable")
        assert cnm(daemon, "swarm", "join-token", "worker") == docker_run(
            "worker", "worker/cli", "docker swarm join-token worker")


class TestSwarmInspect:
    def test_json_array(self, daemon):
        daemon.routes[("GET", "/swarm")] = (200, SWARM)
        status, out, err = cnm(daemon, "swarm", "inspect")
        assert (status, err) == (0, "")
        assert json.loads(out) == [SWARM] and out.startswith('[\n    {\n        "ID": "ppci6xekv5jb8c24qspvg46k1"')

    def test_format(self, daemon):
        daemon.routes[("GET", "/swarm")] = (200, SWARM)
        assert cnm(daemon, "swarm", "inspect", "-f", "{{.ID}} {{.Spec.Raft.ElectionTick}}") == (
            0, "ppci6xekv5jb8c24qspvg46k1 10\n", "")
        assert cnm(daemon, "swarm", "inspect", "--format", "{{.Nope")[0] == 64

    def test_hidden_from_help(self, daemon):
        assert "inspect" not in cnm(daemon, "swarm", "--help")[1]


# ------------------------------------------------------------------ node ls

class TestNodeLs:
    def test_table_stars_the_local_node(self, daemon):
        daemon.routes[("GET", "/nodes")] = (200, NODES)
        daemon.routes[("GET", "/info")] = (200, INFO_NODE1)
        assert cnm(daemon, "node", "ls") == docker_run("nodes", "nodes/list", "docker node ls")
        assert sent(daemon) == ["GET /nodes", "GET /info"]

    def test_down_and_unreachable(self, daemon):
        label = "heartbeat/kill-manager-3"
        daemon.routes[("GET", "/nodes")] = reply("heartbeat", label, "GET /nodes")
        daemon.routes[("GET", "/info")] = (200, INFO_NODE1)
        assert cnm(daemon, "node", "ls") == docker_run("heartbeat", label, "docker node ls")

    def test_quiet_does_not_ask_info(self, daemon):
        daemon.routes[("GET", "/nodes")] = (200, NODES)
        assert cnm(daemon, "node", "ls", "-q") == docker_run("nodes", "nodes/list", "docker node ls -q")
        assert sent(daemon) == ["GET /nodes"]

    def test_filter_is_sent_as_docker_does(self, daemon):
        managers = [n for n in NODES if n["Spec"]["Role"] == "manager"]
        daemon.routes[("GET", "/nodes")] = (200, managers)
        daemon.routes[("GET", "/info")] = (200, INFO_NODE1)
        assert cnm(daemon, "node", "ls", "--filter", "role=manager") == docker_run(
            "nodes", "nodes/list", "docker node ls --filter role=manager")
        assert sent(daemon)[0] == "GET /nodes?filters=%7B%22role%22%3A%7B%22manager%22%3Atrue%7D%7D"

    def test_format(self, daemon):
        daemon.routes[("GET", "/nodes")] = (200, NODES)
        daemon.routes[("GET", "/info")] = (200, INFO_NODE1)
        assert cnm(daemon, "node", "ls", "--format", "{{.Hostname}} {{.Self}} {{.ManagerStatus}}") == (
            0, "node1 true Leader\nnode2 false \nnode3 false Reachable\n", "")
        status, out, _ = cnm(daemon, "node", "ls", "--format", "json")
        assert status == 0
        first = json.loads(out.splitlines()[0])
        assert first == {"Availability": "Active", "EngineVersion": "20.10.24+dfsg1", "Hostname": "node1",
                         "ID": LEADER_ID, "ManagerStatus": "Leader", "Self": True, "Status": "Ready",
                         "TLSStatus": "Ready"}
        assert cnm(daemon, "node", "ls", "--format", "table {{.Hostname}}\t{{.TLSStatus}}")[1].splitlines()[0] == (
            "HOSTNAME   TLS STATUS")

    def test_empty_list_prints_the_header_only(self, daemon):
        daemon.routes[("GET", "/nodes")] = (200, [])
        assert cnm(daemon, "node", "ls") == (
            0, "ID        HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n", "")
        assert sent(daemon) == ["GET /nodes"]

    def test_not_a_manager(self, daemon):
        daemon.routes[("GET", "/nodes")] = reply("inactive", "inactive/routes", "GET /nodes",
                                                 "503 Service Unavailable")
        assert cnm(daemon, "node", "ls") == docker_run("inactive", "inactive/cli", "docker node ls")


# ------------------------------------------------------------------ node inspect

class TestNodeInspect:
    def test_self_is_the_node_id_from_info(self, daemon):
        daemon.routes[("GET", "/info")] = (200, INFO_NODE1)
        daemon.routes[("GET", f"/nodes/{LEADER_ID}")] = (200, LEADER)
        status, out, err = cnm(daemon, "node", "inspect", "self")
        rc, docker_out, _ = docker_run("nodes", "nodes/inspect", "docker node inspect self")
        assert (status, err) == (rc, "")
        assert json.loads(out) == [LEADER] and out.startswith(docker_out[:300])
        assert sent(daemon) == ["GET /info", f"GET /nodes/{LEADER_ID}"]

    def test_self_off_a_manager_asks_a_swarm_route_for_the_error(self, daemon):
        daemon.routes[("GET", "/info")] = reply("inactive", "inactive/routes", "GET /info")
        daemon.routes[("GET", "/nodes")] = reply("inactive", "inactive/routes", "GET /nodes",
                                                 "503 Service Unavailable")
        assert cnm(daemon, "node", "inspect", "self") == (1, "[]\n", docker_run("inactive", "inactive/cli",
                                                                               "docker node ls")[2])
        assert sent(daemon) == ["GET /info", "GET /nodes"]
        daemon.routes[("GET", "/info")] = (200, {"Swarm": {"NodeID": ""}})
        daemon.routes[("GET", "/nodes")] = (200, [])
        assert cnm(daemon, "node", "inspect", "self") == (1, "[]\n", "node ID not found in /info\n")

    def test_missing_prints_empty_array_and_the_error(self, daemon):
        daemon.routes[("GET", "/nodes/doesnotexist")] = reply("nodes", "nodes/inspect", "GET /nodes/doesnotexist",
                                                              "404 Not Found")
        assert cnm(daemon, "node", "inspect", "doesnotexist") == docker_run(
            "nodes", "nodes/inspect", "docker node inspect doesnotexist")

    def test_found_ones_then_errors(self, daemon):
        daemon.routes[("GET", "/nodes/node2")] = (200, WORKER)
        status, out, err = cnm(daemon, "node", "inspect", "nope", "node2")
        assert status == 1 and json.loads(out) == [WORKER]
        assert err == "Error response from daemon: page not found\n"

    def test_pretty(self, daemon):
        daemon.routes[("GET", "/nodes/node2")] = (200, WORKER)
        assert cnm(daemon, "node", "inspect", "--pretty", "node2") == docker_run(
            "nodes", "nodes/inspect", "docker node inspect --pretty node2")

    def test_pretty_manager_status_and_labels(self, daemon):
        node = dict(LEADER, Spec=dict(LEADER["Spec"], Labels={"zone": "a", "solo": ""}))
        daemon.routes[("GET", "/nodes/node1")] = (200, node)
        status, out, _ = cnm(daemon, "node", "inspect", "--pretty", "node1")
        assert status == 0
        assert "Labels:\n - solo\n - zone=a\nHostname:              \tnode1\n" in out
        assert ("Manager Status:\n Address:\t\t192.168.10.11:2377\n Raft Status:\t\tReachable\n Leader:\t\tYes\n"
                in out)

    def test_pretty_stops_at_the_first_error_printing_nothing(self, daemon):
        daemon.routes[("GET", "/nodes/node2")] = (200, WORKER)
        assert cnm(daemon, "node", "inspect", "--pretty", "node2", "gone") == (
            1, "", "Error response from daemon: page not found\n")

    def test_pretty_takes_no_template(self, daemon):
        assert cnm(daemon, "node", "inspect", "--format", "pretty {{.ID}}", "node2") == (
            1, "", "cannot supply extra formatting options to the pretty template\n")

    def test_format_on_the_typed_node(self, daemon):
        daemon.routes[("GET", "/nodes/node2")] = (200, WORKER)
        fmt = "{{.Spec.Role}} {{.Status.Message}}|{{.ManagerStatus}}|{{.CreatedAt}}|{{.Version.Index}}"
        assert cnm(daemon, "node", "inspect", "-f", fmt, "node2") == (
            0, "worker |<no value>|2026-12-06 01:35:58.535504527 +0000 UTC|21\n", "")
        assert cnm(daemon, "node", "inspect", "-f", "{{json .Status}}", "node2") == (
            0, '{"State":"ready","Addr":"192.168.10.12"}\n', "")


# ------------------------------------------------------------------ node rm, promote, demote, update

class TestNodeChanges:
    def test_rm(self, daemon):
        daemon.routes[("DELETE", "/nodes/node2")] = empty()
        assert cnm(daemon, "node", "rm", "node2") == docker_run("nodes", "nodes/rm-down-node", "docker node rm node2")
        assert cnm(daemon, "node", "rm", "--force", "node2") == (0, "node2\n", "")
        assert sent(daemon) == ["DELETE /nodes/node2", "DELETE /nodes/node2?force=1"]

    def test_rm_reports_every_error_after_the_removals(self, daemon):
        daemon.routes[("DELETE", "/nodes/node3")] = reply("nodes", "nodes/rm-manager", "DELETE /nodes/node3",
                                                          "400 Bad Request")
        daemon.routes[("DELETE", "/nodes/node2")] = empty()
        status, out, err = cnm(daemon, "node", "rm", "node3", "doesnotexist", "node2")
        assert (status, out) == (1, "node2\n")
        assert err == (docker_run("nodes", "nodes/rm-manager", "docker node rm node3")[2]
                       + "Error response from daemon: page not found\n")

    def test_promote_and_demote(self, daemon):
        manager = dict(WORKER, Version={"Index": 35}, Spec=dict(WORKER["Spec"], Role="manager"))
        daemon.routes[("GET", "/nodes/node2")] = [(200, WORKER), (200, manager), (200, manager), (200, WORKER)]
        daemon.routes[("POST", f"/nodes/{WORKER_ID}/update")] = empty()
        label = "nodes/promote-demote"
        runs = [r for r in _load("nodes") if r.get("label") == label
                and r.get("cli", "").startswith(("docker node promote", "docker node demote"))]
        assert len(runs) == 4
        for run in runs:
            assert cnm(daemon, *run["cli"].split()[1:]) == (run["rc"], run["stdout"], run["stderr"]), run["cli"]
        assert sent(daemon) == ["GET /nodes/node2", f"POST /nodes/{WORKER_ID}/update?version=21",
                                "GET /nodes/node2", "GET /nodes/node2", f"POST /nodes/{WORKER_ID}/update?version=35",
                                "GET /nodes/node2"]
        assert [r["body"] for r in daemon.requests if r["method"] == "POST"] == [
            {"Labels": {}, "Role": "manager", "Availability": "active"},
            {"Labels": {}, "Role": "worker", "Availability": "active"}]

    def test_demote_error(self, daemon):
        label = "nodes/demote-self-last"
        daemon.routes[("GET", "/nodes/node1")] = reply("nodes", label, "GET /nodes/node1")
        daemon.routes[("POST", f"/nodes/{LEADER_ID}/update")] = error_reply(
            "nodes", label, "docker node demote node1", 400)
        assert cnm(daemon, "node", "demote", "node1") == docker_run("nodes", label, "docker node demote node1")

    @pytest.mark.parametrize("argv, spec", [
        (("--availability", "pause"), {"Labels": {}, "Role": "worker", "Availability": "pause"}),
        (("--label-add", "zone=a"), {"Labels": {"zone": "a"}, "Role": "worker", "Availability": "active"}),
        (("--role", "manager", "--label-add", "b=2", "--label-add", "a"),
         {"Labels": {"a": "", "b": "2"}, "Role": "manager", "Availability": "active"}),
    ])
    def test_update(self, daemon, argv, spec):
        daemon.routes[("GET", "/nodes/node2")] = (200, WORKER)
        daemon.routes[("POST", f"/nodes/{WORKER_ID}/update")] = empty()
        assert cnm(daemon, "node", "update", *argv, "node2") == (0, "node2\n", "")
        assert sent(daemon) == ["GET /nodes/node2", f"POST /nodes/{WORKER_ID}/update?version=21"]
        assert daemon.requests[1]["body"] == spec

    def test_update_label_rm(self, daemon):
        labelled = dict(WORKER, Spec=dict(WORKER["Spec"], Labels={"zone": "a", "x": "1"}))
        daemon.routes[("GET", "/nodes/node2")] = (200, labelled)
        daemon.routes[("POST", f"/nodes/{WORKER_ID}/update")] = empty()
        assert cnm(daemon, "node", "update", "--label-rm", "zone", "node2") == (0, "node2\n", "")
        assert daemon.requests[1]["body"]["Labels"] == {"x": "1"}
        assert cnm(daemon, "node", "update", "--label-rm", "nope", "node2") == (
            1, "", "key nope doesn't exist in node's labels\n")
        assert len(daemon.requests) == 3

    def test_update_stale_version(self, daemon):
        label = "nodes/update-stale-version"
        daemon.routes[("GET", "/nodes/node2")] = (200, dict(WORKER, Version={"Index": 30}))
        daemon.routes[("POST", f"/nodes/{WORKER_ID}/update")] = reply(
            "nodes", label, f"POST /nodes/{WORKER_ID}/update?version=30", "500 Internal Server Error")
        assert cnm(daemon, "node", "update", "--label-add", "zone=a", "node2") == (
            1, "", "Error response from daemon: rpc error: code = Unknown desc = update out of sequence\n")


# ------------------------------------------------------------------ parsing helpers

class TestParsing:
    @pytest.mark.parametrize("value, expected", [
        ("192.168.10.11:2377", "192.168.10.11:2377"), ("192.168.10.11", "192.168.10.11:2377"),
        ("eth0", "eth0:2377"), (":4000", "0.0.0.0:4000"), ("tcp://10.0.0.1:99", "10.0.0.1:99"),
        ("[::1]:2377", "[::1]:2377"), ("::1", "[::1]:2377"), ("", "0.0.0.0:2377"),
    ])
    def test_node_addr(self, value, expected):
        assert node_addr(value) == expected

    @pytest.mark.parametrize("value, message", [
        ("udp://x:1", "invalid proto, expected tcp: udp://x:1"), ("h:port", "invalid bind address format: h:port"),
    ])
    def test_node_addr_errors(self, value, message):
        with pytest.raises(ValueError, match=message):
            node_addr(value)

    def test_cidr_list(self):
        assert validate_cidr_list("10.20.0.1/16, 10.30.0.0/16") == "10.20.0.0/16,10.30.0.0/16"
        with pytest.raises(ValueError, match="invalid string being converted to CIDR: 10.0.0.0"):
            validate_cidr_list("10.0.0.0")

    @pytest.mark.parametrize("value, ns", [("48h", 172800000000000), ("2160h0m0s", 7776000000000000),
                                           ("5s", 5000000000), ("1.5m", 90000000000), ("0", 0)])
    def test_duration(self, value, ns):
        assert parse_duration(value) == ns

    def test_duration_error(self, daemon):
        status, _, err = cnm(daemon, "swarm", "init", "--cert-expiry", "2d")
        assert status == 125
        assert err.startswith('invalid argument "2d" for "--cert-expiry" flag: time: invalid duration "2d"')

    def test_uint_flags(self, daemon):
        status, _, err = cnm(daemon, "swarm", "init", "--data-path-port", "-1")
        assert status == 125 and 'strconv.ParseUint: parsing "-1": invalid syntax' in err

    def test_words(self):
        assert [pretty_print(w) for w in ("ready", "", "x", "REACHABLE")] == ["Ready", "", "x", "Reachable"]
        assert [bytes_size(n) for n in (25276194816, 1023, 1024, 1536)] == ["23.54GiB", "1023B", "1KiB", "1.5KiB"]
