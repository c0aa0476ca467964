"""Circuit breakers: trip on flagged share or volume, pause the scope, reset in admin."""

import pytest
from django.test import Client

from fastpay.models import OutboxEvent
from fraud.errors import ReviewForbidden
from fraud.models import AuditAction, AuditLog, BreakerState, Channel, CircuitBreaker
from fraud.services.breakers import breaker_reset
from tests.fraud.factories import VendorFactory, rules_of
from wallets.models import Payment
from wallets.risk import RiskDecision
from wallets.services.ledger import user_account

USDT = 10**6


def pay(client, payee, amount):
    return client.post("/api/v1/payments/", {"payee": payee, "token": "USDT", "amount": amount})


@pytest.fixture
def shop(db):
    return VendorFactory(username="shop")


@pytest.fixture
def paying_alice(alice, bob, usdt, fund, client_for, rule):
    fund(alice, usdt, 10_000)
    rule("large_amount", review_at_tokens=100)
    rule("new_payee", enabled=False)
    rule("circuit_breaker", min_assessments=4, flagged_share_pct=50, evaluate_every_seconds=0)
    return client_for(alice)


def breakers():
    return {(b.scope, b.key): b.state for b in CircuitBreaker.objects.all()}


class TestTripOnFlaggedShare:
    def test_half_flagged_trips_platform_token_and_vendor(self, paying_alice, shop):
        for amount in ["10", "150", "10"]:
            pay(paying_alice, "shop", amount)
        assert not CircuitBreaker.objects.filter(state=BreakerState.OPEN).exists()  # 1 of 3

        pay(paying_alice, "shop", "150")  # 2 of 4 flagged: 50%

        assert breakers() == {
            ("platform", "platform"): BreakerState.OPEN,
            ("token", "USDT"): BreakerState.OPEN,
            ("vendor", str(shop.pk)): BreakerState.OPEN,
        }
        event = OutboxEvent.objects.filter(topic="circuit_breaker.tripped").first()
        assert event.payload["figures"]["flagged"] == 2
        assert AuditLog.objects.filter(action=AuditAction.BREAKER_TRIPPED).count() == 3

    def test_an_open_breaker_refuses_payments_with_a_clear_error(
        self, paying_alice, shop, alice, usdt
    ):
        for amount in ["10", "150", "10", "150"]:
            pay(paying_alice, "shop", amount)
        before = user_account(alice, usdt).balance

        response = pay(paying_alice, "bob", "1")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "payments_paused"
        assert "circuit breaker" in response.json()["error"]["message"]
        assert user_account(alice, usdt).balance == before
        assert Payment.objects.count() == 4

    def test_an_offline_redemption_is_held_not_refused(self, paying_alice, shop, alice, assess_for):
        for amount in ["10", "150", "10", "150"]:
            pay(paying_alice, "shop", amount)

        result = assess_for(alice, shop, 1, channel=Channel.OFFLINE)

        assert result.decision == RiskDecision.REVIEW
        assert "circuit_breaker" in rules_of(result)


class TestTripOnVolume:
    def test_a_vendor_over_its_volume_pauses_only_that_vendor(self, paying_alice, shop, rule):
        rule("large_amount", review_at_tokens=10_000)
        rule("circuit_breaker", vendor_volume_tokens=100, evaluate_every_seconds=0)
        assert pay(paying_alice, "shop", "100").status_code == 201  # at the limit
        assert not CircuitBreaker.objects.filter(state=BreakerState.OPEN).exists()

        assert pay(paying_alice, "shop", "0.000001").status_code == 201  # over it
        assert breakers() == {("vendor", str(shop.pk)): BreakerState.OPEN}

        refused = pay(paying_alice, "shop", "1")
        assert (refused.status_code, refused.json()["error"]["param"]) == (409, "payee")
        assert pay(paying_alice, "bob", "1").status_code == 201

    def test_a_busy_scope_is_evaluated_at_most_once_per_interval(self, paying_alice, shop, rule):
        from django.core.cache import cache

        rule("large_amount", review_at_tokens=10_000)
        rule("circuit_breaker", vendor_volume_tokens=100, evaluate_every_seconds=60)
        pay(paying_alice, "shop", "100")  # evaluated: at the limit
        pay(paying_alice, "shop", "1")  # over it, but the vendor was evaluated < 60 s ago

        assert not CircuitBreaker.objects.exists()
        cache.delete(f"fraud:breaker-due:vendor:{shop.pk}")  # the interval has passed
        pay(paying_alice, "shop", "1")
        assert breakers() == {("vendor", str(shop.pk)): BreakerState.OPEN}

    def test_customers_are_not_vendors(self, paying_alice, rule):
        rule("large_amount", review_at_tokens=10_000)
        rule("circuit_breaker", vendor_volume_tokens=1, evaluate_every_seconds=0)

        assert pay(paying_alice, "bob", "5").status_code == 201
        assert not CircuitBreaker.objects.exists()


class TestReset:
    @pytest.fixture
    def tripped(self, paying_alice, shop):
        for amount in ["10", "150", "10", "150"]:
            pay(paying_alice, "shop", amount)
        return CircuitBreaker.objects.get(scope="platform")

    def test_an_admin_resets_it_from_the_admin_and_payments_resume(
        self, tripped, paying_alice, admin_user
    ):
        client = Client()
        client.force_login(admin_user)

        response = client.post(
            "/admin/fraud/circuitbreaker/",
            {"action": "reset", "_selected_action": [b.pk for b in CircuitBreaker.objects.all()]},
        )

        assert response.status_code == 302
        assert set(breakers().values()) == {BreakerState.CLOSED}
        assert OutboxEvent.objects.filter(topic="circuit_breaker.reset").count() == 3
        assert AuditLog.objects.filter(action=AuditAction.BREAKER_RESET).count() == 3
        # The window restarts at the reset: the flagged payments before it do not re-trip.
        assert pay(paying_alice, "bob", "1").status_code == 201
        assert set(breakers().values()) == {BreakerState.CLOSED}

    def test_a_reviewer_may_not_reset_a_breaker(self, tripped, reviewer):
        with pytest.raises(ReviewForbidden):
            breaker_reset(breaker_id=tripped.pk, by=reviewer)
        tripped.refresh_from_db()
        assert tripped.state == BreakerState.OPEN

    def test_the_state_is_exported_as_a_metric(self, tripped, client):
        body = client.get("/metrics").content.decode()

        assert 'fastpay_circuit_breaker_open{key="platform",scope="platform"} 1.0' in body
        assert "fastpay_review_queue_open 2.0" in body
