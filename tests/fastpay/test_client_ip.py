"""The client address behind the configured proxies, and the throttles that key on it."""

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from fastpay.client_ip import client_ip


def request_from(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


class TestWithoutTrustedProxies:
    def test_it_ignores_a_client_supplied_forwarded_for(self, settings):
        settings.FASTPAY_TRUSTED_PROXIES = []

        assert client_ip(request_from("203.0.113.7", "1.2.3.4")) == "203.0.113.7"

    def test_it_gives_the_peer_when_no_header_is_sent(self, settings):
        settings.FASTPAY_TRUSTED_PROXIES = []

        assert client_ip(request_from("2001:db8::5")) == "2001:db8::5"

    def test_a_peer_that_is_not_an_address_gives_an_empty_identity(self, settings):
        settings.FASTPAY_TRUSTED_PROXIES = []

        assert client_ip(request_from("not-an-ip", "1.2.3.4")) == ""


class TestBehindTrustedProxies:
    @pytest.fixture(autouse=True)
    def _proxies(self, settings):
        settings.FASTPAY_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]

    def test_it_takes_the_address_the_proxy_saw(self):
        assert client_ip(request_from("10.0.0.2", "198.51.100.9")) == "198.51.100.9"

    def test_a_spoofed_left_part_of_the_header_is_ignored(self):
        # The client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended the real peer.
        request = request_from("10.0.0.2", "1.2.3.4, 198.51.100.9")

        assert client_ip(request) == "198.51.100.9"

    def test_it_walks_back_through_a_chain_of_trusted_proxies(self):
        request = request_from("10.0.0.2", "1.2.3.4, 198.51.100.9, 10.1.1.1, 10.2.2.2")

        assert client_ip(request) == "198.51.100.9"

    def test_an_untrusted_peer_is_the_client_whatever_it_sends(self):
        assert client_ip(request_from("198.51.100.9", "10.0.0.3")) == "198.51.100.9"

    def test_garbage_in_the_header_stops_at_the_last_good_hop(self):
        request = request_from("10.0.0.2", "1.2.3.4, <script>, 10.9.9.9")

        assert client_ip(request) == "10.9.9.9"

    def test_an_ipv4_mapped_peer_counts_as_the_ipv4_proxy(self):
        assert client_ip(request_from("::ffff:10.0.0.2", "198.51.100.9")) == "198.51.100.9"

    def test_a_proxy_without_the_header_is_itself_the_client(self):
        assert client_ip(request_from("10.0.0.2")) == "10.0.0.2"


def signup(forwarded):
    return APIClient().post(
        "/api/v1/auth/signup/", {}, format="json", HTTP_X_FORWARDED_FOR=forwarded
    )


def login(forwarded):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "wrong"},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded,
    )


class TestThrottlesCannotBeDodged:
    @pytest.fixture(autouse=True)
    def _rates(self, monkeypatch, settings):
        settings.FASTPAY_TRUSTED_PROXIES = []
        # DRF copies the rates onto the throttle class at import; patch them there.
        monkeypatch.setattr(
            SimpleRateThrottle,
            "THROTTLE_RATES",
            {"signup": "2/hour", "login": "2/min", "anon": "1000/min", "user": "1000/min"},
        )

    def test_a_random_forwarded_for_does_not_reset_the_signup_limit(self, db):
        statuses = [signup(f"203.0.113.{n}").status_code for n in range(3)]

        assert statuses == [400, 400, 429]

    def test_a_random_forwarded_for_does_not_reset_the_login_limit(self, alice):
        responses = [login(f"203.0.113.{n}") for n in range(3)]

        assert [r.status_code for r in responses] == [401, 401, 429]
        assert responses[2].json()["error"]["code"] == "rate_limited"

    def test_behind_a_trusted_proxy_each_real_client_has_its_own_bucket(self, db, settings):
        settings.FASTPAY_TRUSTED_PROXIES = ["127.0.0.1/32"]  # the test client's peer

        first = [signup(f"1.1.1.{n}, 198.51.100.1").status_code for n in range(3)]
        other = signup("198.51.100.2").status_code

        assert first == [400, 400, 429]  # the spoofed left parts changed nothing
        assert other == 400


class TestConfiguration:
    def test_a_wrong_trusted_proxy_stops_start_up_naming_the_variable(self):
        from django.core.exceptions import ImproperlyConfigured

        from fastpay.config import Config

        config = Config({"FASTPAY_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"})
        config.cidr_list("FASTPAY_TRUSTED_PROXIES", default=[])

        with pytest.raises(ImproperlyConfigured, match="FASTPAY_TRUSTED_PROXIES: 'not-a-network'"):
            config.raise_if_invalid()

    def test_addresses_and_networks_of_both_families_are_accepted(self):
        from fastpay.config import Config

        config = Config({"FASTPAY_METRICS_ALLOW": "10.1.2.3, 192.168.0.0/16, fd00::/8"})

        assert config.cidr_list("FASTPAY_METRICS_ALLOW", default=[]) == [
            "10.1.2.3",
            "192.168.0.0/16",
            "fd00::/8",
        ]
        assert config.problems == []
