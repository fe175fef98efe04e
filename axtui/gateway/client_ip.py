"""The caller's IP address, for the per-IP quotas: the socket's peer, unless that peer is
one of `[gateway] trusted_proxies` (CIDRs). Then it is the rightmost `X-Forwarded-For`
address that is not itself a trusted proxy: each proxy appends the peer it saw, so what a
client wrote itself (a spoofed header) sits further left and is never read. A header from
an untrusted peer is ignored whole."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIp:
    """Resolves a request's client address from its ASGI peer and forwarded header."""

    __slots__ = ("_proxies",)

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self._proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in trusted_proxies)

    @property
    def trusts_proxies(self) -> bool:
        return bool(self._proxies)

    def trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)

    def resolve(self, peer: tuple[str, int] | list | None, forwarded: bytes | None) -> str | None:
        """The client's address (None: the server did not say who the peer is)."""
        if not peer:
            return None
        addr = peer[0]
        if forwarded is None or not self._proxies or not self.trusted(addr):
            return addr
        hops = [h.strip() for h in forwarded.decode("latin-1").split(",")]
        for hop in reversed(hops):
            if not _valid(hop):
                return addr  # a malformed hop: trust nothing beyond the proxy we know
            if not self.trusted(hop):
                return hop
            addr = hop
        return addr  # every hop was one of our proxies: the leftmost is the client


def _valid(hop: str) -> bool:
    try:
        ipaddress.ip_address(hop)
    except ValueError:
        return False
    return True
