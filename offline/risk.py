"""The fraud hook of the offline sync (setting FASTPAY_OFFLINE_RISK_ASSESSOR): given a
validated redemption, allow it (PENDING) or hold it (FLAGGED). The default calls the fraud
app's ``assess`` with channel=offline and stores the assessment; ``allow_all`` is the
interface with no rules (benchmarks, or a platform without the fraud app)."""

from functools import cache

from django.utils.module_loading import import_string

from offline import conf
from wallets.risk import RiskAssessment, RiskDecision


def allow_all(*, redemption, payer) -> RiskAssessment:
    return RiskAssessment(RiskDecision.ALLOW, 0, [])


def fraud_assess(*, redemption, payer) -> RiskAssessment:
    from fraud.models import Channel
    from fraud.scoring import assess
    from fraud.services.offline import redemption_assessment_record

    voucher = redemption.voucher
    risk = assess(
        payer=payer,
        payee=redemption.vendor,
        token=voucher.token,
        amount=redemption.amount,
        channel=Channel.OFFLINE,
        occurred_at=redemption.created_at,
        reference=f"redemption:{redemption.pk}",
    )
    redemption_assessment_record(
        risk=risk,
        redemption_id=redemption.pk,
        payer=payer,
        payee=redemption.vendor,
        token=voucher.token,
        amount=redemption.amount,
        occurred_at=redemption.created_at,
    )
    return risk


@cache
def _assessor(path: str):
    return import_string(path)


def redemption_assess(*, redemption, payer) -> RiskAssessment:
    return _assessor(conf.risk_assessor())(redemption=redemption, payer=payer)
