"""Withdrawals, the user's side: request, revise, cancel (docs/withdrawals.md); staff
decide in settlement.services.reviews.

AWAITING_APPROVAL -> AWAITING_PAYMENT -> IN_PROGRESS -> COMPLETED | CANCELLED | FAILED.
The request reserves ``amount + fee`` (AVAILABLE -> WITHDRAWING) in the transaction that
creates the row; every way out of the open states posts the final entry in the
transaction that changes the state: COMPLETED (WITHDRAWING -> CUSTODY and FEES),
CANCELLED and FAILED (WITHDRAWING -> AVAILABLE). Paying (AWAITING_PAYMENT -> IN_PROGRESS)
and the chain's answer are settlement.services.paying.

Lock order (settlement.services.controls): Withdrawal row, usage row, ledger accounts.
"""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fastpay.errors import IdempotencyError
from fastpay.money import format_units
from settlement.destinations import destination_check
from settlement.errors import (
    AmountTooSmall,
    FeeChanged,
    InvalidState,
    StaleRevision,
    TokenNotOnChain,
    WithdrawalsUnavailable,
)
from settlement.models import (
    CancelReason,
    Withdrawal,
    WithdrawalState,
)
from settlement.services import controls
from settlement.services.lifecycle import (
    approved_mark,
    cancellable_check,
    reservation_move,
    withdrawal_close,
    withdrawal_event,
    withdrawal_locked,
)
from wallets.chain.models import Chain
from wallets.errors import AccountNotApproved, TokenDisabled
from wallets.models import AccountKind, EntryKind, Token, User
from wallets.services.ledger import Line, ledger_post, user_account


@dataclass(frozen=True, slots=True)
class WithdrawalDraft:
    """What the user asks for; ``amount_units`` in ledger units of ``token``. ``fee_units``
    is the fee the client was quoted (None: whatever the policy's fee is)."""

    token: Token
    amount_units: int
    destination: str
    chain_id: int | None = None
    fee_units: int | None = None
    idempotency_key: str | None = None

    def as_request(self) -> dict:
        return {
            "token": self.token.symbol,
            "amount_units": self.amount_units,
            "destination": self.destination,
            "chain_id": self.chain_id,
            "fee_units": self.fee_units,
        }


# ------------------------------------------------------------------ the user's side


def withdrawal_request(*, user: User, draft: WithdrawalDraft) -> tuple[Withdrawal, bool]:
    """Check every control, reserve the money, record the withdrawal: (it, created).

    The same idempotency key with the same request returns the first withdrawal (created
    False); with a different one it is refused. A refusal reserves nothing.
    """
    with transaction.atomic():
        if draft.idempotency_key:
            existing = Withdrawal.objects.filter(
                user=user, idempotency_key=draft.idempotency_key
            ).first()
            if existing is not None:
                if existing.requested != draft.as_request():
                    raise IdempotencyError(
                        "this Idempotency-Key was used for a different withdrawal",
                        param="Idempotency-Key",
                    )
                return existing, False
        if not user.is_approved:
            raise AccountNotApproved("your account is not approved to withdraw")
        token, chain = token_chain_for(draft.token, draft.chain_id)
        policy = controls.policy_for(token)
        if not policy.enabled:
            raise WithdrawalsUnavailable(f"withdrawals of {token.symbol} are paused", param="token")
        if draft.amount_units < policy.min_amount_units:
            minimum = format_units(policy.min_amount_units, token.ledger_decimals)
            raise AmountTooSmall(f"the minimum withdrawal is {minimum}", param="amount")
        if draft.fee_units is not None and draft.fee_units != policy.fee_units:
            raise FeeChanged(param="fee")
        now = timezone.now()
        destination = destination_check(draft.destination, chain=chain)
        controls.allow_list_check(user=user, chain=chain, address=destination, now=now)

        withdrawal_id = uuid.uuid4()
        risk = controls.risk_assess(
            user=user,
            token=token,
            amount=draft.amount_units,
            reference=f"withdrawal:{withdrawal_id}",
        )
        needed = controls.approvals_needed(policy, draft.amount_units, risk)
        day = controls.usage_day(now)
        controls.usage_add(
            user=user,
            token=token,
            day=day,
            units=draft.amount_units,
            limit=controls.daily_limit_of(user, token, policy),
        )
        total = draft.amount_units + policy.fee_units
        hold = ledger_post(
            kind=EntryKind.WITHDRAWAL_HOLD,
            reference=f"withdrawal:{withdrawal_id}",
            lines=[
                Line(user_account(user, token), -total),
                Line(user_account(user, token, AccountKind.WITHDRAWING), total),
            ],
            idempotency_key=f"withdrawal:{withdrawal_id}:hold",
            created_by=user,
        )
        withdrawal = Withdrawal(
            id=withdrawal_id,
            user=user,
            token=token,
            chain=chain,
            destination=destination,
            amount_units=draft.amount_units,
            fee_units=policy.fee_units,
            required_approvals=needed.required,
            timelock_s=needed.timelock_s,
            idempotency_key=draft.idempotency_key or None,
            requested=draft.as_request(),
            risk_decision=risk.decision,
            risk_score=max(0, min(100, risk.score)),
            risk_reasons=list(risk.reasons),
            usage_day=day,
            hold_entry=hold,
        )
        if needed.required == 0:
            approved_mark(withdrawal, now)
        withdrawal.save(force_insert=True)
        controls.risk_record(withdrawal=withdrawal, risk=risk)
        withdrawal_event(withdrawal, topic="withdrawal.requested")
        if withdrawal.state == WithdrawalState.AWAITING_PAYMENT:
            withdrawal_event(withdrawal, topic="withdrawal.approved")
    return withdrawal, True


