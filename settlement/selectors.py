"""Reads of withdrawals for the API and admin."""

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from settlement.models import AllowedAddress, Withdrawal, WithdrawalApproval, WithdrawalDayUsage
from settlement.services import controls
from settlement.services.withdrawals import token_chain_for
from wallets.models import Token, User
from wallets.risk import RiskAssessment, RiskDecision


def _rows() -> QuerySet[Withdrawal]:
    return Withdrawal.objects.select_related("token", "chain", "tx").prefetch_related(
        Prefetch(
            "approvals", queryset=WithdrawalApproval.objects.only("id", "withdrawal", "revision")
        ),
        "tx__attempts",
    )


def withdrawal_list(*, user: User, filters: dict) -> QuerySet[Withdrawal]:
    rows = _rows().filter(user=user)
    if filters.get("state"):
        rows = rows.filter(state=filters["state"])
    if filters.get("token"):
        rows = rows.filter(token__symbol=filters["token"])
    return rows


def withdrawal_get(*, user: User, withdrawal_id) -> Withdrawal | None:
    """The user's own withdrawal, or None (another user's is not found either)."""
    return _rows().filter(user=user, pk=withdrawal_id).first()


def withdrawal_quote(*, user: User, token: Token, amount_units: int, chain_id=None) -> dict:
    """What a withdrawal of ``amount_units`` would cost and wait for, now (the fraud
    assessment at request time may still ask for a review)."""
    token, chain = token_chain_for(token, chain_id)
    policy = controls.policy_for(token)
    needed = controls.approvals_needed(policy, amount_units, RiskAssessment(RiskDecision.ALLOW))
    limit = controls.daily_limit_of(user, token, policy)
    usage = WithdrawalDayUsage.objects.filter(
        user=user, token=token, day=controls.usage_day(timezone.now())
    ).first()
    return {
        "token": token.symbol,
        "chain_id": chain.chain_id,
        "amount_units": amount_units,
        "fee_units": policy.fee_units,
        "total_units": amount_units + policy.fee_units,
        "fee_policy": "flat",
        "required_approvals": needed.required,
        "timelock_s": needed.timelock_s,
        "daily_limit_left_units": max(0, limit - (usage.used_units if usage else 0)),
    }


def allowed_address_list(*, user: User) -> QuerySet[AllowedAddress]:
    return AllowedAddress.objects.filter(user=user, removed_at__isnull=True).select_related("chain")
