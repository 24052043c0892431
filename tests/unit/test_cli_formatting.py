"""The CLI's output: Go template subset, Go value printing, tables, inspect.

Expected strings come from Go's text/template and fmt behaviour and from the
docker CLI's own formatter tests (cli/command/network/formatter_test.go).
"""

import json

import pytest

from libnetwork.cli import gotypes
from libnetwork.cli.tables import natural_key, natural_less, render, tabwrite, truncate_id
from libnetwork.cli.views import (
    compact_json,
    filter_sandboxes,
    indent_json,
    inspect_text,
    network_list_text,
    port_text,
    sandbox_list_text,
)
from libnetwork.gotemplate import HEADER_FUNCS, TemplateError, go_json, go_string, go_time_string, parse


def run(template, data, **kw):
    return parse(template).execute(data, **kw)


NET = {
    "Name": "net1",
    "Id": "4d3b1f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
    "Created": "2024-05-01T10:20:30.120000000Z",
    "Scope": "local",
    "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": None,
             "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]},
    "Internal": False,
    "Attachable": False,
    "Ingress": False,
    "ConfigFrom": {"Network": ""},
    "ConfigOnly": False,
    "Containers": {
        "c2": {"Name": "web", "EndpointID": "e2", "MacAddress": "02:42:ac:12:00:03",
               "IPv4Address": "172.18.0.3/16", "IPv6Address": ""},
        "c1": {"Name": "db", "EndpointID": "e1", "MacAddress": "02:42:ac:12:00:02",
               "IPv4Address": "172.18.0.2/16", "IPv6Address": ""},
    },
    "Options": {"com.docker.network.bridge.name": "br-net1", "a": "1"},
    "Labels": {},
}


# ------------------------------------------------------------- template engine

