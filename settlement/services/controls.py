"""The controls a withdrawal passes before money is reserved: the token's policy, the
daily limit (counted under the usage row's lock), the merchant allow-list and the fraud
assessment. Called inside the use case's transaction.

Lock order of every withdrawal use case: the Withdrawal row, then the WithdrawalDayUsage
row, then the ledger accounts (the posting service), so no two of them wait in a cycle.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.locks import for_update
from fastpay.money import format_amount
from fraud.models import Assessment, Channel, RuleHit
from fraud.rules import Hit
from fraud.scoring import decide
from fraud.thresholds import thresholds_load
from settlement.errors import (
    DailyLimitExceeded,
    DestinationCoolingDown,
    DestinationNotAllowed,
    WithdrawalBlocked,
)
from settlement.models import (
    AllowedAddress,
    WithdrawalDayUsage,
    WithdrawalLimit,
    WithdrawalPolicy,
)
from wallets.models import Token, User, UserRole
from wallets.risk import PaymentDraft, RiskAssessment, RiskDecision, payment_risk_assess_many

# whole tokens, for a token without a WithdrawalPolicy row
DEFAULT_POLICY = {
    "min_amount_tokens": 0,
    "fee_units": 0,
    "daily_limit_tokens": 50_000,
    "approval_above_tokens": 1_000,
    "four_eyes_above_tokens": 10_000,
    "timelock_above_tokens": 50_000,
    "timelock_s": 3600,
    "merchant_cooldown_s": 86400,
}

#: payment rules that say nothing about money sent to the payer's own address
NOT_FOR_WITHDRAWALS = frozenset({"new_payee", "geofence", "impossible_travel"})


def policy_for(token: Token) -> WithdrawalPolicy:
    """The token's policy row, or an unsaved one with the defaults."""
    policy = WithdrawalPolicy.objects.filter(token=token).first()
    if policy is not None:
        return policy
    scale = 10**token.ledger_decimals
    d = DEFAULT_POLICY
    return WithdrawalPolicy(
        token=token,
        min_amount_units=max(1, d["min_amount_tokens"] * scale),
        fee_units=d["fee_units"],
        daily_limit_units=d["daily_limit_tokens"] * scale,
        approval_above_units=d["approval_above_tokens"] * scale,
        four_eyes_above_units=d["four_eyes_above_tokens"] * scale,
        timelock_above_units=d["timelock_above_tokens"] * scale,
        timelock_s=d["timelock_s"],
        merchant_cooldown_s=d["merchant_cooldown_s"],
    )


@dataclass(frozen=True, slots=True)
class Approvals:
    required: int  # 0, 1 or 2 (four eyes)
    timelock_s: int  # applied once approved


def approvals_needed(policy: WithdrawalPolicy, amount: int, risk: RiskAssessment) -> Approvals:
    required = 0
    if amount >= policy.approval_above_units or risk.decision == RiskDecision.REVIEW:
        required = 1
    if amount >= policy.four_eyes_above_units:
        required = 2
    timelock = policy.timelock_s if amount >= policy.timelock_above_units else 0
    return Approvals(required, timelock)


def daily_limit_of(user: User, token: Token, policy: WithdrawalPolicy) -> int:
    own = WithdrawalLimit.objects.filter(user=user, token=token).first()
    return own.daily_limit_units if own is not None else policy.daily_limit_units


