"""The client's address, for rate limits and logs: the connection's peer, unless that peer is one
of the configured proxies (`VERDICT_TRUSTED_PROXIES`, none by default).

Behind such a proxy, the client is the right-most address of `X-Forwarded-For` that is not itself
a trusted proxy, and only if it is an IP address: anything else there (a name, a port, a 1 KB
string) would let a client choose its own rate-limit key, so it is ignored and the request counts
as the proxy's. uvicorn's own handling (which trusts 127.0.0.1 by default and takes any string)
is switched off in `verdict serve`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(proxies: Iterable[str]) -> list[Network]:
    """Addresses or CIDR networks, as `VERDICT_TRUSTED_PROXIES` lists them (ValueError if not)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in proxies]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ForwardedClient:
    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    def _is_trusted(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in n for n in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and self.trusted and client and self._is_trusted(client[0]):
            forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
            hops = forwarded.decode("latin-1").split(",") if forwarded else []
            for hop in reversed(hops):
                address = _address(hop)
                if address is None:
                    break  # not an address: trust nothing further left
                if not any(address in n for n in self.trusted):
                    scope["client"] = (str(address), 0)
                    break
            proto = [v for k, v in scope["headers"] if k == b"x-forwarded-proto"]
            if proto and proto[-1].strip() in (b"http", b"https"):
                scope["scheme"] = proto[-1].strip().decode()
        await self.app(scope, receive, send)
