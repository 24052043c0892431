"""The CLI's input side: flag parsing, request bodies, port specs, and whole
commands against a fake daemon on a unix socket (no cnmd, no root)."""

import io
import json
import os

import pytest

from libnetwork.cli import bodies, ports
from libnetwork.cli.client import DaemonError, parse_host, resolve_host
from libnetwork.cli.commands import root_command
from libnetwork.cli.errors import ClientError
from libnetwork.cli.flags import HelpRequested, UsageError, check_nargs, parse_args
from libnetwork.cli.main import run as cli_run

from .fake_daemon import FakeDaemon


def command(*path):
    cmd = root_command()
    for name in path:
        cmd = cmd.find(name)
    return cmd


def parse(path, argv):
    cmd = command(*path.split())
    opts, args, changed = parse_args(cmd, argv)
    check_nargs(cmd, args)
    return opts, args, changed


# ------------------------------------------------------------------ flags

class TestFlags:
    def test_bool_flags_take_values_only_after_equals(self):
        opts, args, changed = parse("network create", ["--ipv6=false", "--internal", "n"])
        assert opts["ipv6"] is False and opts["internal"] is True
        assert args == ["n"] and {"ipv6", "internal"} <= changed

    def test_bool_value_must_parse(self):
        with pytest.raises(UsageError) as err:
            parse("network create", ["--ipv6=maybe", "n"])
        assert err.value.message == ('invalid argument "maybe" for "--ipv6" flag: '
                                     'strconv.ParseBool: parsing "maybe": invalid syntax')

    def test_string_forms(self):
        for argv in (["-d", "macvlan"], ["-dmacvlan"], ["-d=macvlan"], ["--driver", "macvlan"],
                     ["--driver=macvlan"]):
            opts, _, _ = parse("network create", argv + ["n"])
            assert opts["driver"] == "macvlan"

    def test_defaults(self):
        opts, _, changed = parse("network create", ["n"])
        assert opts["driver"] == "bridge" and opts["ipam_driver"] == "default"
        assert opts["ipv4"] is True and changed == set()

    def test_slices_split_on_commas_and_repeat(self):
        opts, _, _ = parse("network connect", ["--alias", "a,b", "--alias=c", "n", "s"])
        assert opts["alias"] == ["a", "b", "c"]

    def test_lists_and_maps_do_not_split(self):
        opts, _, _ = parse("network create", ["-o", "a=1,2", "--label", "x=y,z", "n"])
        assert opts["opt"] == ["a=1,2"] and opts["label"] == ["x=y,z"]

    def test_combined_short_bools(self):
        opts, _, _ = parse("network ls", ["-q", "--no-trunc"])
        assert opts["quiet"] and opts["no_trunc"]

    def test_interspersed_flags_and_double_dash(self):
        opts, args, _ = parse("network rm", ["a", "-f", "--", "-b"])
        assert opts["force"] and args == ["a", "-b"]

    def test_exec_stops_at_the_first_argument(self):
        opts, args, _ = parse("exec", ["-e", "A=1", "sb", "ls", "-l", "--", "-x"])
        assert opts["env"] == ["A=1"] and args == ["sb", "ls", "-l", "--", "-x"]

    @pytest.mark.parametrize("argv, message", [
        (["--bogus"], "unknown flag: --bogus"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["-qx"], "unknown shorthand flag: 'x' in -x"),
        (["--format"], "flag needs an argument: --format"),
        (["-f"], "flag needs an argument: 'f' in -f"),
        (["-f", "novalue"], 'invalid argument "novalue" for "-f, --filter" flag: '
                            "bad format of filter (expected name=value)"),
    ])
    def test_flag_errors(self, argv, message):
        with pytest.raises(UsageError) as err:
            parse("network ls", argv)
        assert err.value.message == message
        assert err.value.render().endswith(
            "\n\nUsage:  cnm network ls [OPTIONS]\n\nRun 'cnm network ls --help' for more information")

    @pytest.mark.parametrize("path, argv, message", [
        ("network create", [], "'cnm network create' requires 1 argument"),
        ("network connect", ["a"], "'cnm network connect' requires 2 arguments"),
        ("network inspect", [], "'cnm network inspect' requires at least 1 argument"),
        ("network ls", ["x"], "'cnm network ls' accepts no arguments"),
        ("port", ["a", "b", "c"], "'cnm port' requires at least 1 and at most 2 arguments"),
    ])
    def test_argument_count_errors(self, path, argv, message):
        with pytest.raises(UsageError) as err:
            parse(path, argv)
        assert err.value.message == message
        assert err.value.render().startswith("cnm: " + message + "\n\nUsage:  cnm ")

    def test_label_validation(self):
        with pytest.raises(UsageError, match="label 'a b' contains whitespaces"):
            parse("network create", ["--label", "a b=c", "n"])

    def test_link_validation(self):
        with pytest.raises(UsageError, match="bad format for links: a:b:c"):
            parse("network connect", ["--link", "a:b:c", "n", "s"])

    def test_help(self):
        with pytest.raises(HelpRequested):
            parse("network create", ["--help"])
        with pytest.raises(HelpRequested):
            parse("network create", ["-h"])
        text = command("network", "create").help_text()
        assert "Usage:  cnm network create [OPTIONS] NETWORK" in text
        assert '  -d, --driver string        Driver to manage the Network (default "bridge")' in text

    def test_sandbox_create_h_is_hostname(self):
        opts, _, _ = parse("sandbox create", ["-h", "box", "--net", "a", "--network", "b"])
        assert opts["hostname"] == "box" and opts["network"] == ["a", "b"]