def usage_day(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _usage_locked(user: User, token: Token, day: date) -> WithdrawalDayUsage:
    lookup = {"user": user, "token": token, "day": day}
    try:
        with transaction.atomic():  # a lost creation race must not break the caller
            WithdrawalDayUsage.objects.get_or_create(**lookup)
    except IntegrityError:
        pass
    return for_update(WithdrawalDayUsage.objects).get(**lookup)


def usage_add(*, user: User, token: Token, day: date, units: int, limit: int) -> None:
    """Count ``units`` (may be negative: an edit down) against the user's day; raise
    DailyLimitExceeded when the limit would be passed. Takes the usage row's lock."""
    usage = _usage_locked(user, token, day)
    used = usage.used_units + units
    if units > 0 and used > limit:
        left = max(0, limit - usage.used_units)
        raise DailyLimitExceeded(
            f"{format_amount(units, token)} would pass your daily limit of "
            f"{format_amount(limit, token)}; {format_amount(left, token)} left today",
            param="amount",
        )
    usage.used_units = max(0, used)
    usage.limit_units = max(limit, usage.used_units)
    usage.save(update_fields=["used_units", "limit_units"])


def allow_list_check(*, user: User, chain, address: str, now: datetime) -> None:
    """Merchants withdraw only to their own list's addresses, once a new one's cool-down
    is over (a stolen session cannot add an address and empty the balance at once)."""
    if user.role != UserRole.MERCHANT:
        return
    entry = AllowedAddress.objects.filter(
        user=user, chain=chain, address=address, removed_at__isnull=True
    ).first()
    if entry is None:
        raise DestinationNotAllowed(param="destination")
    if entry.usable_at > now:
        raise DestinationCoolingDown(
            f"this address is usable from {entry.usable_at:%Y-%m-%d %H:%M:%S} UTC",
            param="destination",
        )


def risk_assess(*, user: User, token: Token, amount: int, reference: str) -> RiskAssessment:
    """The payments' risk hook (settings FASTPAY_RISK_ASSESSOR: the fraud app's rules by
    default) on a withdrawal, drafted as a payment to the user's own address, without the
    rules about payees and places. Raises what refuses it (PaymentsPaused: a circuit
    breaker) and WithdrawalBlocked on a block."""
    (risk,) = payment_risk_assess_many(
        [
            PaymentDraft(
                payer=user, payee=user, token=token, amount=amount, metadata={"ref": reference}
            )
        ]
    )
    if isinstance(risk, Exception):
        raise risk
    reasons = [
        r
        for r in risk.reasons
        if not (isinstance(r, dict) and r.get("rule") in NOT_FOR_WITHDRAWALS)
    ]
    if len(reasons) != len(risk.reasons):
        hits = [Hit(**r) for r in reasons if isinstance(r, dict)]
        risk = decide(hits, thresholds_load()["scoring"].params)
    if risk.decision == RiskDecision.BLOCK:
        texts = [str(r.get("text", r)) if isinstance(r, dict) else str(r) for r in reasons]
        raise WithdrawalBlocked(
            "blocked by risk controls: " + ("; ".join(texts) or "no reason given"), param="amount"
        )
    return risk


def risk_record(*, withdrawal, risk: RiskAssessment) -> Assessment:
    """Store the assessment (subject "withdrawal:<id>") for the fraud dashboard."""
    assessment = Assessment.objects.create(
        subject=f"withdrawal:{withdrawal.pk}",
        channel=Channel.ONLINE,
        payer_id=withdrawal.user_id,
        payee_id=withdrawal.user_id,
        token_id=withdrawal.token_id,
        amount=withdrawal.amount_units,
        decision=risk.decision,
        score=max(0, min(100, risk.score)),
        reasons=list(risk.reasons),
        occurred_at=timezone.now(),
    )
    RuleHit.objects.bulk_create(
        RuleHit(assessment=assessment, rule=rule, score=score, created_at=assessment.created_at)
        for rule, score in _rule_scores(assessment.reasons)
    )
    return assessment


def _rule_scores(reasons) -> list[tuple[str, int]]:
    return [
        (str(r.get("rule", "custom"))[:32], int(r.get("score", 0)))
        for r in reasons
        if isinstance(r, dict)
    ]


def cooldown_end(policy: WithdrawalPolicy, now: datetime) -> datetime:
    return now + timedelta(seconds=policy.merchant_cooldown_s)