def withdrawal_revise(
    *,
    user: User,
    withdrawal_id,
    amount_units: int | None = None,
    destination: str | None = None,
    revision: int | None = None,
) -> Withdrawal:
    """Change the amount and/or the destination of a withdrawal still awaiting approval.
    A change bumps the revision (approvals given so far were for the old one: void) and
    moves the reservation and the daily usage by the difference. ``revision`` is the one
    the client saw (refused if it moved meanwhile)."""
    with transaction.atomic():
        withdrawal = withdrawal_locked(withdrawal_id, user=user)
        if withdrawal.state != WithdrawalState.AWAITING_APPROVAL:
            raise InvalidState(
                f"a withdrawal {withdrawal.get_state_display().lower()} cannot be changed "
                "(only before its approval); cancel it and ask again",
                param="state",
            )
        if revision is not None and revision != withdrawal.revision:
            raise StaleRevision(param="revision")
        new_amount = withdrawal.amount_units if amount_units is None else amount_units
        new_destination = withdrawal.destination
        if destination is not None:
            new_destination = destination_check(destination, chain=withdrawal.chain)
        if (new_amount, new_destination) == (withdrawal.amount_units, withdrawal.destination):
            return withdrawal
        token, now = withdrawal.token, timezone.now()
        policy = controls.policy_for(token)
        if new_amount < policy.min_amount_units:
            minimum = format_units(policy.min_amount_units, token.ledger_decimals)
            raise AmountTooSmall(f"the minimum withdrawal is {minimum}", param="amount")
        controls.allow_list_check(
            user=user, chain=withdrawal.chain, address=new_destination, now=now
        )
        risk = controls.risk_assess(
            user=user, token=token, amount=new_amount, reference=f"withdrawal:{withdrawal.pk}"
        )
        needed = controls.approvals_needed(policy, new_amount, risk)
        delta = new_amount - withdrawal.amount_units
        if delta:
            controls.usage_add(
                user=user,
                token=token,
                day=withdrawal.usage_day,
                units=delta,
                limit=controls.daily_limit_of(user, token, policy),
            )
            reservation_move(
                withdrawal, delta, key=f"withdrawal:{withdrawal.pk}:r{withdrawal.revision + 1}"
            )
        withdrawal.amount_units = new_amount
        withdrawal.destination = new_destination
        withdrawal.revision += 1
        # it was sent to review: a revision stays there, whatever its new amount
        withdrawal.required_approvals = max(1, needed.required)
        withdrawal.timelock_s = needed.timelock_s
        withdrawal.risk_decision = risk.decision
        withdrawal.risk_score = max(0, min(100, risk.score))
        withdrawal.risk_reasons = list(risk.reasons)
        withdrawal.save()
        controls.risk_record(withdrawal=withdrawal, risk=risk)
        withdrawal_event(withdrawal, topic="withdrawal.revised")
    return withdrawal


def withdrawal_cancel(*, user: User, withdrawal_id) -> Withdrawal:
    """The user cancels a withdrawal that no transaction was signed for; the money goes
    back to AVAILABLE. A second cancel is refused (withdrawal_not_cancellable)."""
    with transaction.atomic():
        withdrawal = withdrawal_locked(withdrawal_id, user=user)
        cancellable_check(withdrawal)
        withdrawal_close(withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.USER, by=user)
        withdrawal_event(withdrawal, topic="withdrawal.cancelled")
    return withdrawal


def token_chain_for(token: Token, chain_id: int | None) -> tuple[Token, Chain]:
    if not token.enabled:
        raise TokenDisabled(param="token")
    if chain_id is not None and chain_id != token.chain_id:
        raise TokenNotOnChain(
            f"{token.symbol} is on chain {token.chain_id}, not {chain_id}", param="chain_id"
        )
    chain = Chain.objects.filter(chain_id=token.chain_id, enabled=True).first()
    if chain is None:
        raise WithdrawalsUnavailable(
            f"chain {token.chain_id} of {token.symbol} is not configured", param="token"
        )
    return token, chain