class TestHost:
    def test_parse_host(self):
        assert parse_host("unix:///run/cnm/cnm.sock") == ("unix", "/run/cnm/cnm.sock")
        assert parse_host("/tmp/x.sock") == ("unix", "/tmp/x.sock")
        assert parse_host("tcp://127.0.0.1:2375") == ("tcp", ("127.0.0.1", 2375))
        with pytest.raises(ValueError):
            parse_host("ftp://x")

    def test_resolution_order(self, monkeypatch):
        monkeypatch.delenv("CNM_HOST", raising=False)
        assert resolve_host(None) == "unix:///run/cnm/cnm.sock"
        monkeypatch.setenv("CNM_HOST", "unix:///env.sock")
        assert resolve_host(None) == "unix:///env.sock"
        assert resolve_host("unix:///flag.sock") == "unix:///flag.sock"


# ------------------------------------------------------------------ bodies

def create_body(argv):
    opts, args, changed = parse("network create", argv)
    return bodies.network_create_body(args[0], opts, changed)


class TestNetworkCreateBody:
    def test_plain_create_is_what_docker_sends(self):
        body = create_body(["foo"])
        assert json.dumps(body, separators=(",", ":")) == (
            '{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},'
            '"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,'
            '"ConfigFrom":null,"Options":{},"Labels":{},"Name":"foo"}')

    def test_every_flag(self):
        body = create_body([
            "-d", "macvlan", "--subnet", "10.0.0.0/24", "--gateway", "10.0.0.254",
            "--ip-range", "10.0.0.128/25", "--aux-address", "host=10.0.0.5",
            "--ipv6", "--internal", "--attachable", "--ipam-driver", "custom",
            "--ipam-opt", "k=v", "-o", "parent=eth0", "--label", "team=net", "--label", "flag",
            "--scope", "local", "--config-from", "base", "x"])
        assert body == {
            "Driver": "macvlan", "Scope": "local", "EnableIPv6": True,
            "IPAM": {"Driver": "custom", "Options": {"k": "v"}, "Config": [
                {"Subnet": "10.0.0.0/24", "IPRange": "10.0.0.128/25", "Gateway": "10.0.0.254",
                 "AuxiliaryAddresses": {"host": "10.0.0.5"}}]},
            "Internal": True, "Attachable": True, "Ingress": False, "ConfigOnly": False,
            "ConfigFrom": {"Network": "base"}, "Options": {"parent": "eth0"},
            "Labels": {"team": "net", "flag": ""}, "Name": "x"}

    def test_enable_ipv4_and_ipv6_only_when_given(self):
        assert "EnableIPv6" not in create_body(["x"])
        assert create_body(["--ipv6=false", "x"])["EnableIPv6"] is False
        assert create_body(["--ipv4=false", "x"])["EnableIPv4"] is False

    def test_multiple_subnets_group_by_containment(self):
        body = create_body(["--subnet", "10.0.0.0/24,fd00::/64", "--subnet", "10.1.0.0/24",
                            "--gateway", "10.1.0.1", "--gateway", "fd00::1",
                            "--ip-range", "10.0.0.0/25", "--aux-address", "a=fd00::5", "x"])
        assert body["IPAM"]["Config"] == [
            {"Subnet": "10.0.0.0/24", "IPRange": "10.0.0.0/25"},
            {"Subnet": "fd00::/64", "Gateway": "fd00::1", "AuxiliaryAddresses": {"a": "fd00::5"}},
            {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"},
        ]

    @pytest.mark.parametrize("argv, message", [
        (["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.0/26", "--subnet", "10.1.0.0/24",
          "--ip-range", "10.0.0.64/26"],
         "cannot configure multiple ranges (10.0.0.64/26, 10.0.0.0/26) on the same subnet (10.0.0.0/24)"),
        (["--subnet", "10.0.0.0/24", "--gateway", "10.0.0.1", "--subnet", "10.1.0.0/24",
          "--gateway", "10.0.0.2"],
         "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/24)"),
        (["--ip-range", "10.0.0.0/25"], "every ip-range or gateway must have a corresponding subnet"),
        (["--subnet", "10.0.0.0/16", "--subnet", "10.0.1.0/24"],
         "multiple overlapping subnet configuration is not supported"),
        (["--subnet", "10.0.0.0/24", "--gateway", "10.9.0.1"], "no matching subnet for gateway 10.9.0.1"),
        (["--subnet", "10.0.0.0/24", "--ip-range", "10.9.0.0/25"], "no matching subnet for range 10.9.0.0/25"),
        (["--subnet", "10.0.0.0/24", "--aux-address", "a=10.9.0.1"],
         "no matching subnet for aux-address 10.9.0.1"),
        (["--subnet", "10.0.0.0/24", "--subnet", "bogus"], "invalid subnet: invalid CIDR address: bogus"),
        (["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.1"], "invalid CIDR address: 10.0.0.1"),
    ])
    def test_ipam_errors(self, argv, message):
        with pytest.raises(ClientError) as err:
            create_body(argv + ["x"])
        assert err.value.message == message

    def test_a_lone_subnet_is_validated_by_the_daemon(self):
        # As in docker: nothing to compare it with, so it is sent as typed.
        assert create_body(["--subnet", "bogus", "x"])["IPAM"]["Config"] == [{"Subnet": "bogus"}]


class TestConnectBodies:
    def test_plain_connect(self):
        opts, args, _ = parse("network connect", ["net1", " c1 "])
        assert json.dumps(bodies.network_connect_body(args[1], opts), separators=(",", ":")) == (
            '{"Container":"c1","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":[],'
            '"MacAddress":"","DriverOpts":{},"GwPriority":0,"NetworkID":"","EndpointID":"",'
            '"Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",'
            '"GlobalIPv6PrefixLen":0,"DNSNames":null}}')

    def test_connect_options(self):
        opts, args, _ = parse("network connect", [
            "--ip", "10.0.0.5", "--ip6", "fd00::5", "--alias", "a,b", "--link", "db:d",
            "--driver-opt", " k = v ", "--link-local-ip", "169.254.0.9", "--gw-priority", "-2",
            "net1", "c1"])
        ep = bodies.network_connect_body(args[1], opts)["EndpointConfig"]
        assert ep["IPAMConfig"] == {"IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5",
                                    "LinkLocalIPs": ["169.254.0.9"]}
        assert ep["Aliases"] == ["a", "b"] and ep["Links"] == ["db:d"]
        assert ep["DriverOpts"] == {"k": "v"} and ep["GwPriority"] == -2

    def test_bad_driver_opt(self):
        opts, args, _ = parse("network connect", ["--driver-opt", "novalue", "n", "c"])
        with pytest.raises(ClientError, match="invalid key/value pair format in driver options"):
            bodies.network_connect_body(args[1], opts)

    def test_disconnect(self):
        assert bodies.network_disconnect_body("c1", True) == {"Container": "c1", "Force": True}

    def test_filters_json(self):
        assert bodies.filters_json([]) is None
        assert bodies.filters_json(["Driver = bridge", "name=a", "name=b"]) == (
            '{"driver":{"bridge":true},"name":{"a":true,"b":true}}')


def sandbox_body(argv):
    opts, _, _ = parse("sandbox create", argv)
    return bodies.sandbox_create_body(opts)


class TestSandboxCreateBody:
    def test_defaults(self):
        assert sandbox_body([]) == {
            "Name": "", "Hostname": "", "NetnsPath": "", "Networks": [],
            "ExposedPorts": {}, "PortBindings": {}, "PublishAllPorts": False}

    def test_endpoint_options_go_to_the_first_network(self):
        body = sandbox_body(["--name", "web", "--hostname", "w1", "--network", "front",
                             "--network", "back", "--ip", "10.0.0.5", "--ip6", "fd00::5",
                             "--alias", "www", "--alias", "site", "--mac-address", "02:42:ac:11:00:02",
                             "--netns", "/run/netns/x"])
        assert body["Name"] == "web" and body["Hostname"] == "w1" and body["NetnsPath"] == "/run/netns/x"
        assert body["Networks"] == [
            {"Network": "front", "EndpointConfig": {
                "IPAMConfig": {"IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5"},
                "Aliases": ["www", "site"], "MacAddress": "02:42:ac:11:00:02", "DriverOpts": {}}},
            {"Network": "back", "EndpointConfig": {
                "IPAMConfig": {}, "Aliases": [], "MacAddress": "", "DriverOpts": {}}},
        ]

    def test_endpoint_options_without_network_use_bridge(self):
        assert [n["Network"] for n in sandbox_body(["--ip", "172.17.0.9"])["Networks"]] == ["bridge"]

    def test_special_network_modes_pass_through(self):
        assert sandbox_body(["--network", "container:web"])["Networks"][0]["Network"] == "container:web"

    @pytest.mark.parametrize("argv, message", [
        (["--alias", "x"], "network-scoped aliases are only supported for user-defined networks"),
        (["--network", "a", "--network", "a"], 'network "a" is specified multiple times'),
        (["--network", "a", "--mac-address", "zz"], "zz is not a valid mac address"),
        (["-p", "80:90-91"], "invalid ranges specified for container and host Ports: 90-91 and 80"),
        (["--expose", "1:2"], "invalid port format for --expose: 1:2"),
    ])
    def test_errors(self, argv, message):
        with pytest.raises(ClientError) as err:
            sandbox_body(argv)
        assert err.value.message == message

    def test_ports(self):
        body = sandbox_body(["-p", "8080:80", "-p", "127.0.0.1::53/udp", "--expose", "7000-7001",
                             "--expose", "80", "-P"])
        assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "7000/tcp": {}, "7001/tcp": {}}
        assert body["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        assert body["PublishAllPorts"] is True


# ------------------------------------------------------------------ ports

class TestPortSpecs:
    @pytest.mark.parametrize("spec, expected", [
        ("80", [("80/tcp", "", "")]),
        ("8080:80", [("80/tcp", "", "8080")]),
        ("127.0.0.1:8080:80", [("80/tcp", "127.0.0.1", "8080")]),
        ("8080:80/udp", [("80/udp", "", "8080")]),
        ("8080:80/SCTP", [("80/sctp", "", "8080")]),
        ("127.0.0.1::80", [("80/tcp", "127.0.0.1", "")]),
        ("[::1]:8080:80", [("80/tcp", "::1", "8080")]),
        ("::1:8080:80", [("80/tcp", "::1", "8080")]),
        ("8000-8002:80-82", [("80/tcp", "", "8000"), ("81/tcp", "", "8001"), ("82/tcp", "", "8002")]),
        ("8000-8010:80", [("80/tcp", "", "8000-8010")]),
        ("80-81", [("80/tcp", "", ""), ("81/tcp", "", "")]),
    ])
    def test_parse(self, spec, expected):
        got = [(port, b["HostIp"], b["HostPort"]) for port, b in ports.parse_port_spec(spec)]
        assert got == expected

    @pytest.mark.parametrize("spec, message", [
        ("8080:80/foo", "invalid proto: foo"),
        ("8080:", "invalid proto: "),
        ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
        ("abc", "invalid containerPort: abc"),
        ("70000", "invalid containerPort: 70000"),
        ("x:80", "invalid hostPort: x"),
        ("85-80", "invalid containerPort: 85-80"),
        ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    ])
    def test_errors(self, spec, message):
        with pytest.raises(ports.PortSpecError) as err:
            ports.parse_port_spec(spec)
        assert str(err.value) == message

    def test_specs_merge_bindings(self):
        exposed, bindings = ports.parse_port_specs(["8080:80", "127.0.0.1:9090:80"])
        assert exposed == {"80/tcp": {}}
        assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"},
                                       {"HostIp": "127.0.0.1", "HostPort": "9090"}]}

    def test_long_syntax(self):
        assert ports.to_standard_notation(["published=8080,target=80", "target=53,protocol=udp"]) == [
            "8080:80/tcp", ":53/udp"]
        with pytest.raises(ports.PortSpecError, match="should be name=value but got 'bad'"):
            ports.to_standard_notation(["target=80,bad"])

    def test_expose(self):
        assert ports.parse_expose(["80", "90-91/udp"], {}) == {"80/tcp": {}, "90/udp": {}, "91/udp": {}}
        with pytest.raises(ports.PortSpecError) as err:
            ports.parse_expose(["x"], {})
        assert str(err.value) == ('invalid range format for --expose: x, error: '
                                  'strconv.ParseUint: parsing "x": invalid syntax')


