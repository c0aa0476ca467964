# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""The SSRF guard: every address class a webhook must never reach is refused, IPv4 and
IPv6 and IPv4 hidden in IPv6; the connection goes to the address that was checked."""

import ipaddress
import socket

import pytest

from notifications.models import WebhookDelivery
from notifications.webhooks import transport
from notifications.webhooks.ssrf import DestinationRefused, address_refusal, destination_resolve
from tests.notifications.webhook_fixtures import (  # noqa: F401
    endpoint_for,
    merchant,
    pay,
    relaxed_risk,
    webhooks_private,
)
from tests.notifications.webhook_receivers import Receiver

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "100.64.0.1": "private",  # shared address space (CGNAT)
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "169.254.169.254": "metadata",
    "fd00:ec2::254": "metadata",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "192.0.2.1": "reserved",  # documentation
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "metadata",
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_it_refuses(address, kind):
    why = address_refusal(ipaddress.ip_address(address))
    assert why is not None
    assert kind.split("-")[0] in why or (kind == "reserved" and "reserved" in why)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_it_lets_public_addresses_through(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allow_private_opens_loopback_and_private_but_never_metadata_or_multicast():
    allowed = {
        a for a in REFUSED if address_refusal(ipaddress.ip_address(a), allow_private=True) is None
    }
    assert {"127.0.0.1", "::1", "10.1.2.3", "fd12:3456::1", "::ffff:127.0.0.1"} <= allowed
    for never in ["169.254.169.254", "fd00:ec2::254", "0.0.0.0", "224.0.0.1", "fe80::1"]:
        assert never not in allowed


def test_a_host_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    def resolve(host, port, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(DestinationRefused, match=r"10\.0\.0\.5"):
        destination_resolve("rebind.example", 443)


def test_the_connection_is_pinned_to_the_checked_address(monkeypatch, settings):
    """DNS rebinding: the name is resolved once; the request goes to that address with
    the original Host header and TLS server name."""
    settings.FASTPAY_WEBHOOKS_ALLOW_PRIVATE = False
    answers = iter(["93.184.216.34", "127.0.0.1"])

    def resolve(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url, headers, extensions = transport.pinned_request("https://hooks.shop.example/x?a=1")

    assert str(url) == "https://93.184.216.34/x?a=1"
    assert headers == {"Host": "hooks.shop.example"}
    assert extensions == {"sni_hostname": "hooks.shop.example"}


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def resolve(host, port, **kwargs):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(DestinationRefused, match="does not resolve"):
        destination_resolve("nowhere.example", 443)


@pytest.mark.usefixtures("relaxed_risk")
def test_a_delivery_to_loopback_is_refused_without_the_setting(
    alice, merchant, pay, endpoint_for, settings
):
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)  # created while allowed
        settings.FASTPAY_WEBHOOKS_ALLOW_PRIVATE = False
        pay(alice, merchant, 1)

    assert receiver.received == []
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    (attempt,) = delivery.log.all()
    assert attempt.status_code is None and "loopback" in attempt.error


@pytest.mark.usefixtures("relaxed_risk")
def test_redirects_are_not_followed(alice, merchant, pay, endpoint_for):
    from tests.notifications.webhook_receivers import Answer

    with Receiver(Answer(302, headers={"Location": "http://169.254.169.254/"})) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        assert len(receiver.wait_for(1)) == 1

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.last_status_code == 302 and delivery.state == "pending"  # a failure, retried
