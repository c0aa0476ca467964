"""The client's address, as the configured proxy chain reports it.

`X-Forwarded-For` is written by whoever sent the request: a client can put any address in
it. Only the hops appended by our own proxies (FASTPAY_TRUSTED_PROXIES, CIDRs; default
none) can be believed. So: start from the TCP peer (REMOTE_ADDR); while that hop is a
trusted proxy, step one entry left in X-Forwarded-For (the address that proxy saw). The
first hop that is not a trusted proxy is the client. With no trusted proxies the header is
ignored entirely.

Every throttle (fastpay.throttling), the /metrics allow-list and the fraud audit log
(through `current_client_ip`, set by `ClientIpMiddleware`) call `client_ip`: one rule, not
one per caller.
"""

import ipaddress
from contextvars import ContextVar
from functools import cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _parse(text: str):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # ::ffff:10.0.0.1 is the IPv4 peer of a dual-stack socket: compare it as IPv4.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(request) -> str:
    """The client's IP address (text); "" when the peer itself is not an address.

    Works with a Django HttpRequest or a DRF Request (both expose META).
    """
    meta = request.META
    peer = _parse(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    networks = _networks(tuple(settings.FASTPAY_TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = peer
    for text in reversed(hops):
        hop = _parse(text)
        if hop is None:
            # Not written by a proxy of ours (they append addresses): the last trusted
            # hop's view stands.
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return str(client)


def peer_is_trusted_proxy(request) -> bool:
    """True when the TCP peer is one of FASTPAY_TRUSTED_PROXIES."""
    peer = _parse(request.META.get("REMOTE_ADDR", ""))
    networks = _networks(tuple(settings.FASTPAY_TRUSTED_PROXIES))
    return peer is not None and _trusted(peer, networks)


def ip_in(address: str, cidrs) -> bool:
    """True when `address` (text) lies in one of `cidrs` (validated CIDR texts)."""
    parsed = _parse(address)
    return parsed is not None and _trusted(parsed, _networks(tuple(cidrs)))


# The address of the request being served, for records written deep inside services
# (the fraud audit log) without passing the request down. Unset outside a request
# (tasks, commands): None.
_current: ContextVar[str | None] = ContextVar("fastpay_client_ip", default=None)


def current_client_ip() -> str | None:
    return _current.get()


class ClientIpMiddleware:
    """Remembers `client_ip(request)` for the duration of the request (sync views; a
    context variable, so concurrent requests on threads or tasks do not mix)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(client_ip(request) or None)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