# ------------------------------------------------------------------ whole commands

@pytest.fixture
def daemon():
    d = FakeDaemon()
    yield d
    d.close()


def cnm(daemon, *argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    host = "unix://" + (daemon.path if daemon else "/nonexistent/cnm.sock")
    status = cli_run(["-H", host] + list(argv), out, err, io.StringIO(stdin))
    return status, out.getvalue(), err.getvalue()


NET_ID = "7" * 64


class TestCommands:
    def test_create_prints_the_id(self, daemon):
        daemon.routes[("POST", "/networks/create")] = (201, {"Id": NET_ID, "Warning": ""})
        assert cnm(daemon, "network", "create", "--subnet", "10.5.0.0/24", "n1") == (0, NET_ID + "\n", "")
        req = daemon.requests[0]
        assert req["path"] == "/networks/create" and req["content_type"] == "application/json"
        assert req["body"]["IPAM"]["Config"] == [{"Subnet": "10.5.0.0/24"}]

    def test_daemon_error_message_and_status(self, daemon):
        daemon.routes[("POST", "/networks/create")] = (409, {"message": "network with name n1 already exists"})
        assert cnm(daemon, "network", "create", "n1") == (
            1, "", "Error response from daemon: network with name n1 already exists\n")

    def test_non_json_error_body(self, daemon):
        daemon.routes[("GET", "/networks")] = (500, b"boom")
        assert cnm(daemon, "network", "ls")[2] == "Error response from daemon: boom\n"

    def test_no_daemon(self):
        status, out, err = cnm(None, "network", "ls")
        assert status == 1 and out == ""
        assert err.startswith("Cannot connect to the cnm daemon at unix:///nonexistent/cnm.sock.")
        assert "Is cnmd running?" in err

    def test_ls_sends_filters(self, daemon):
        daemon.routes[("GET", "/networks")] = (200, [{"Id": NET_ID, "Name": "n1", "Driver": "bridge",
                                                      "Scope": "local"}])
        status, out, _ = cnm(daemon, "network", "ls", "-f", "driver=bridge")
        assert status == 0 and out.splitlines()[1] == "777777777777   n1        bridge    local"
        assert daemon.requests[0]["path"] == (
            "/networks?filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D")

    def test_inspect_prints_found_ones_then_errors(self, daemon):
        daemon.routes[("GET", "/networks/n1")] = (200, {"Name": "n1"})
        daemon.routes[("GET", "/networks/zz")] = (404, {"message": "network zz not found"})
        assert cnm(daemon, "network", "inspect", "n1", "zz") == (
            1, '[\n    {\n        "Name": "n1"\n    }\n]\n',
            "Error response from daemon: network zz not found\n")

    def test_inspect_bad_template_exits_64_before_any_request(self, daemon):
        status, _, err = cnm(daemon, "network", "inspect", "-f", "{{.Name", "n1")
        assert status == 64 and err == "template parsing error: template: :1: unclosed action\n"
        assert daemon.requests == []

    def test_rm_force_ignores_missing(self, daemon):
        daemon.routes[("DELETE", "/networks/a")] = (204, None)
        daemon.routes[("DELETE", "/networks/gone")] = (404, {"message": "network gone not found"})
        assert cnm(daemon, "network", "rm", "a", "gone") == (
            1, "a\n", "Error response from daemon: network gone not found\n")
        assert cnm(daemon, "network", "rm", "-f", "gone", "a") == (0, "a\n", "")

    def test_prune_prompts_and_reports(self, daemon):
        daemon.routes[("POST", "/networks/prune")] = (200, {"NetworksDeleted": ["n1", "n2"]})
        status, out, _ = cnm(daemon, "network", "prune", stdin="n\n")
        assert status == 0 and daemon.requests == []
        assert out == ("WARNING! This will remove all custom networks not used by at least one "
                       "container.\nAre you sure you want to continue? [y/N] ")
        status, out, _ = cnm(daemon, "network", "prune", "-f", "--filter", "label=a")
        assert out == "Deleted Networks:\nn1\nn2\n\n"
        assert daemon.requests[0]["path"] == "/networks/prune?filters=%7B%22label%22%3A%7B%22a%22%3Atrue%7D%7D"

    def test_connect_and_disconnect(self, daemon):
        daemon.routes[("POST", "/networks/n1/connect")] = (200, None)
        daemon.routes[("POST", "/networks/n1/disconnect")] = (200, None)
        assert cnm(daemon, "network", "connect", "--ip", "10.0.0.9", "n1", "sb") == (0, "", "")
        assert cnm(daemon, "network", "disconnect", "-f", "n1", "sb") == (0, "", "")
        assert daemon.requests[0]["body"]["EndpointConfig"]["IPAMConfig"] == {"IPv4Address": "10.0.0.9"}
        assert daemon.requests[1]["body"] == {"Container": "sb", "Force": True}

    def test_sandbox_create_ls_rm(self, daemon):
        sid = "5" * 64
        daemon.routes[("POST", "/sandboxes/create")] = (201, {"Id": sid})
        daemon.routes[("GET", "/sandboxes")] = (200, [{"Id": sid, "Name": "sb", "Networks": {"n1": {}}}])
        daemon.routes[("DELETE", "/sandboxes/sb")] = (204, None)
        assert cnm(daemon, "sandbox", "create", "--name", "sb", "--network", "n1") == (0, sid + "\n", "")
        assert cnm(daemon, "sandbox", "ls")[1] == (
            "SANDBOX ID     NAME      NETWORKS\n555555555555   sb        n1\n")
        assert cnm(daemon, "sandbox", "rm", "-f", "sb") == (0, "sb\n", "")
        assert daemon.requests[-1]["path"] == "/sandboxes/sb?force=1"

    def test_sandbox_rm_conflict(self, daemon):
        daemon.routes[("DELETE", "/sandboxes/sb")] = (409, {"message": "sandbox sb is connected to networks"})
        assert cnm(daemon, "sandbox", "rm", "sb") == (
            1, "", "Error response from daemon: sandbox sb is connected to networks\n")

    def test_sandbox_create_client_errors_exit_125(self, daemon):
        status, _, err = cnm(daemon, "sandbox", "create", "--alias", "a")
        assert status == 125 and "only supported for user-defined networks" in err
        assert daemon.requests == []

    def test_port(self, daemon):
        daemon.routes[("GET", "/sandboxes/sb")] = (200, {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0",
                                                                               "HostPort": "8080"}]}})
        assert cnm(daemon, "port", "sb") == (0, "80/tcp -> 0.0.0.0:8080\n", "")
        assert cnm(daemon, "port", "sb", "81")[0] == 1

    def test_usage_errors_exit_125(self, daemon):
        assert cnm(daemon, "network", "create")[0] == 125
        assert cnm(daemon, "network", "ls", "--bogus")[0] == 125
        assert cnm(daemon, "bogus")[0] == 125
        assert cnm(daemon, "exec", "sb")[0] == 125
        assert cnm(daemon, "exec", "sb", "--")[0] == 125
        assert daemon.requests == []

    def test_help_and_version(self, daemon):
        status, out, _ = cnm(daemon, "--help")
        assert status == 0 and "Usage:  cnm [OPTIONS] COMMAND" in out and "network" in out
        status, out, _ = cnm(daemon, "network")
        assert status == 0 and "Usage:  cnm network COMMAND" in out
        status, out, _ = cnm(daemon, "--version")
        assert status == 0 and out.startswith("cnm version ")

    def test_version_command(self, daemon):
        daemon.routes[("GET", "/version")] = (200, {"Version": "9.9", "ApiVersion": "1.45",
                                                    "Os": "linux", "Arch": "amd64"})
        status, out, _ = cnm(daemon, "version", "--format", "{{.Server.Version}} {{.Client.ApiVersion}}")
        assert (status, out) == (0, "9.9 1.45\n")

    def test_daemon_error_class(self):
        err = DaemonError(404, "network x not found")
        assert str(err) == "Error response from daemon: network x not found" and err.status == 404


