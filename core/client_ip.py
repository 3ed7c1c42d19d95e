"""The client's address, for every limit keyed on it: API throttles, allauth's rate limits, charger handshakes.

``X-Forwarded-For`` is anybody's to write, so it counts only when the peer is one of our own proxies
(``TRUSTED_PROXIES``; none by default). Then the header is read from the right, as each proxy appends
the address it saw: our proxies' own entries are skipped and the first address none of them is the
client. Without trusted proxies the peer is the client, whatever the header says.
"""

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a header or a server writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``); None if not one."""
    value = (value or "").strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client behind ``peer`` (the socket's other end), given the ``X-Forwarded-For`` it sent."""
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    client = _address(peer)
    if client is None:
        return peer or None
    hops = (forwarded_for or "").split(",") if networks else []
    while hops and any(client in network for network in networks):
        hop = _address(hops.pop())
        if hop is None:  # no proxy of ours wrote that: the last one of ours is the best answer left
            break
        client = hop
    return str(client)


def request_client_address(request: HttpRequest) -> str | None:
    """The client of a Django (or DRF) request."""
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_client_address(scope: dict[str, Any]) -> str | None:
    """The client of an ASGI connection (a charger's websocket)."""
    peer = (scope.get("client") or (None,))[0]
    forwarded = b",".join(value for name, value in scope.get("headers", []) if name.lower() == b"x-forwarded-for")
    return client_address(peer, forwarded.decode("latin-1"))
