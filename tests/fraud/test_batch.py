"""Batch assessment (`fraud.scoring.assess_many`, `fraud.hooks.payments_assess`): the same
result as one assessment per item for independent items, one read of the payer's history
per batch, and item k of a batch sees items 0..k-1 (velocity, structuring, new payee)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fraud.errors import PaymentsPaused
from fraud.hooks import payment_assess, payments_assess
from fraud.models import Assessment, BreakerScope, BreakerState, CircuitBreaker, RuleHit
from fraud.rules import Subject
from fraud.scoring import assess, assess_many, breakers_forget
from tests.fraud.factories import (
    BERLIN,
    PastPaymentFactory,
    RiskProfileFactory,
    VendorFactory,
    minutes,
    north_of,
    rules_of,
)
from tests.wallets.factories import UserFactory
from wallets.models import Payment, PaymentState
from wallets.risk import PaymentDraft, RiskDecision, payment_risk_assess_many
from wallets.services.payments import PaymentItem, payment_create_batch

USDT = 10**6


def subject(payer, payee, token, whole=1, *, units=None, point=None, at=None):
    latitude, longitude = point if point else (None, None)
    return Subject(
        payer=payer,
        payee=payee,
        token=token,
        amount=units if units is not None else whole * USDT,
        occurred_at=at or timezone.now(),
        latitude=None if latitude is None else Decimal(latitude),
        longitude=None if longitude is None else Decimal(longitude),
    )


def alone(s: Subject):
    return assess(
        payer=s.payer,
        payee=s.payee,
        token=s.token,
        amount=s.amount,
        latitude=s.latitude,
        longitude=s.longitude,
        occurred_at=s.occurred_at,
    )


@pytest.fixture
def scenarios(db, usdt, rule):
    """One payer per rule, each with the history that makes the rule fire (or not)."""
    rule("large_amount", review_at_tokens=10_000)
    now = timezone.now()
    shop = VendorFactory(username="shop-b")
    RiskProfileFactory(user=shop, registered_latitude=BERLIN[0], registered_longitude=BERLIN[1])
    payers = {
        name: UserFactory(username=f"p-{name}")
        for name in [
            "plain",
            "geofence",
            "travel",
            "large",
            "tier",
            "burst",
            "structuring",
            "new_payee",
            "known_payee",
            "dormant",
            "double_spend",
        ]
    }
    payee = UserFactory(username="payee-b")
    for name, payer in payers.items():
        if name != "dormant":
            PastPaymentFactory(payer=payer, payee=payee, amount=USDT, ago=timedelta(hours=3))
    PastPaymentFactory(
        payer=payers["travel"], payee=payee, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(5)
    )
    for m in range(1, 7):
        PastPaymentFactory(payer=payers["burst"], payee=payee, ago=minutes(m))
    for m in (5, 10):
        PastPaymentFactory(
            payer=payers["structuring"], payee=payee, amount=1_950 * USDT, ago=minutes(m)
        )
    payers["dormant"].date_joined = now - timedelta(days=400)
    payers["dormant"].save()
    PastPaymentFactory(payer=payers["dormant"], payee=payee, ago=timedelta(days=120))
    RiskProfileFactory(user=payers["double_spend"], double_spend_flagged_at=now)
    RiskProfileFactory(user=payers["tier"], verification_tier=0)
    stranger = UserFactory(username="stranger-b")
    return [
        subject(payers["plain"], payee, usdt, 5, at=now),
        subject(payers["geofence"], shop, usdt, 5, point=north_of(BERLIN, 30), at=now),
        subject(payers["travel"], payee, usdt, 5, point=north_of(BERLIN, 300), at=now),
        subject(payers["large"], payee, usdt, 10_000, at=now),
        subject(payers["tier"], payee, usdt, 600, at=now),
        subject(payers["burst"], payee, usdt, 1, at=now),
        subject(payers["structuring"], payee, usdt, units=1_950 * USDT, at=now),
        subject(payers["new_payee"], stranger, usdt, 600, at=now),
        subject(payers["known_payee"], payee, usdt, 600, at=now),
        subject(payers["dormant"], payee, usdt, 300, at=now),
        subject(payers["double_spend"], payee, usdt, 1, at=now),
    ]


class TestBatchAgreesWithOneByOne:
    def test_independent_items_get_the_same_assessment(self, scenarios):
        one_by_one = [alone(s) for s in scenarios]

        batch = assess_many(scenarios)

        assert batch == one_by_one
        fired = set().union(*(rules_of(r) for r in batch))
        assert fired == {
            "geofence",
            "impossible_travel",
            "large_amount",
            "tier_limits",
            "burst",
            "structuring",
            "new_payee",
            "dormant",
            "double_spend",
        }
        assert batch[0] == one_by_one[0] and batch[0].decision == RiskDecision.ALLOW

    def test_a_batch_of_one_is_the_single_assessment(self, scenarios):
        for s in scenarios:
            assert assess_many([s]) == [alone(s)]

    def test_the_wallets_hook_finds_the_batch_form(self, alice, bob, usdt, settings):
        settings.FASTPAY_RISK_ASSESSOR = "fraud.hooks.payment_assess"
        assert payment_assess.assess_many is payments_assess
        drafts = [PaymentDraft(payer=alice, payee=bob, token=usdt, amount=USDT)] * 2

        assert payment_risk_assess_many(drafts) == payments_assess(drafts)

    def test_another_assessor_is_called_per_item(self, alice, bob, usdt, settings):
        settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 100
        drafts = [
            PaymentDraft(payer=alice, payee=bob, token=usdt, amount=amount)
            for amount in (USDT, 100 * USDT)
        ]

        decisions = [r.decision for r in payment_risk_assess_many(drafts)]

        assert decisions == [RiskDecision.ALLOW, RiskDecision.REVIEW]


class TestOneReadPerBatch:
    def test_the_queries_do_not_grow_with_the_batch(
        self, alice, bob, usdt, django_assert_max_num_queries
    ):
        PastPaymentFactory(payer=alice, payee=bob, ago=minutes(30))
        payees = [UserFactory(username=f"shop{i}") for i in range(20)]
        now = timezone.now()
        batch = [
            subject(alice, payees[i % 20], usdt, 600, point=BERLIN, at=now) for i in range(100)
        ]
        assess_many(batch[:1])  # thresholds and open breakers cached, as in production

        # profiles, window rows, last location, payees paid before, activity
        with django_assert_max_num_queries(5):
            results = assess_many(batch)

        assert len(results) == 100

    def test_many_payers_at_one_instant_share_the_window_read(
        self, bob, usdt, rule, django_assert_max_num_queries
    ):
        # given 30 payers (a vendor's offline sync), some with payments in the windows
        rule("burst", max_count=2)
        payers = [UserFactory(username=f"payer{i}") for i in range(30)]
        for i, payer in enumerate(payers):
            for m in range(i % 4):
                PastPaymentFactory(payer=payer, payee=bob, ago=minutes(m + 1))
        now = timezone.now()
        batch = [subject(p, bob, usdt, 1, at=now) for p in payers + payers[:3]]
        one_by_one = [alone(s) for s in batch[:30]]

        # when they are assessed together: profiles and one window read for all
        with django_assert_max_num_queries(2):
            results = assess_many(batch)

        # then each is what it is alone, and a payer's second item counts its first
        assert results[:30] == one_by_one
        assert ["burst" in rules_of(r) for r in results[:4]] == [False, False, True, True]
        assert ["burst" in rules_of(r) for r in results[30:]] == [False, True, True]


class TestItemsSeeEarlierItemsOfTheBatch:
    def test_burst_fires_on_the_item_after_max_count(self, alice, bob, usdt, rule):
        rule("burst", max_count=3)
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))
        now = timezone.now()

        results = assess_many([subject(alice, bob, usdt, 1, at=now) for _ in range(5)])

        assert [rules_of(r) for r in results] == [set(), set(), set(), {"burst"}, {"burst"}]
        assert results[3].reasons[0]["figures"]["count"] == 4
        # One by one, no item saw the others: the undercount this fixes.
        assert all(alone(subject(alice, bob, usdt, 1, at=now)).reasons == [] for _ in range(5))

    def test_through_the_batch_service_the_extra_items_are_held(self, alice, bob, usdt, fund, rule):
        rule("burst", max_count=3)
        fund(alice, usdt, 100)
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))

        results = payment_create_batch(
            payer=alice,
            items=[PaymentItem(payee="bob", token=usdt, amount=USDT) for _ in range(5)],
        )

        states = [r.payment.state for r in results]
        assert states == [PaymentState.SUCCESS] * 3 + [PaymentState.FLAGGED] * 2
        hits = RuleHit.objects.filter(assessment__payment__in=[r.payment for r in results[3:]])
        assert sorted(hits.values_list("rule", flat=True)) == ["burst", "burst"]

    def test_structuring_counts_the_batch(self, alice, bob, usdt, rule):
        rule("large_amount", review_at_tokens=10_000)
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))
        now = timezone.now()

        results = assess_many([subject(alice, bob, usdt, 1_950, at=now) for _ in range(3)])

        assert [rules_of(r) for r in results] == [set(), set(), {"structuring"}]

    def test_the_tier_day_sum_counts_the_batch(self, alice, bob, usdt, rule):
        rule("burst", enabled=False)
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))
        now = timezone.now()

        results = assess_many([subject(alice, bob, usdt, 1_500, at=now) for _ in range(7)])

        # 1 + 6 x 1,500 = 9,001 <= 10,000; the 7th makes 10,501.
        assert [rules_of(r) for r in results] == [set()] * 6 + [{"tier_limits"}]

    def test_a_new_payee_is_new_only_once(self, alice, bob, usdt):
        now = timezone.now()

        results = assess_many([subject(alice, bob, usdt, 600, at=now) for _ in range(2)])

        assert [rules_of(r) for r in results] == [{"new_payee"}, set()]

    def test_a_blocked_item_does_not_count_but_its_location_does(self, alice, bob, usdt, rule):
        rule("burst", max_count=1)
        rule("large_amount", review_at_tokens=10_000, score=100)
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))
        now = timezone.now()

        results = assess_many(
            [
                subject(alice, bob, usdt, 10_000, point=BERLIN, at=now),  # blocked (FAILED)
                subject(alice, bob, usdt, 1, point=north_of(BERLIN, 50), at=now),
            ]
        )

        assert results[0].decision == RiskDecision.BLOCK
        assert "burst" not in rules_of(results[1])
        assert "impossible_travel" in rules_of(results[1])

    def test_other_payers_in_the_batch_do_not_count(self, alice, bob, usdt, rule):
        rule("burst", max_count=1)
        carol = UserFactory(username="carol")
        for payer in (alice, carol):
            PastPaymentFactory(payer=payer, payee=bob, ago=timedelta(hours=2))
        now = timezone.now()

        results = assess_many(
            [subject(alice, bob, usdt, 1, at=now), subject(carol, bob, usdt, 1, at=now)]
        )

        assert [r.reasons for r in results] == [[], []]


class TestRefusals:
    def test_an_open_breaker_refuses_only_its_items(self, alice, bob, usdt, rule):
        rule("burst", max_count=1)
        shop = VendorFactory(username="shop-r")
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(hours=2))
        PastPaymentFactory(payer=alice, payee=shop, ago=timedelta(hours=2))
        CircuitBreaker.objects.create(
            scope=BreakerScope.VENDOR,
            key=str(shop.pk),
            state=BreakerState.OPEN,
            tripped_at=timezone.now(),
        )
        breakers_forget()
        now = timezone.now()

        results = assess_many(
            [
                subject(alice, shop, usdt, 1, at=now),
                subject(alice, bob, usdt, 1, at=now),
            ]
        )

        assert isinstance(results[0], PaymentsPaused)
        assert results[1].reasons == []  # the refused item made no payment: not counted
        with pytest.raises(PaymentsPaused):
            alone(subject(alice, shop, usdt, 1, at=now))

    def test_the_batch_service_reports_the_refusal_per_item(self, alice, bob, usdt, fund):
        fund(alice, usdt, 100)
        shop = VendorFactory(username="shop-s")
        CircuitBreaker.objects.create(
            scope=BreakerScope.VENDOR,
            key=str(shop.pk),
            state=BreakerState.OPEN,
            tripped_at=timezone.now(),
        )
        breakers_forget()

        results = payment_create_batch(
            payer=alice,
            items=[
                PaymentItem(payee="shop-s", token=usdt, amount=USDT),
                PaymentItem(payee="bob", token=usdt, amount=USDT),
            ],
        )

        assert isinstance(results[0].error, PaymentsPaused) and results[0].payment is None
        assert results[1].error is None and results[1].payment.state == PaymentState.SUCCESS
        assert Payment.objects.filter(payer=alice).count() == 1
        assert Assessment.objects.filter(payer=alice).count() == 1
