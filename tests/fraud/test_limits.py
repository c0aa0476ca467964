"""Amount, velocity and pattern rules at their boundaries (tier 1 defaults: single 2,000,
24 h sum 10,000 and count 50; new payee above 500; structuring 3 within 10% under the
review limit in 60 min; burst over 5 in 10 min; dormant 90 days then 200 or more)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fraud.models import VerificationTier
from tests.fraud.factories import (
    PastOfflineSpendFactory,
    PastPaymentFactory,
    RiskProfileFactory,
    minutes,
    rules_of,
)
from wallets.models import PaymentState
from wallets.risk import RiskDecision

USDT = 10**6  # ledger units per USDT


@pytest.fixture
def known_payee(alice, bob):
    """alice has paid bob before (two hours ago), so new-payee does not fire."""
    PastPaymentFactory(payer=alice, payee=bob, amount=1 * USDT, ago=timedelta(hours=2))
    return bob


class TestTierLimits:
    def test_a_single_payment_at_the_tier_limit_passes(self, alice, known_payee, assess_for):
        assert assess_for(alice, known_payee, 2_000).decision == RiskDecision.ALLOW

    def test_one_unit_over_the_single_limit_is_held(self, alice, known_payee, assess_for):
        result = assess_for(alice, known_payee, units=2_000 * USDT + 1)

        assert rules_of(result) == {"tier_limits"}
        assert "single payment 2000.000001 USDT over 2000 USDT" in result.reasons[0]["text"]
        assert result.decision == RiskDecision.REVIEW

    def test_the_limits_follow_the_payers_tier(self, alice, known_payee, assess_for):
        RiskProfileFactory(user=alice, verification_tier=VerificationTier.UNVERIFIED)

        assert rules_of(assess_for(alice, known_payee, 501)) == {"tier_limits"}

    def test_the_24h_sum_counts_earlier_payments(self, alice, known_payee, assess_for):
        for hours in range(3, 12):  # 9 x 1,000 in the last 24 h, + the 1 USDT of the fixture
            PastPaymentFactory(
                payer=alice, payee=known_payee, amount=1_000 * USDT, ago=timedelta(hours=hours)
            )

        assert assess_for(alice, known_payee, units=999 * USDT).decision == RiskDecision.ALLOW
        result = assess_for(alice, known_payee, units=999 * USDT + 1)
        assert "24 h total 10000.000001 USDT over 10000 USDT" in result.reasons[0]["text"]

    def test_older_payments_and_failed_ones_do_not_count(self, alice, known_payee, assess_for):
        PastPaymentFactory(
            payer=alice, payee=known_payee, amount=9_000 * USDT, ago=timedelta(hours=25)
        )
        PastPaymentFactory(
            payer=alice, payee=known_payee, amount=9_000 * USDT, state=PaymentState.FAILED
        )

        assert assess_for(alice, known_payee, 1_500).decision == RiskDecision.ALLOW

    def test_the_51st_payment_in_24h_is_held(self, alice, known_payee, assess_for):
        for n in range(48):  # + the fixture's = 49 earlier payments
            PastPaymentFactory(payer=alice, payee=known_payee, ago=timedelta(hours=1, minutes=n))
        assert assess_for(alice, known_payee).decision == RiskDecision.ALLOW  # the 50th

        PastPaymentFactory(payer=alice, payee=known_payee, ago=timedelta(hours=3))
        result = assess_for(alice, known_payee)  # the 51st
        assert "payment 51 in 24 h over 50" in result.reasons[0]["text"]


class TestLargeAmount:
    def test_it_follows_the_platform_setting_by_default(
        self, alice, known_payee, assess_for, settings
    ):
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50

        assert assess_for(alice, known_payee, units=50 * USDT - 1).decision == RiskDecision.ALLOW
        result = assess_for(alice, known_payee, 50)
        assert "large_amount" in rules_of(result)
        assert result.decision == RiskDecision.REVIEW

    def test_an_admin_threshold_overrides_the_setting(self, alice, known_payee, assess_for, rule):
        rule("large_amount", review_at_tokens=300)

        assert rules_of(assess_for(alice, known_payee, 300)) == {"large_amount"}


class TestBurst:
    def test_the_fifth_payment_in_ten_minutes_passes(self, alice, known_payee, assess_for):
        for n in range(4):
            PastPaymentFactory(payer=alice, payee=known_payee, ago=minutes(n + 1))

        assert assess_for(alice, known_payee).decision == RiskDecision.ALLOW

    def test_the_sixth_is_held(self, alice, known_payee, assess_for):
        for n in range(5):
            PastPaymentFactory(payer=alice, payee=known_payee, ago=minutes(n + 1))

        result = assess_for(alice, known_payee)
        assert rules_of(result) == {"burst"}
        assert result.reasons[0]["text"] == "payment 6 within 10 min (limit 5)"


class TestNewPayee:
    def test_500_to_a_new_payee_passes(self, alice, bob, assess_for):
        assert assess_for(alice, bob, 500).decision == RiskDecision.ALLOW

    def test_just_over_500_to_a_new_payee_is_held(self, alice, bob, assess_for):
        result = assess_for(alice, bob, units=500 * USDT + 1)

        assert rules_of(result) == {"new_payee"}
        assert result.decision == RiskDecision.REVIEW

    def test_a_known_payee_is_not_new(self, alice, known_payee, assess_for):
        assert assess_for(alice, known_payee, 900).decision == RiskDecision.ALLOW

    def test_a_failed_payment_does_not_make_a_payee_known(self, alice, bob, assess_for):
        PastPaymentFactory(payer=alice, payee=bob, state=PaymentState.FAILED)

        assert rules_of(assess_for(alice, bob, 900)) == {"new_payee"}


class TestStructuring:
    # Review limit for tier 1 = 2,000; the band is 1,800 (incl.) to 2,000 (excl.).
    def test_two_payments_just_under_the_limit_pass(self, alice, known_payee, assess_for):
        PastPaymentFactory(payer=alice, payee=known_payee, amount=1_900 * USDT, ago=minutes(30))

        assert assess_for(alice, known_payee, 1_950).decision == RiskDecision.ALLOW

    def test_the_third_within_the_hour_is_held(self, alice, known_payee, assess_for):
        for ago in (50, 30):
            PastPaymentFactory(
                payer=alice, payee=known_payee, amount=1_900 * USDT, ago=minutes(ago)
            )

        result = assess_for(alice, known_payee, 1_800)
        assert rules_of(result) == {"structuring"}
        assert result.reasons[0]["figures"]["count"] == 3

    def test_payments_outside_the_band_or_the_hour_do_not_count(
        self, alice, known_payee, assess_for
    ):
        PastPaymentFactory(payer=alice, payee=known_payee, amount=1_900 * USDT, ago=minutes(61))
        PastPaymentFactory(payer=alice, payee=known_payee, amount=1_799 * USDT, ago=minutes(5))

        assert assess_for(alice, known_payee, 1_900).decision == RiskDecision.ALLOW


class TestDormant:
    @pytest.fixture
    def old_account(self, alice, bob):
        type(alice).objects.filter(pk=alice.pk).update(
            date_joined=timezone.now() - timedelta(days=400)
        )
        alice.refresh_from_db()
        return alice

    def test_waking_after_91_days_with_200_is_held(self, old_account, bob, assess_for):
        PastPaymentFactory(payer=old_account, payee=bob, ago=timedelta(days=91))

        result = assess_for(old_account, bob, 200)
        assert rules_of(result) == {"dormant"}

    def test_after_89_days_it_is_not_dormant(self, old_account, bob, assess_for):
        PastPaymentFactory(payer=old_account, payee=bob, ago=timedelta(days=89))

        assert assess_for(old_account, bob, 200).decision == RiskDecision.ALLOW

    def test_a_small_payment_wakes_nobody(self, old_account, bob, assess_for):
        PastPaymentFactory(payer=old_account, payee=bob, ago=timedelta(days=91))

        assert assess_for(old_account, bob, units=200 * USDT - 1).decision == RiskDecision.ALLOW

    def test_a_new_account_is_not_dormant(self, alice, bob, assess_for):
        assert assess_for(alice, bob, 300).decision == RiskDecision.ALLOW


class TestOfflineSpendingCounts:
    """Offline redemptions (as the sync assessed them) are the payer's spending too: the
    limits, the payees paid before and activity span both channels."""

    def test_offline_spends_count_in_the_24h_sum(self, alice, known_payee, assess_for):
        for hours in range(3, 12):  # 9 x 1,000 synced in the last 24 h (+ 1 online)
            PastOfflineSpendFactory(
                payer=alice, payee=known_payee, amount=1_000 * USDT, ago=timedelta(hours=hours)
            )
        PastOfflineSpendFactory(payer=alice, amount=5_000 * USDT, ago=timedelta(hours=25))

        assert assess_for(alice, known_payee, units=999 * USDT).decision == RiskDecision.ALLOW
        result = assess_for(alice, known_payee, units=999 * USDT + 1)
        assert "24 h total 10000.000001 USDT over 10000 USDT" in result.reasons[0]["text"]

    def test_offline_spends_count_in_a_burst(self, alice, known_payee, assess_for):
        for ago in range(1, 6):
            PastOfflineSpendFactory(payer=alice, payee=known_payee, ago=minutes(ago))

        assert rules_of(assess_for(alice, known_payee)) == {"burst"}

    def test_a_vendor_paid_offline_is_not_a_new_payee(self, alice, bob, assess_for):
        assert rules_of(assess_for(alice, bob, 900)) == {"new_payee"}

        PastOfflineSpendFactory(payer=alice, payee=bob, ago=timedelta(days=3))

        assert assess_for(alice, bob, 900).decision == RiskDecision.ALLOW

    def test_another_payers_offline_spends_do_not_count(self, alice, bob, known_payee, assess_for):
        for hours in range(1, 11):
            PastOfflineSpendFactory(payer=bob, amount=1_000 * USDT, ago=timedelta(hours=hours))

        assert assess_for(alice, known_payee, 1_500).decision == RiskDecision.ALLOW

    def test_offline_activity_is_not_dormancy(self, alice, bob, assess_for):
        type(alice).objects.filter(pk=alice.pk).update(
            date_joined=timezone.now() - timedelta(days=400)
        )
        alice.refresh_from_db()
        PastPaymentFactory(payer=alice, payee=bob, ago=timedelta(days=200))
        assert rules_of(assess_for(alice, bob, 200)) == {"dormant"}

        PastOfflineSpendFactory(payer=alice, payee=bob, ago=timedelta(days=10))

        assert assess_for(alice, bob, 200).decision == RiskDecision.ALLOW
