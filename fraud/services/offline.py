"""Hooks for the offline sync: double-spend evidence and redemption assessments."""

from django.db import transaction
from django.utils import timezone

from fastpay.bulk_insert import rows_insert
from fastpay.events import event_record
from fraud.models import (
    Assessment,
    AuditAction,
    Channel,
    DoubleSpendEvidence,
    RiskProfile,
    RuleHit,
)
from fraud.services.assessments import _hits
from fraud.services.audit import audit_record
from wallets.risk import RiskAssessment


def payer_flag_double_spend(*, payer, voucher: str, evidence: dict, by=None) -> DoubleSpendEvidence:
    """Record proof that `payer` spent voucher `voucher` twice (two voucher-key signatures
    for sequence 0). From then on `assess` blocks every payment and redemption of the payer.
    Idempotent per (payer, voucher)."""
    with transaction.atomic():
        record, created = DoubleSpendEvidence.objects.get_or_create(
            payer=payer, voucher=voucher, defaults={"evidence": evidence}
        )
        if not created:
            return record
        profile, _ = RiskProfile.objects.get_or_create(user=payer)
        RiskProfile.objects.filter(pk=profile.pk, double_spend_flagged_at__isnull=True).update(
            double_spend_flagged_at=timezone.now()
        )
        event_record(
            topic="payer.double_spend_flagged",
            aggregate_type="user",
            aggregate_id=payer.pk,
            payload={
                "user_id": payer.pk,
                "username": payer.username,
                "voucher": voucher,
                "state": "flagged",
            },
        )
        audit_record(
            action=AuditAction.DOUBLE_SPEND,
            actor=by,
            object_type="user",
            object_id=payer.pk,
            after={"voucher": voucher},
            note="offline double-spend evidence",
        )
    return record


def redemption_assessment_record(
    *, risk: RiskAssessment, redemption_id, payer, payee, token, amount: int, occurred_at
) -> Assessment:
    """Store the assessment of an offline redemption (payment=None) in the sync's
    transaction; the sync decides what a review/block means for a redemption."""
    with transaction.atomic():
        assessment = Assessment.objects.create(
            subject=f"redemption:{redemption_id}",
            channel=Channel.OFFLINE,
            payer=payer,
            payee=payee,
            token=token,
            amount=amount,
            decision=risk.decision,
            score=max(0, min(100, risk.score)),
            reasons=list(risk.reasons),
            occurred_at=occurred_at,
        )
        RuleHit.objects.bulk_create(
            RuleHit(assessment=assessment, rule=rule, score=score, created_at=assessment.created_at)
            for rule, score in _hits(assessment.reasons)
        )
    return assessment


def redemptions_assessments_record(pairs: list[tuple[object, RiskAssessment]]) -> None:
    """Store the assessments of a sync's redemptions (payment=None), two bulk inserts, in
    the sync's transaction: (redemption, assessment) with the redemption unsaved but its
    pk, voucher (payer, token), vendor, amount and created_at set."""
    if not pairs:
        return
    assessments = rows_insert(
        Assessment,
        [
            Assessment(
                subject=f"redemption:{redemption.pk}",
                channel=Channel.OFFLINE,
                payer_id=redemption.voucher.user_id,
                payee_id=redemption.vendor_id,
                token_id=redemption.voucher.token_id,
                amount=redemption.amount,
                decision=risk.decision,
                score=max(0, min(100, risk.score)),
                reasons=list(risk.reasons),
                occurred_at=redemption.created_at,
            )
            for redemption, risk in pairs
        ],
    )
    rows_insert(
        RuleHit,
        [
            RuleHit(assessment=a, rule=rule, score=score, created_at=a.created_at)
            for a in assessments
            for rule, score in _hits(a.reasons)
        ],
    )