class TestExecWiring:
    """cnm exec without root: the namespace entry and exec are replaced by recorders."""

    SBOX = {"Id": "9" * 64, "Name": "sb", "Hostname": "sbhost", "SandboxKey": "/run/netns/sb",
            "ResolvConfPath": "/x/resolv.conf", "HostsPath": "/x/hosts", "HostnamePath": ""}

    @pytest.fixture
    def recorder(self, monkeypatch):
        from libnetwork.cli import nsexec

        calls = []
        monkeypatch.setattr(nsexec, "enter", lambda view: calls.append(("enter", vars(view))))

        def fake_execvp(prog, argv):
            calls.append(("execvp", prog, argv))
            raise SystemExit(0)

        def fake_execvpe(prog, argv, env):
            calls.append(("execvpe", prog, argv, env.get("FOO")))
            raise SystemExit(0)

        monkeypatch.setattr(os, "execvp", fake_execvp)
        monkeypatch.setattr(os, "execvpe", fake_execvpe)
        return calls

    def test_enters_the_sandbox_view_then_execs(self, daemon, recorder):
        daemon.routes[("GET", "/sandboxes/sb")] = (200, self.SBOX)
        with pytest.raises(SystemExit):
            cnm(daemon, "exec", "sb", "--", "cat", "/etc/hosts")
        assert recorder == [
            ("enter", {"netns_path": "/run/netns/sb", "hostname": "sbhost",
                       "resolv_conf": "/x/resolv.conf", "hosts": "/x/hosts", "hostname_file": ""}),
            ("execvp", "cat", ["cat", "/etc/hosts"]),
        ]

    def test_env_flags(self, daemon, recorder, monkeypatch):
        daemon.routes[("GET", "/sandboxes/sb")] = (200, self.SBOX)
        monkeypatch.setenv("FROM_HOST", "1")
        with pytest.raises(SystemExit):
            cnm(daemon, "exec", "-e", "FOO=bar", "sb", "env")
        assert recorder[-1] == ("execvpe", "env", ["env"], "bar")

    def test_missing_sandbox_is_a_daemon_error(self, daemon, recorder):
        daemon.routes[("GET", "/sandboxes/nope")] = (404, {"message": "No such sandbox: nope"})
        assert cnm(daemon, "exec", "nope", "true") == (1, "", "Error response from daemon: No such sandbox: nope\n")
        assert recorder == []

    def test_command_not_found_exits_127(self, daemon, monkeypatch):
        from libnetwork.cli import nsexec

        daemon.routes[("GET", "/sandboxes/sb")] = (200, self.SBOX)
        monkeypatch.setattr(nsexec, "enter", lambda view: None)
        status, _, err = cnm(daemon, "exec", "sb", "/nonexistent/cmd")
        assert status == 127 and 'exec: "/nonexistent/cmd": executable file not found' in err

    def test_exec_env(self):
        from libnetwork.cli.sandbox import exec_env

        env = exec_env(["A=1", "B", "C"], {"B": "2", "PATH": "/bin"})
        assert env == {"A": "1", "B": "2", "PATH": "/bin"}
