"""Circuit breakers: trip on flagged share or volume, pause the scope (one tenant's traffic
pauses only that tenant), reset in admin."""

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
    def test_half_flagged_trips_only_that_vendors_breaker(self, paying_alice, shop):
        for amount in ["10", "150", "10"]:
            pay(paying_alice, "shop", amount)
        assert not CircuitBreaker.objects.filter(state=BreakerState.OPEN).exists()  # 1 of 3

        pay(paying_alice, "shop", "150")  # 2 of 4 flagged: 50%

        # one payer, one vendor: no platform-wide signal, so neither the token nor the
        # platform breaker trips
        assert breakers() == {("vendor", str(shop.pk)): BreakerState.OPEN}
        event = OutboxEvent.objects.filter(topic="circuit_breaker.tripped").get()
        assert event.payload["figures"]["flagged"] == 2
        assert AuditLog.objects.filter(action=AuditAction.BREAKER_TRIPPED).count() == 1

    def test_an_open_breaker_refuses_payments_naming_the_breaker_and_why(
        self, paying_alice, shop, alice, usdt
    ):
        for amount in ["10", "150", "10", "150"]:
            pay(paying_alice, "shop", amount)
        before = user_account(alice, usdt).balance

        response = pay(paying_alice, "shop", "1")

        assert response.status_code == 409
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("payments_paused", "payee")
        assert error["message"] == (
            f"payments are paused by the circuit breaker of shop (vendor:{shop.pk}): "
            "2 of 4 payments flagged (50.0%) in 15 min"
        )
        assert user_account(alice, usdt).balance == before
        assert Payment.objects.count() == 4

    def test_other_payees_keep_being_paid(self, paying_alice, shop):
        for amount in ["10", "150", "10", "150"]:
            pay(paying_alice, "shop", amount)

        assert pay(paying_alice, "bob", "1").status_code == 201

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
        return CircuitBreaker.objects.get(scope="vendor", key=str(shop.pk))

    def test_an_admin_resets_it_from_the_admin_and_payments_resume(
        self, tripped, paying_alice, admin_user, rule
    ):
        client = Client()
        client.force_login(admin_user)

        response = client.post(
            "/admin/fraud/circuitbreaker/",
            {"action": "reset", "_selected_action": [b.pk for b in CircuitBreaker.objects.all()]},
        )

        assert response.status_code == 302
        assert set(breakers().values()) == {BreakerState.CLOSED}
        assert OutboxEvent.objects.filter(topic="circuit_breaker.reset").count() == 1
        assert AuditLog.objects.filter(action=AuditAction.BREAKER_RESET).count() == 1
        # The window restarts at the reset: the flagged payments before it do not re-trip.
        assert pay(paying_alice, "shop", "1").status_code == 201
        assert set(breakers().values()) == {BreakerState.CLOSED}

    def test_the_audit_entry_keeps_the_address_the_trusted_proxy_saw(
        self, tripped, admin_user, settings
    ):
        settings.FASTPAY_TRUSTED_PROXIES = ["10.0.0.0/8"]
        client = Client(REMOTE_ADDR="10.0.0.2")
        client.force_login(admin_user)

        client.post(
            "/admin/fraud/circuitbreaker/",
            {"action": "reset", "_selected_action": [tripped.pk]},
            HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.23",
        )

        entry = AuditLog.objects.get(action=AuditAction.BREAKER_RESET)
        assert entry.client_ip == "198.51.100.23"
        # a trip during a payment request records that request's client; none for tasks
        trip = AuditLog.objects.get(action=AuditAction.BREAKER_TRIPPED)
        assert trip.client_ip == "127.0.0.1"

    def test_a_reviewer_may_not_reset_a_breaker(self, tripped, reviewer):
        with pytest.raises(ReviewForbidden):
            breaker_reset(breaker_id=tripped.pk, by=reviewer)
        tripped.refresh_from_db()
        assert tripped.state == BreakerState.OPEN

    def test_the_state_is_exported_as_a_metric(self, tripped, client):
        body = client.get("/metrics").content.decode()

        assert f'fastpay_circuit_breaker_open{{key="{tripped.key}",scope="vendor"}} 1.0' in body
        assert "fastpay_review_queue_open 2.0" in body