class TestTemplateBasics:
    def test_field_and_nested_field(self):
        assert run("{{.Name}}", NET) == "net1"
        assert run("{{.IPAM.Driver}}", NET) == "default"

    def test_text_around_actions_and_tab(self):
        assert run("{{.Name}}\t{{.Driver}}!", NET) == "net1\tbridge!"

    def test_json_function_is_compact_and_keeps_html(self):
        assert run("{{json .IPAM.Config}}", NET) == '[{"Gateway":"172.18.0.1","Subnet":"172.18.0.0/16"}]'
        assert run("{{json .X}}", {"X": "<a&b>"}) == '"<a&b>"'
        assert run("{{json .}}", {"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'

    def test_range_over_map_visits_sorted_keys(self):
        assert run("{{range .Containers}}{{.Name}} {{end}}", NET) == "db web "

    def test_range_with_key_and_value(self):
        out = run('{{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}', NET)
        assert out == "a=1;com.docker.network.bridge.name=br-net1;"

    def test_range_over_list_with_index_and_else(self):
        assert run("{{range $i, $c := .IPAM.Config}}{{$i}}:{{$c.Subnet}}{{end}}", NET) == "0:172.18.0.0/16"
        assert run("{{range .L}}x{{else}}empty{{end}}", {"L": []}) == "empty"
        assert run("{{range .Nope}}x{{else}}none{{end}}", {}) == "none"

    def test_range_break_and_continue(self):
        data = {"L": [1, 2, 3, 4]}
        assert run("{{range .L}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}", data) == "12"
        assert run("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", data) == "134"

    def test_index_on_map_and_list(self):
        assert run('{{index .Options "com.docker.network.bridge.name"}}', NET) == "br-net1"
        assert run("{{(index .IPAM.Config 0).Gateway}}", NET) == "172.18.0.1"
        assert run('{{index .Options "missing"}}', NET) == "<no value>"

    def test_if_else_if_else(self):
        tmpl = "{{if .A}}a{{else if .B}}b{{else}}c{{end}}"
        assert run(tmpl, {"A": 1, "B": 1}) == "a"
        assert run(tmpl, {"A": 0, "B": "x"}) == "b"
        assert run(tmpl, {"A": "", "B": []}) == "c"

    def test_with_sets_dot_and_else(self):
        assert run("{{with .IPAM}}{{.Driver}}{{end}}", NET) == "default"
        assert run("{{with .Labels}}x{{else}}no labels{{end}}", NET) == "no labels"

    def test_variables_and_root(self):
        assert run("{{$n := .Name}}{{range .IPAM.Config}}{{$n}} {{$.Driver}}{{end}}", NET) == "net1 bridge"

    def test_pipes_pass_the_last_argument(self):
        assert run("{{.Name | upper}}", NET) == "NET1"
        assert run('{{.Name | printf "%s-x"}}', NET) == "net1-x"

    def test_trim_markers_and_comments(self):
        assert run("a  {{- .Name -}}  b", NET) == "anet1b"
        assert run("{{/* a comment */}}x{{- /* trimmed */ -}} y", NET) == "xy"

    def test_string_literals(self):
        assert run('{{"a\\tb"}}', {}) == "a\tb"
        assert run("{{`raw\\n`}}", {}) == "raw\\n"
        assert run("{{len \"héllo\"}}", {}) == "5"


class TestTemplateFunctions:
    @pytest.mark.parametrize("template, expected", [
        ('{{join .L ","}}', "a,b"),
        ('{{join (split "x:y" ":") "-"}}', "x-y"),
        ("{{lower .S}}", "hello world"),
        ("{{upper .S}}", "HELLO WORLD"),
        ("{{title .T}}", "Hello World-Foo"),
        ("{{pad .S 2 1}}|", "  Hello World |"),
        ('{{pad "" 2 1}}|', "|"),
        ("{{truncate .S 5}}", "Hello"),
        ("{{truncate .S 50}}", "Hello World"),
        ("{{len .L}}", "2"),
        ('{{printf "%s=%d %v %q" "a" 3 .L "x"}}', 'a=3 [a b] "x"'),
        ("{{print 1 2 \"a\" 3}}", "1 2a3"),
        ("{{println .S}}", "Hello World\n"),
        ("{{if and .S .L}}y{{end}}", "y"),
        ("{{if or .Missing .S}}y{{end}}", "y"),
        ("{{and 1 0 2}}", "0"),
        ("{{or 0 \"\" 3}}", "3"),
        ("{{not .L}}", "false"),
        ("{{if eq .N 3 4}}y{{end}}", "y"),
        ("{{ne .N 4}} {{ne .N 3}}", "true false"),
        ("{{lt .N 4}} {{le .N 3}} {{gt .N 3}} {{ge .N 3}}", "true true false true"),
        ("{{slice .L 1}}", "[b]"),
    ])
    def test_function(self, template, expected):
        data = {"L": ["a", "b"], "S": "Hello World", "T": "hello world-foo", "N": 3}
        assert run(template, data) == expected

    def test_header_functions_keep_the_column_name(self):
        tmpl = parse("{{upper .Name}}\t{{json .ID}}\t{{truncate .Driver 2}}")
        assert tmpl.execute({"Name": "NAME", "ID": "ID", "Driver": "DRIVER"},
                            funcs=HEADER_FUNCS) == "NAME\tID\tDRIVER"


class TestGoValuePrinting:
    @pytest.mark.parametrize("value, expected", [
        ({"b": "2", "a": "1"}, "map[a:1 b:2]"),
        ([1, "x", True], "[1 x true]"),
        ([], "[]"),
        ({}, "map[]"),
        ([{"k": None}], "[map[k:<nil>]]"),
        (1000000.0, "1e+06"),
        (123456.0, "123456"),
        (0.5, "0.5"),
        (3.0, "3"),
        (1e-05, "1e-05"),
        (False, "false"),
    ])
    def test_go_string(self, value, expected):
        assert go_string(value) == expected

    def test_null_and_missing_print_no_value(self):
        assert run("{{.A}}|{{.B}}", {"A": None}) == "<no value>|<no value>"

    def test_time_string(self):
        assert go_time_string("2024-05-01T10:20:30.120000000Z") == "2024-05-01 10:20:30.12 +0000 UTC"
        assert go_time_string("2016-01-01T00:00:00Z") == "2016-01-01 00:00:00 +0000 UTC"
        assert go_time_string("2024-05-01T10:20:30+02:00") == "2024-05-01 10:20:30 +0200 +0200"

    def test_go_json_of_nested_maps_sorts_keys(self):
        assert go_json({"z": {"b": 1, "a": 2}}) == '{"z":{"a":2,"b":1}}'


class TestTemplateErrors:
    @pytest.mark.parametrize("template, message", [
        ("{{InvalidFunction}}", 'template: :1: function "InvalidFunction" not defined'),
        ("{{.Name", "template: :1: unclosed action"),
        ("{{if .X}}", "template: :1: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("a\n{{foo}}", 'template: :2: function "foo" not defined'),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{$x}}", "template: :1: undefined variable '$x'"),
        ("{{define \"x\"}}{{end}}", "template: :1: {{define}} is not supported"),
    ])
    def test_parse_errors(self, template, message):
        with pytest.raises(TemplateError) as err:
            parse(template)
        assert str(err.value) == message

    def test_nil_is_not_a_command(self):
        with pytest.raises(TemplateError) as err:
            run("{{nil}}", {})
        assert str(err.value) == 'template: :1:2: executing "" at <nil>: nil is not a command'

    def test_missing_key_with_missingkey_error(self):
        with pytest.raises(TemplateError) as err:
            run("x {{.Foo}}", {"A": 1}, missing_error=True)
        assert str(err.value) == 'template: :1:4: executing "" at <.Foo>: map has no entry for key "Foo"'

    def test_field_of_null_fails(self):
        with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}\.B"):
            run("{{.A.B}}", {"A": None})

    def test_field_of_string_fails(self):
        with pytest.raises(TemplateError, match="can't evaluate field X in type string"):
            run("{{.A.X}}", {"A": "s"})

    def test_index_out_of_range(self):
        with pytest.raises(TemplateError, match="error calling index: index out of range: 5"):
            run("{{index .L 5}}", {"L": [1]})

    def test_range_over_string_fails(self):
        with pytest.raises(TemplateError, match="range can't iterate over abc"):
            run("{{range .S}}{{end}}", {"S": "abc"})


# ------------------------------------------------------------- typed inspect

class TestTypedNetwork:
    def typed(self, data=NET):
        return gotypes.typed(data, "network.Inspect")

    def test_struct_printing_like_go(self):
        assert run("{{.IPAM.Config}}", self.typed()) == "[{172.18.0.0/16  172.18.0.1 map[]}]"
        assert run("{{.IPAM}}", self.typed()) == "{default map[] [{172.18.0.0/16  172.18.0.1 map[]}]}"
        assert run("{{.ConfigFrom}}", self.typed()) == "{}"

    def test_go_field_names_and_time(self):
        assert run("{{.ID}}", self.typed()) == NET["Id"]
        assert run("{{.Created}}", self.typed()) == "2024-05-01 10:20:30.12 +0000 UTC"
        assert run("{{.IPAM.Config}}", self.typed()) != run("{{.IPAM.Config}}", NET)

    def test_json_key_is_not_a_go_field(self):
        with pytest.raises(TemplateError, match="can't evaluate field Id in type network.Inspect"):
            run("{{.Id}}", self.typed())

    def test_typed_map_index_gives_zero_value(self):
        assert run('{{index .Options "nope"}}|', self.typed()) == "|"
        assert run('{{index .IPAM.Options "nope"}}|', self.typed()) == "|"

    def test_json_of_typed_values(self):
        assert run("{{json .IPAM}}", self.typed()) == (
            '{"Driver":"default","Options":null,"Config":[{"Subnet":"172.18.0.0/16",'
            '"Gateway":"172.18.0.1"}]}')
        assert run("{{json .Options}}", self.typed()) == (
            '{"a":"1","com.docker.network.bridge.name":"br-net1"}')

    def test_absent_enable_ipv4_reads_true(self):
        assert run("{{.EnableIPv4}} {{.EnableIPv6}}", self.typed()) == "true false"


# ------------------------------------------------------------- tables

class TestTabwriter:
    def test_columns_padded_by_three_with_min_width_ten(self):
        text = "NETWORK ID\tNAME\tDRIVER\tSCOPE\n0123456789ab\tbridge\tbridge\tlocal\n"
        assert tabwrite(text) == (
            "NETWORK ID     NAME      DRIVER    SCOPE\n"
            "0123456789ab   bridge    bridge    local\n")

    def test_last_cell_is_not_padded(self):
        assert tabwrite("a\tb\n") == "a         b\n"

    def test_line_without_cells_breaks_the_column_block(self):
        text = "aaaaaaaaaaaa\tb\nplain\nc\td\n"
        assert tabwrite(text) == "aaaaaaaaaaaa   b\nplain\nc         d\n"

    def test_ragged_rows(self):
        text = "a\tbbbbbbbbbbbb\tc\nd\te\n"
        assert tabwrite(text) == "a         bbbbbbbbbbbb   c\nd         e\n"


class TestNaturalSort:
    def test_numbers_compare_by_value(self):
        names = ["network-10-foo", "network-2-foo", "network-1-foo"]
        assert sorted(names, key=natural_key) == ["network-1-foo", "network-2-foo", "network-10-foo"]

    def test_digits_before_letters_and_leading_zeros(self):
        assert natural_less("1a", "a")
        assert natural_less("2", "02")
        assert not natural_less("abc", "abc")
        assert natural_less("abc", "abcd")

    def test_truncate_id(self):
        assert truncate_id("sha256:0123456789abcdef") == "0123456789ab"
        assert truncate_id("short") == "short"


DOCKER_NETS = [
    {"Id": "networkID1", "Name": "foobar_baz", "Driver": "foo", "Scope": "local",
     "Created": "2016-01-01T00:00:00Z"},
    {"Id": "networkID2", "Name": "foobar_bar", "Driver": "bar", "Scope": "local",
     "Created": "2017-01-01T00:00:00Z"},
]


class TestNetworkList:
    """Cases from docker's TestNetworkContextWrite (rows are sorted here)."""

    def test_default_table(self):
        assert network_list_text(DOCKER_NETS) == (
            "NETWORK ID   NAME         DRIVER    SCOPE\n"
            "networkID2   foobar_bar   bar       local\n"
            "networkID1   foobar_baz   foo       local\n")

    def test_sixty_four_char_ids_are_truncated(self):
        nets = [{"Id": "f" * 64, "Name": "bridge", "Driver": "bridge", "Scope": "local"}]
        assert network_list_text(nets) == (
            "NETWORK ID     NAME      DRIVER    SCOPE\n"
            "ffffffffffff   bridge    bridge    local\n")
        assert network_list_text(nets, quiet=True) == "ffffffffffff\n"
        assert network_list_text(nets, quiet=True, trunc=False) == "f" * 64 + "\n"

    def test_quiet(self):
        assert network_list_text(DOCKER_NETS, quiet=True) == "networkID2\nnetworkID1\n"

    def test_custom_table_keeps_header_even_when_quiet(self):
        expected = "NAME\nfoobar_bar\nfoobar_baz\n"
        assert network_list_text(DOCKER_NETS, "table {{.Name}}") == expected
        assert network_list_text(DOCKER_NETS, "table {{.Name}}", quiet=True) == expected

    def test_raw(self):
        assert network_list_text(DOCKER_NETS[:1], "raw") == (
            "network_id: networkID1\nname: foobar_baz\ndriver: foo\nscope: local\n\n")
        assert network_list_text(DOCKER_NETS[:1], "raw", quiet=True) == "network_id: networkID1\n"

    def test_custom_format_with_created_at(self):
        assert network_list_text(DOCKER_NETS, "{{.Name}} {{.CreatedAt}}") == (
            "foobar_bar 2017-01-01 00:00:00 +0000 UTC\nfoobar_baz 2016-01-01 00:00:00 +0000 UTC\n")

    def test_escaped_tab_in_format(self):
        assert network_list_text(DOCKER_NETS[:1], "{{.Name}}\\t{{.ID}}") == "foobar_baz\tnetworkID1\n"

    def test_json_lines(self):
        lines = network_list_text(DOCKER_NETS, "json").splitlines()
        assert json.loads(lines[1]) == {
            "Driver": "foo", "ID": "networkID1", "IPv4": "true", "IPv6": "false",
            "Internal": "false", "Labels": "", "Name": "foobar_baz", "Scope": "local",
            "CreatedAt": "2016-01-01 00:00:00 +0000 UTC"}
        assert list(json.loads(lines[0])) == sorted(json.loads(lines[0]))

    def test_labels_and_label_header(self):
        nets = [{"Id": "x", "Name": "n", "Labels": {"b": "2", "com.example.team-name": "net"}}]
        assert network_list_text(nets, "table {{.Labels}}\t{{.Label \"com.example.team-name\"}}") == (
            "LABELS                          team name\n"
            "b=2,com.example.team-name=net   net\n")

    def test_natural_sort_by_name(self):
        nets = [{"Id": str(i), "Name": f"network-{i}-foo"} for i in (10, 2, 1)]
        assert network_list_text(nets, "{{.Name}}") == "network-1-foo\nnetwork-2-foo\nnetwork-10-foo\n"

    def test_unknown_field_is_a_template_error(self):
        with pytest.raises(TemplateError) as err:
            network_list_text(DOCKER_NETS, "{{.Nope}}")
        assert str(err.value) == ('template parsing error: template: :1:2: executing "" at <.Nope>: '
                                  "can't evaluate field Nope in type *network.networkContext")

    def test_empty_list_prints_only_the_header(self):
        assert network_list_text([]) == "NETWORK ID   NAME      DRIVER    SCOPE\n"

    def test_render_json_key(self):
        class Row:
            def A(self):
                return "x"

            def MarshalJSON(self):
                return {"A": "x"}

        assert render("json", [Row()], {"A": "A"}) == '{"A":"x"}\n'


SANDBOXES = [
    {"Id": "b" * 64, "Name": "web", "Hostname": "web", "NetworkMode": "front",
     "Networks": {"front": {"NetworkID": "n1" + "0" * 62, "IPAddress": "10.0.0.2"},
                  "back": {"NetworkID": "n2" + "0" * 62, "IPAddress": "10.1.0.2"}},
     "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None}},
    {"Id": "a" * 64, "Name": "/db", "Networks": {"back": {"NetworkID": "n2" + "0" * 62}}},
]


class TestSandboxList:
    def test_table_in_connection_order(self):
        assert sandbox_list_text(SANDBOXES) == (
            "SANDBOX ID     NAME      NETWORKS\n"
            "aaaaaaaaaaaa   db        back\n"
            "bbbbbbbbbbbb   web       front,back\n")

    def test_quiet_and_format(self):
        assert sandbox_list_text(SANDBOXES, quiet=True) == "aaaaaaaaaaaa\nbbbbbbbbbbbb\n"
        assert sandbox_list_text(SANDBOXES[:1], "{{.Ports}}|{{.IPAddresses}}") == (
            "0.0.0.0:8080->80/tcp, 443/tcp|10.0.0.2,10.1.0.2\n")

    def test_filters(self):
        assert [s["Name"] for s in filter_sandboxes(SANDBOXES, {"name": ["we"]})] == ["web"]
        assert [s["Name"] for s in filter_sandboxes(SANDBOXES, {"network": ["back"]})] == ["web", "/db"]
        assert [s["Name"] for s in filter_sandboxes(SANDBOXES, {"id": ["aaa"]})] == ["/db"]
        with pytest.raises(ValueError, match="invalid filter 'bogus'"):
            filter_sandboxes(SANDBOXES, {"bogus": ["x"]})


# ------------------------------------------------------------- inspect

class TestInspect:
    def test_indent_like_go_json_indent(self):
        raw = '{"a":1,"b":[],"c":{},"d":[1,{"e":"x, y: {z}"}]}'
        assert indent_json(raw) == (
            '{\n    "a": 1,\n    "b": [],\n    "c": {},\n    "d": [\n        1,\n'
            '        {\n            "e": "x, y: {z}"\n        }\n    ]\n}')

    def test_indent_keeps_escapes_verbatim(self):
        assert indent_json('{"a":"\\u003c\\"q\\""}') == '{\n    "a": "\\u003c\\"q\\""\n}'

    def test_default_output_is_an_indented_array(self):
        text, errors = inspect_text(['{"Name":"a"}', '{"Name": "b"}'])
        assert text == '[\n    {\n        "Name": "a"\n    },\n    {\n        "Name": "b"\n    }\n]\n'
        assert errors == []

    def test_nothing_found_prints_an_empty_array(self):
        assert inspect_text([]) == ("[]\n", [])

    def test_json_format_is_compact(self):
        assert inspect_text(['{ "a" : [ 1, 2 ] }'], "json") == ('[{"a":[1,2]}]\n', [])
        assert compact_json('{"a b": " x "}') == '{"a b":" x "}'

    def test_template_uses_typed_values_then_raw_fallback(self):
        raw = json.dumps(NET)
        text, errors = inspect_text([raw], "{{.IPAM.Config}}", "network.Inspect")
        assert text == "[{172.18.0.0/16  172.18.0.1 map[]}]\n" and errors == []
        text, errors = inspect_text([raw], "{{.Id}}", "network.Inspect")
        assert text == NET["Id"] + "\n"

    def test_template_error_per_element(self):
        text, errors = inspect_text(['{"A":1}', '{"B":2}'], "{{.A}}")
        assert text == "1\n"
        assert errors == ['template parsing error: template: :1:2: executing "" at <.A>: '
                          'map has no entry for key "A"']

    def test_template_with_no_output_prints_a_newline(self):
        assert inspect_text([], "{{.A}}") == ("\n", [])


class TestPort:
    SBOX = {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                 {"HostIp": "::", "HostPort": "8080"}],
                      "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
                      "9/tcp": None}}

    def test_all_mappings_sorted_naturally(self):
        assert port_text(self.SBOX, "sb") == (
            "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n")

    def test_one_private_port(self):
        assert port_text(self.SBOX, "sb", "80") == "0.0.0.0:8080\n[::]:8080\n"
        assert port_text(self.SBOX, "sb", "53/udp") == "127.0.0.1:5353\n"

    def test_unpublished_and_invalid_port(self):
        with pytest.raises(ValueError, match="Error: No public port '9/tcp' published for sb"):
            port_text(self.SBOX, "sb", "9/tcp")
        with pytest.raises(ValueError, match=r"Error: invalid port \(x\)"):
            port_text(self.SBOX, "sb", "x")

    def test_docker_container_shape_is_accepted(self):
        sbox = {"NetworkSettings": {"Ports": {"22/tcp": [{"HostIp": "", "HostPort": "2222"}]}}}
        assert port_text(sbox, "sb") == "22/tcp -> :2222\n"
