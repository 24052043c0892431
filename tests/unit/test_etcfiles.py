from libnetwork import etcfiles


def test_legacy_resolv_conf_drops_loopback_and_falls_back():
    host = etcfiles.parse_resolv_conf("nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n")
    conf = etcfiles.legacy_resolv_conf(host)
    assert conf.nameservers == etcfiles.DEFAULT_V4_NAMESERVERS
    assert conf.search == ("corp.example",) and conf.options == ("edns0",)
    text = etcfiles.render_resolv_conf(conf)
    assert "nameserver 8.8.8.8" in text and "# Used default nameservers." in text


def test_legacy_resolv_conf_keeps_real_servers():
    host = etcfiles.parse_resolv_conf("nameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::1\n")
    assert etcfiles.legacy_resolv_conf(host).nameservers == ("10.0.0.2",)
    assert etcfiles.legacy_resolv_conf(host, ipv6=True).nameservers == ("10.0.0.2", "2001:db8::1")


def test_hosts_layout():
    text = etcfiles.render_hosts([("172.17.0.2", ["box"])], ipv6=False)
    assert text == "127.0.0.1\tlocalhost\n172.17.0.2\tbox\n"
    assert "ip6-localhost" in etcfiles.render_hosts([], ipv6=True)
