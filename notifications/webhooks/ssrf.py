"""SSRF guard: a webhook goes only to a public address.

The host is resolved here, every address it resolves to is checked, and the connection is
then made to the checked address (notifications.webhooks.transport pins it), so a DNS
answer that changes between the check and the connect (rebinding) cannot send it inside.
Refused: loopback, private (RFC 1918, unique-local fc00::/7), link-local (169.254/16 with
the cloud metadata address, fe80::/10), shared/CGNAT, unspecified, multicast, reserved and
documentation ranges, and the IPv4 forms hidden in IPv6 (::ffff:a.b.c.d, 6to4, NAT64
64:ff9b::/96). FASTPAY_WEBHOOKS_ALLOW_PRIVATE lets loopback and private networks through
for development and tests; the metadata addresses, unspecified and multicast never pass.
"""

from __future__ import annotations

import ipaddress
import socket

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """The URL's host is not a public address (or does not resolve)."""


def _embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IP, *, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not receive a webhook, or None when it may."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        why = address_refusal(embedded, allow_private=allow_private)
        return f"{why} (inside {ip})" if why else None
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or not ip.is_global:
        return None if allow_private else "a private or reserved address"
    return None


def destination_resolve(host: str, port: int, *, allow_private: bool = False) -> str:
    """The address to connect to for ``host``: its first address, once every address it
    resolves to passed (one bad address refuses the host: a resolver may rotate them)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise DestinationRefused(f"{host} does not resolve ({exc})") from None
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise DestinationRefused(f"{host} does not resolve")
    for ip in addresses:
        why = address_refusal(ip, allow_private=allow_private)
        if why:
            raise DestinationRefused(f"{host} resolves to {ip}: {why}")
    return str(addresses[0])
