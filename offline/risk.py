"""The fraud hook of the offline sync (setting FASTPAY_OFFLINE_RISK_ASSESSOR): given the
validated redemptions of one sync, in order, allow each (PENDING) or hold it (FLAGGED).
The default scores them with the fraud app's ``assess_many`` (channel=offline: one read of
the thresholds, breakers and risk profiles per batch, each payer's history once, item k
seeing items 0..k-1) and stores the assessments in bulk; ``allow_all`` is the interface
with no rules (benchmarks, or a platform without the fraud app).

A hook is called as ``hook(redemptions=[...])``, each redemption unsaved (its ``pk`` set)
with its ``voucher`` (``voucher.user`` is the payer, ``voucher.token`` the token) and
``vendor``; it returns one RiskAssessment per redemption, in order."""

from collections.abc import Sequence
from functools import cache

from django.utils.module_loading import import_string

from offline import conf
from wallets.risk import RiskAssessment, RiskDecision


def allow_all(*, redemptions: Sequence) -> list[RiskAssessment]:
    return [RiskAssessment(RiskDecision.ALLOW, 0, []) for _ in redemptions]


def fraud_assess(*, redemptions: Sequence) -> list[RiskAssessment]:
    from fraud.models import Channel
    from fraud.rules import Subject
    from fraud.scoring import assess_many
    from fraud.services.offline import redemptions_assessments_record

    results = assess_many(
        [
            Subject(
                payer=r.voucher.user,
                payee=r.vendor,
                token=r.voucher.token,
                amount=r.amount,
                occurred_at=r.created_at,
                channel=Channel.OFFLINE,
                reference=f"redemption:{r.pk}",
            )
            for r in redemptions
        ]
    )
    # an offline redemption is already spent: a refusal (none is expected for the offline
    # channel: an open breaker is a hit) holds it for review rather than failing the sync
    risks = [
        r
        if isinstance(r, RiskAssessment)
        else RiskAssessment(RiskDecision.REVIEW, 0, [{"rule": "refused", "text": str(r)}])
        for r in results
    ]
    redemptions_assessments_record(list(zip(redemptions, risks, strict=True)))
    return risks


@cache
def _assessor(path: str):
    return import_string(path)


def redemptions_assess(redemptions: Sequence) -> list[RiskAssessment]:
    """One RiskAssessment per redemption, in order, from the configured hook."""
    if not redemptions:
        return []
    risks = list(_assessor(conf.risk_assessor())(redemptions=redemptions))
    if len(risks) != len(redemptions):
        raise RuntimeError(f"the offline risk hook returned {len(risks)} results")
    return risks