class TestTenantsAreKeptApart:
    """Merchant A's traffic trips A's breaker; merchant B keeps being paid, and the token
    and platform breakers trip only on trouble spread over several tenants."""

    @pytest.fixture
    def payers(self, usdt, fund, client_for, rule):
        from tests.wallets.factories import UserFactory

        rule("large_amount", review_at_tokens=100)
        rule("new_payee", enabled=False)
        rule("burst", enabled=False)
        rule("circuit_breaker", min_assessments=4, flagged_share_pct=50, evaluate_every_seconds=0)
        clients = []
        for n in range(4):
            user = UserFactory(username=f"payer{n}")
            fund(user, usdt, 10_000)
            clients.append(client_for(user))
        return clients

    @pytest.fixture
    def merchants(self, db):
        from tests.wallets.factories import UserFactory
        from wallets.models import UserRole

        return (
            UserFactory(username="merchant_a", role=UserRole.MERCHANT),
            UserFactory(username="merchant_b", role=UserRole.MERCHANT),
        )

    def test_merchant_as_traffic_trips_as_breaker_and_b_keeps_being_paid(self, payers, merchants):
        a, _ = merchants
        for client in payers:  # B: ordinary payments from every payer
            assert pay(client, "merchant_b", "10").status_code == 201
        for client in payers:  # A: one flagged (large) payment from every payer
            assert pay(client, "merchant_a", "150").status_code == 201
        # platform-wide: 4 of 8 flagged (50%), but all of them A's: A is left out
        assert breakers() == {("vendor", str(a.pk)): BreakerState.OPEN}

        assert pay(payers[0], "merchant_a", "1").status_code == 409
        assert pay(payers[0], "merchant_b", "1").status_code == 201
        assert pay(payers[1], "merchant_b", "10").status_code == 201

    def test_a_merchants_own_payouts_trip_its_breaker_not_the_platforms(
        self, merchants, usdt, fund, client_for, rule
    ):
        from tests.wallets.factories import UserFactory

        a, _ = merchants
        rule("large_amount", review_at_tokens=100)
        rule("new_payee", enabled=False)
        rule("burst", enabled=False)
        rule("circuit_breaker", min_assessments=4, flagged_share_pct=50, evaluate_every_seconds=0)
        fund(a, usdt, 10_000)
        merchant = client_for(a)
        for n in range(4):
            UserFactory(username=f"worker{n}")
            assert pay(merchant, f"worker{n}", "150").status_code == 201  # flagged payouts

        assert breakers() == {("vendor", str(a.pk)): BreakerState.OPEN}
        refused = pay(merchant, "worker0", "1")
        assert refused.status_code == 409
        assert "the circuit breaker of merchant_a" in refused.json()["error"]["message"]
        assert refused.json()["error"]["param"] is None

    def test_trouble_spread_over_several_tenants_trips_the_token_and_platform(
        self, payers, merchants, rule
    ):
        from tests.wallets.factories import UserFactory
        from wallets.models import UserRole

        rule("circuit_breaker", min_assessments=4, flagged_share_pct=50, evaluate_every_seconds=0)
        for name in ("shop_c", "shop_d", "shop_e"):
            UserFactory(username=name, role=UserRole.VENDOR)
        # every payer pays every shop one flagged payment: no single payee or payer
        # explains the flagged share
        for client in payers:
            for name in ("merchant_a", "merchant_b", "shop_c", "shop_d"):
                pay(client, name, "150")

        state = breakers()
        assert state[("platform", "platform")] == BreakerState.OPEN
        assert state[("token", "USDT")] == BreakerState.OPEN
        refused = pay(payers[0], "shop_e", "1")  # a tenant with no trouble of its own
        assert refused.status_code == 409
        message = refused.json()["error"]["message"]
        assert "the platform circuit breaker (platform:platform): " in message
        assert "payments flagged" in message

    def test_one_merchants_volume_does_not_trip_the_token_breaker(self, payers, merchants, rule):
        rule("large_amount", review_at_tokens=10_000)
        rule("circuit_breaker", token_volume_tokens=100, vendor_volume_tokens=1_000_000)
        for client in payers:
            assert pay(client, "merchant_a", "100").status_code == 201  # 400 USDT to A

        assert not CircuitBreaker.objects.exists()
        assert pay(payers[0], "merchant_b", "1").status_code == 201
