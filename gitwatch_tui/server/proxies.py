"""Who sent a request: the TCP peer, or what a trusted reverse proxy says in X-Forwarded-For.

The header is honoured only from peers in `server.trusted_proxies`: anyone else could write
any address there and pick their own rate-limit bucket. Behind a chain of proxies the header
is read from the right, skipping the trusted hops; the first address that is not one of
them is the client (what nginx's `real_ip_recursive on` does).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An IP address as a peer or a proxy writes it: plain, `[v6]`, `v4:port`, `[v6]:port`;
    an IPv4 address mapped into IPv6 (a dual-stack socket's peer) as IPv4. None: not one."""
    raw = text.strip().strip('"')
    if raw.startswith("["):
        raw = raw[1:].partition("]")[0]
    elif raw.count(":") == 1:
        raw = raw.partition(":")[0]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Resolves a request's client address, trusting X-Forwarded-For only from `networks`."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in networks
        )

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self._networks)

    def client(self, request: web.BaseRequest) -> str:
        """The client's address as text ("unknown" when the peer has none, a Unix socket)."""
        peer = parse_address(request.remote or "")
        if peer is None:
            return request.remote or "unknown"
        if not self._networks or not self._trusted(peer):
            return str(peer)
        return str(self._forwarded_client(request, peer))

    def _forwarded_client(self, request: web.BaseRequest, peer: Address) -> Address:
        hops = [hop for value in request.headers.getall("X-Forwarded-For", ()) for hop in
                value.split(",")]  # fmt: skip
        client = peer
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:  # garbage in the header: the last good hop is the best we know
                return client
            client = address
            if not self._trusted(address):
                return address
        return client  # every hop is a trusted proxy: the one furthest away
