"""Which address is the client's: the peer, or the trusted proxies' X-Forwarded-For."""

from __future__ import annotations

from axtui.gateway.client_ip import ClientIp

PEER = ("127.0.0.1", 50000)


def test_without_trusted_proxies_the_peer_is_the_client():
    assert ClientIp().resolve(PEER, b"203.0.113.5") == "127.0.0.1"


def test_an_untrusted_peers_forwarded_header_is_ignored():
    assert ClientIp(["10.0.0.0/8"]).resolve(PEER, b"203.0.113.5") == "127.0.0.1"


def test_a_trusted_peer_forwards_the_client_it_saw():
    assert ClientIp(["127.0.0.1/32"]).resolve(PEER, b"203.0.113.5") == "203.0.113.5"


def test_the_rightmost_untrusted_hop_wins_over_what_the_client_wrote():
    ips = ClientIp(["127.0.0.1/32", "10.0.0.0/8"])
    # client wrote 1.2.3.4; an edge proxy at 10.1.1.1 saw 203.0.113.5 and appended it
    assert ips.resolve(PEER, b"1.2.3.4, 203.0.113.5, 10.1.1.1") == "203.0.113.5"


def test_a_malformed_hop_stops_at_the_proxy_we_know():
    assert ClientIp(["127.0.0.1/32"]).resolve(PEER, b"evil, not-an-ip") == "127.0.0.1"


def test_a_header_of_only_proxies_gives_the_leftmost():
    assert ClientIp(["127.0.0.0/8"]).resolve(PEER, b"127.0.0.9, 127.0.0.2") == "127.0.0.9"


def test_no_peer_known_is_no_address():
    assert ClientIp(["127.0.0.1/32"]).resolve(None, b"203.0.113.5") is None


def test_ipv6_proxies_are_networks_too():
    ips = ClientIp(["::1/128"])
    assert ips.resolve(("::1", 1), b"2001:db8::7") == "2001:db8::7"
