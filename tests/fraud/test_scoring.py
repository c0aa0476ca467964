"""Scoring and decisions; what is stored with the payment; offline double-spend evidence."""

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from fraud.models import Assessment, AuditAction, AuditLog, Channel, DoubleSpendEvidence, RuleHit
from fraud.rules import BLOCK, Hit
from fraud.scoring import decide
from fraud.services.offline import payer_flag_double_spend, redemption_assessment_record
from tests.fraud.factories import rules_of
from wallets.errors import PaymentBlocked
from wallets.models import PaymentState
from wallets.risk import RiskDecision
from wallets.services.ledger import user_account
from wallets.services.payments import PaymentItem, payment_create, payment_create_batch

USDT = 10**6
SCORING = {"review_at": 50, "block_at": 95}


class TestDecide:
    def test_no_hit_allows_with_score_zero(self):
        result = decide([], SCORING)

        assert (result.decision, result.score, result.reasons) == (RiskDecision.ALLOW, 0, [])

    def test_a_score_under_review_at_allows(self):
        result = decide([Hit("x", 49, "")], SCORING)

        assert (result.decision, result.score) == (RiskDecision.ALLOW, 49)

    def test_hits_combine_as_independent_evidence(self):
        result = decide([Hit("a", 50, ""), Hit("b", 70, "")], SCORING)

        assert (result.decision, result.score) == (RiskDecision.REVIEW, 85)
        assert [r["rule"] for r in result.reasons] == ["b", "a"]  # strongest first

    def test_enough_evidence_blocks(self):
        result = decide([Hit("a", 80, ""), Hit("b", 80, ""), Hit("c", 70, "")], SCORING)

        assert (result.decision, result.score) == (RiskDecision.BLOCK, 99)

    def test_a_blocking_rule_blocks_whatever_the_score(self):
        assert decide([Hit("d", 10, "", action=BLOCK)], SCORING).decision == RiskDecision.BLOCK


def test_a_disabled_rule_never_fires(alice, bob, assess_for, rule):
    rule("new_payee", enabled=False)

    assert assess_for(alice, bob, 900).decision == RiskDecision.ALLOW


class TestStoredWithThePayment:
    def test_an_allowed_payment_keeps_its_assessment(self, alice, bob, usdt, fund):
        fund(alice, usdt, 10)
        payment = payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=1))

        assessment = Assessment.objects.get(payment=payment)
        assert (assessment.decision, assessment.score, assessment.reasons) == ("allow", 0, [])
        assert assessment.subject == f"payment:{payment.id}"

    def test_a_held_payment_stores_structured_reasons_and_rule_hits(self, alice, bob, usdt, fund):
        fund(alice, usdt, 1_000)
        payment = payment_create(
            payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=600 * USDT)
        )

        assert payment.state == PaymentState.FLAGGED
        assert payment.risk_score == 50
        assert payment.risk_reasons == [
            {
                "rule": "new_payee",
                "score": 50,
                "action": "review",
                "text": "first payment to bob: 600 USDT, above 500 USDT",
                "figures": {"amount_units": 600 * USDT, "threshold_units": 500 * USDT},
            }
        ]
        assert list(RuleHit.objects.values_list("rule", flat=True)) == ["new_payee"]


class TestDoubleSpend:
    def test_evidence_blocks_the_payer_outright(self, alice, bob, usdt, fund, assess_for):
        fund(alice, usdt, 100)
        payer_flag_double_spend(payer=alice, voucher="0xvoucher", evidence={"orders": ["a", "b"]})

        assert assess_for(alice, bob, units=1).decision == RiskDecision.BLOCK
        with pytest.raises(PaymentBlocked):
            payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=1))
        assert user_account(alice, usdt).balance == 100 * USDT
        assert user_account(bob, usdt).balance == 0

    def test_it_blocks_offline_redemptions_too(self, alice, bob, assess_for):
        payer_flag_double_spend(payer=alice, voucher="0xv", evidence={})

        result = assess_for(alice, bob, 1, channel=Channel.OFFLINE, occurred_at=timezone.now())

        assert result.decision == RiskDecision.BLOCK
        assert rules_of(result) == {"double_spend"}

    def test_the_same_evidence_twice_is_recorded_once(self, alice):
        payer_flag_double_spend(payer=alice, voucher="0xv", evidence={})
        payer_flag_double_spend(payer=alice, voucher="0xv", evidence={})

        assert DoubleSpendEvidence.objects.count() == 1
        assert OutboxEvent.objects.filter(topic="payer.double_spend_flagged").count() == 1
        assert AuditLog.objects.filter(action=AuditAction.DOUBLE_SPEND).count() == 1

    def test_other_payers_are_not_affected(self, alice, bob, assess_for):
        payer_flag_double_spend(payer=alice, voucher="0xv", evidence={})

        assert assess_for(bob, alice, 1).decision == RiskDecision.ALLOW


def test_a_redemption_assessment_is_stored_without_a_payment(alice, bob, usdt, assess_for):
    at = timezone.now()
    risk = assess_for(alice, bob, 600, channel=Channel.OFFLINE, occurred_at=at)

    stored = redemption_assessment_record(
        risk=risk,
        redemption_id="r-1",
        payer=alice,
        payee=bob,
        token=usdt,
        amount=600 * USDT,
        occurred_at=at,
    )

    assert (stored.payment, stored.channel, stored.subject) == (None, "offline", "redemption:r-1")
    assert stored.decision == RiskDecision.REVIEW
    assert list(stored.hits.values_list("rule", flat=True)) == ["new_payee"]


def test_a_paused_payee_refuses_only_its_item_in_a_batch(alice, bob, usdt, fund):
    from fraud.services.breakers import breaker_trip
    from tests.fraud.factories import VendorFactory

    shop = VendorFactory(username="shop")
    fund(alice, usdt, 10)
    breaker_trip(scope="vendor", key=str(shop.pk), reason="test", figures={})

    results = payment_create_batch(
        payer=alice,
        items=[
            PaymentItem(payee="shop", token=usdt, amount=USDT),
            PaymentItem(payee="bob", token=usdt, amount=USDT),
        ],
    )

    assert results[0].error.code == "payments_paused"
    assert results[1].payment.state == PaymentState.SUCCESS
