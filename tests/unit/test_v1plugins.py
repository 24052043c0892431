"""Docker's v1 plugin mechanism: discovery, the HTTP client's wire rules, waiting and errors, activation."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from libnetwork import errors
from libnetwork.v1plugins import MIMETYPE, BadSpec, PluginClient, Registry, locate
from libnetwork.v1plugins.client import backoff
from libnetwork.v1plugins.discovery import PluginSpec

from .plugin_server import FakePlugin, serve


@pytest.fixture
def plugin_dir(tmp_path):
    # AF_UNIX paths are short (108 bytes): pytest's tmp_path can be long.
    short = f"/tmp/cnmp-{os.getpid()}-{time.monotonic_ns() % 10**8}"
    os.makedirs(short)
    yield short
    for root, dirs, files in os.walk(short, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(short)


def listening(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    return sock


# -- discovery ---------------------------------------------------------------------

def test_socket_first_then_spec_then_json(plugin_dir):
    with open(os.path.join(plugin_dir, "p.json"), "w") as f:
        json.dump({"Name": "p", "Addr": "https://example.com:9443"}, f)
    assert locate("p", [plugin_dir]).addr == "https://example.com:9443"
    with open(os.path.join(plugin_dir, "p.spec"), "w") as f:
        f.write("tcp://127.0.0.1:8080\n")
    assert locate("p", [plugin_dir]).addr == "tcp://127.0.0.1:8080"
    sock = listening(os.path.join(plugin_dir, "p.sock"))
    try:
        spec = locate("p", [plugin_dir])
        assert spec.addr == f"unix://{plugin_dir}/p.sock"
    finally:
        sock.close()


def test_socket_in_a_directory_of_its_own_and_directory_order(plugin_dir, tmp_path):
    os.makedirs(os.path.join(plugin_dir, "q"))
    sock = listening(os.path.join(plugin_dir, "q", "q.sock"))
    other = tmp_path / "specs"
    other.mkdir()
    (other / "q.spec").write_text("unix:///elsewhere.sock")
    try:
        # Sockets in any directory come before spec files in any directory.
        assert locate("q", [str(other), plugin_dir]).addr == f"unix://{plugin_dir}/q/q.sock"
    finally:
        sock.close()


def test_a_plain_file_named_sock_is_not_a_plugin(plugin_dir):
    open(os.path.join(plugin_dir, "fake.sock"), "w").close()
    assert locate("fake", [plugin_dir]) is None


def test_names_that_are_paths_are_not_looked_up(plugin_dir):
    with open(os.path.join(plugin_dir, "x.spec"), "w") as f:
        f.write("unix:///x.sock")
    sub = os.path.join(plugin_dir, "sub")
    os.makedirs(sub)
    assert locate("../x", [sub]) is None
    assert locate("", [plugin_dir]) is None
    assert locate("x", [plugin_dir]).addr == "unix:///x.sock"


def test_json_spec_tls_as_docker_reads_it(plugin_dir):
    with open(os.path.join(plugin_dir, "t.json"), "w") as f:
        json.dump({"Name": "t", "Addr": "https://h:1", "TLSConfig": {"CertFile": "c", "KeyFile": "k"}}, f)
    spec = locate("t", [plugin_dir])
    # No CAFile: Docker cannot verify the server, so it does not try.
    assert spec.tls.insecure_skip_verify and spec.tls.cert_file == "c" and spec.tls.key_file == "k"
    with open(os.path.join(plugin_dir, "t.json"), "w") as f:
        json.dump({"Addr": "https://h:1", "TLSConfig": {"CAFile": "/ca.pem"}}, f)
    assert locate("t", [plugin_dir]).tls.insecure_skip_verify is False
    with open(os.path.join(plugin_dir, "t.json"), "w") as f:
        json.dump({"Addr": "tcp://h:1"}, f)
    assert locate("t", [plugin_dir]).tls is None


@pytest.mark.parametrize("content", ["localhost:8080", "ftp://h/", ""])
def test_bad_spec_files(plugin_dir, content):
    with open(os.path.join(plugin_dir, "b.spec"), "w") as f:
        f.write(content)
    with pytest.raises(BadSpec, match="b.spec"):
        locate("b", [plugin_dir])


def test_bad_json_spec(plugin_dir):
    with open(os.path.join(plugin_dir, "j.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(BadSpec, match="invalid JSON"):
        locate("j", [plugin_dir])


# -- the client --------------------------------------------------------------------

@pytest.fixture
def fake(plugin_dir):
    plugin = FakePlugin()
    path = os.path.join(plugin_dir, "fake.sock")
    server = serve(path, plugin)
    yield plugin, path
    server.shutdown()
    server.server_close()


def client_for(path: str, **kwargs) -> PluginClient:
    return PluginClient("fake", lambda: PluginSpec("fake", "unix://" + path), **kwargs)


def test_request_shape(fake):
    plugin, path = fake
    plugin.routes["NetworkDriver.Leave"] = lambda body: {}
    plugin.routes["Plugin.Activate"] = lambda body: {"Implements": ["NetworkDriver"]}
    client = client_for(path)
    assert client.call("NetworkDriver.Leave", {"NetworkID": "n", "EndpointID": "e"}) == {}
    seen = plugin.last("NetworkDriver.Leave")
    assert seen.headers["accept"] == MIMETYPE == "application/vnd.docker.plugins.v1.2+json"
    assert seen.headers["content-type"] == MIMETYPE
    assert seen.headers["host"] == "plugin.moby.localhost"
    assert seen.body == {"NetworkID": "n", "EndpointID": "e"}
    client.call("Plugin.Activate")
    assert plugin.last("Plugin.Activate").raw == b""


def test_error_replies(fake):
    plugin, path = fake
    plugin.routes["A"] = lambda body: (500, b'{"Err": "no such network"}')
    plugin.routes["B"] = lambda body: (400, b"bad request body")
    plugin.routes["C"] = lambda body: {"Err": "refused"}
    plugin.routes["D"] = lambda body: (200, b"{oops")
    plugin.routes["E"] = lambda body: (200, b"")
    plugin.routes["F"] = lambda body: (200, b"[1]")
    client = client_for(path)
    with pytest.raises(errors.PluginError) as err:
        client.call("A")
    assert err.value.message == 'remote plugin "fake": A: no such network' and err.value.status == 500
    assert err.value.plugin_status == 500
    with pytest.raises(errors.PluginError, match=r'^remote plugin "fake": B: bad request body$'):
        client.call("B")
    with pytest.raises(errors.PluginError, match=r'^remote plugin "fake": C: refused$'):
        client.call("C", error_field="Err")
    assert client.call("C", error_field="Error") == {"Err": "refused"}
    with pytest.raises(errors.PluginError, match="D: invalid reply: not JSON"):
        client.call("D")
    with pytest.raises(errors.PluginError, match="E: invalid reply: empty reply"):
        client.call("E")
    with pytest.raises(errors.PluginError, match="F: invalid reply: expected a JSON object"):
        client.call("F")
    with pytest.raises(errors.PluginError) as err:
        client.call("Missing")
    assert err.value.plugin_status == 404


def test_slow_plugin_times_out(fake):
    plugin, path = fake
    plugin.routes["Slow"] = lambda body: time.sleep(2) or {}
    client = client_for(path, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(errors.PluginUnavailable, match=r'remote plugin "fake": Slow: no answer within 0.3s') as err:
        client.call("Slow")
    assert time.monotonic() - start < 1.5
    assert err.value.status == 503


def test_plugin_dying_mid_call(fake):
    plugin, path = fake
    plugin.routes["Die"] = lambda body: (None, b"")
    with pytest.raises(errors.PluginUnavailable, match=r'remote plugin "fake": Die: connection lost'):
        client_for(path).call("Die")


def test_connect_is_retried_with_dockers_backoff_until_the_window_closes(plugin_dir):
    assert [backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    client = PluginClient("gone", lambda: PluginSpec("gone", f"unix://{plugin_dir}/gone.sock"),
                          retry_window=30, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(errors.PluginUnavailable, match=r'remote plugin "gone": X: cannot connect to unix://'):
        client.call("X")
    # Docker's schedule: tries at 0, 1, 3, 7 and 15 s, then 16 more would pass 30.
    assert sleeps == [1, 2, 4, 8]


def test_a_plugin_that_comes_up_while_retrying_is_used(plugin_dir):
    plugin = FakePlugin({"X": lambda body: {"ok": True}})
    path = os.path.join(plugin_dir, "late.sock")
    servers = []

    def sleep(seconds):
        servers.append(serve(path, plugin))

    client = PluginClient("late", lambda: PluginSpec("late", "unix://" + path), retry_window=30, sleep=sleep)
    try:
        assert client.call("X") == {"ok": True}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_request_that_was_sent_is_never_sent_again(fake):
    plugin, path = fake
    plugin.routes["Once"] = lambda body: (None, b"")
    with pytest.raises(errors.PluginUnavailable):
        client_for(path, sleep=lambda s: None).call("Once", {"x": 1})
    assert plugin.calls() == ["Once"]


# -- the registry ------------------------------------------------------------------

def test_activation_once_and_implements(fake, plugin_dir):
    plugin, _path = fake
    plugin.routes["Plugin.Activate"] = lambda body: {"Implements": ["NetworkDriver"]}
    registry = Registry((plugin_dir,), timeout=2)
    client = registry.get("fake", "NetworkDriver")
    assert registry.get("fake", "NetworkDriver") is client
    assert plugin.calls() == ["Plugin.Activate"]
    with pytest.raises(errors.PluginError) as err:
        registry.get("fake", "IpamDriver")
    assert err.value.message == ('legacy plugin: Plugin does not implement the requested driver: '
                                 'plugin="fake", requested implementation="IpamDriver"')


def test_unknown_name_fails_at_once_with_dockers_text(plugin_dir):
    start = time.monotonic()
    with pytest.raises(errors.NotFound) as err:
        Registry((plugin_dir,)).get("nosuch", "NetworkDriver")
    assert err.value.message == "could not find plugin nosuch in v1 plugin registry: plugin not found"
    assert time.monotonic() - start < 0.5


def test_failed_activation_is_not_kept(fake, plugin_dir):
    plugin, _path = fake
    plugin.routes["Plugin.Activate"] = lambda body: (500, b'{"Err": "starting"}')
    registry = Registry((plugin_dir,), timeout=2)
    with pytest.raises(errors.PluginError, match='remote plugin "fake": Plugin.Activate: starting'):
        registry.get("fake", "NetworkDriver")
    plugin.routes["Plugin.Activate"] = lambda body: {"Implements": ["NetworkDriver", "IpamDriver"]}
    registry.get("fake", "IpamDriver")
    assert plugin.calls() == ["Plugin.Activate", "Plugin.Activate"]
