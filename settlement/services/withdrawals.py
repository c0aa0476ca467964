"""Withdrawals: request, revise, approve, reject, cancel (docs/withdrawals.md).

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
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fastpay.errors import IdempotencyError, NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
from settlement.destinations import destination_check
from settlement.errors import (
    AlreadyApproved,
    AmountTooSmall,
    ApprovalForbidden,
    FeeChanged,
    InvalidState,
    NoteRequired,
    StaleRevision,
    TokenNotOnChain,
    WithdrawalsUnavailable,
)
from settlement.models import (
    CancelReason,
    Withdrawal,
    WithdrawalApproval,
    WithdrawalState,
)
from settlement.services import controls
from wallets.chain.models import Chain
from wallets.errors import AccountNotApproved, TokenDisabled
from wallets.models import AccountKind, EntryKind, Token, User
from wallets.services.ledger import Line, ledger_post, system_account, user_account

APPROVE_PERMISSION = "settlement.approve_withdrawal"


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
            _approved(withdrawal, now)
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
        withdrawal = _locked(withdrawal_id, user=user)
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
            _reserve(
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
        withdrawal = _locked(withdrawal_id, user=user)
        _cancellable(withdrawal)
        _close(withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.USER, by=user)
        withdrawal_event(withdrawal, topic="withdrawal.cancelled")
    return withdrawal


# ------------------------------------------------------------------ staff


def withdrawal_approve(*, withdrawal_id, staff: User, revision: int, note: str = "") -> Withdrawal:
    """One staff member approves ``revision``. The requester never counts, nor the same
    staff twice (four eyes: ``required_approvals`` distinct staff for the same revision).
    The last approval moves it to AWAITING_PAYMENT (after its time-lock, if any)."""
    _require_staff(staff)
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        if withdrawal.user_id == staff.pk:
            raise ApprovalForbidden("you requested this withdrawal: someone else approves it")
        if withdrawal.state != WithdrawalState.AWAITING_APPROVAL:
            raise InvalidState(
                f"the withdrawal is {withdrawal.get_state_display().lower()}: nothing to approve",
                param="state",
            )
        if revision != withdrawal.revision:
            raise StaleRevision(
                f"you approved revision {revision}; the withdrawal is at revision "
                f"{withdrawal.revision} (amount or destination changed)",
                param="revision",
            )
        approvals = withdrawal.approvals.filter(revision=withdrawal.revision)
        if approvals.filter(staff=staff).exists():
            raise AlreadyApproved(param="staff")
        WithdrawalApproval.objects.create(
            withdrawal=withdrawal,
            revision=withdrawal.revision,
            staff=staff,
            requester_id=withdrawal.user_id,
            note=note,
        )
        if approvals.count() >= withdrawal.required_approvals:
            _approved(withdrawal, timezone.now())
            withdrawal.save()
            withdrawal_event(withdrawal, topic="withdrawal.approved")
        else:
            withdrawal_event(withdrawal, topic="withdrawal.approval_added", staff_id=staff.pk)
    return withdrawal


def withdrawal_reject(*, withdrawal_id, staff: User, note: str) -> Withdrawal:
    """A reviewer refuses a withdrawal awaiting approval; the money goes back."""
    _require_staff(staff)
    if not note.strip():
        raise NoteRequired(param="note")
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        if withdrawal.state != WithdrawalState.AWAITING_APPROVAL:
            raise InvalidState(
                f"the withdrawal is {withdrawal.get_state_display().lower()}: only one "
                "awaiting approval can be rejected",
                param="state",
            )
        _close(
            withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.REJECTED, by=staff, note=note
        )
        withdrawal_event(withdrawal, topic="withdrawal.rejected")
    return withdrawal


def withdrawal_cancel_by_staff(*, withdrawal_id, staff: User, note: str) -> Withdrawal:
    """Staff stop a withdrawal not yet signed for: awaiting approval, or approved and
    waiting (its time-lock, the hot wallet); the money goes back."""
    _require_staff(staff)
    if not note.strip():
        raise NoteRequired(param="note")
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        _cancellable(withdrawal)
        _close(
            withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.STAFF, by=staff, note=note
        )
        withdrawal_event(withdrawal, topic="withdrawal.cancelled")
    return withdrawal


# ------------------------------------------------------------------ outcomes (paying)


def withdrawal_complete(withdrawal: Withdrawal) -> None:
    """The transfer is confirmed at depth: the reserved money leaves the ledger's users
    (CUSTODY gets the amount: the platform's wallet holds that much less; FEES the fee).
    The caller holds the withdrawal's lock, in its transaction."""
    token = withdrawal.token
    lines = [
        Line(
            user_account(withdrawal.user, token, AccountKind.WITHDRAWING), -withdrawal.total_units
        ),
        Line(system_account(token, AccountKind.CUSTODY), withdrawal.amount_units),
    ]
    if withdrawal.fee_units:
        lines.append(Line(system_account(token, AccountKind.FEES), withdrawal.fee_units))
    entry = ledger_post(
        kind=EntryKind.WITHDRAWAL,
        reference=f"withdrawal:{withdrawal.pk}",
        lines=lines,
        idempotency_key=f"withdrawal:{withdrawal.pk}:final",
    )
    withdrawal.state = WithdrawalState.COMPLETED
    withdrawal.final_entry = entry
    withdrawal.closed_at = timezone.now()
    withdrawal.save()
    withdrawal_event(withdrawal, topic="withdrawal.completed")


def withdrawal_fail(withdrawal: Withdrawal, *, code: str, note: str) -> None:
    """The transfer failed for good (reverted): the money goes back, with the reason. The
    caller holds the withdrawal's lock, in its transaction."""
    withdrawal.failure_code = code[:64]
    _close(withdrawal, WithdrawalState.FAILED, note=note)
    withdrawal_event(withdrawal, topic="withdrawal.failed")


# ------------------------------------------------------------------ helpers


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


def _locked(withdrawal_id, *, user: User | None = None) -> Withdrawal:
    rows = Withdrawal.objects.select_related("token", "chain", "user")
    if user is not None:
        rows = rows.filter(user=user)
    withdrawal = for_update(rows, of=("self",)).filter(pk=withdrawal_id).first()
    if withdrawal is None:
        raise NotFound("no such withdrawal", param="withdrawal_id")
    return withdrawal


def _require_staff(staff: User) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(APPROVE_PERMISSION)):
        raise ApprovalForbidden("only staff with the approve_withdrawal permission decide")


def _cancellable(withdrawal: Withdrawal) -> None:
    if withdrawal.state not in (
        WithdrawalState.AWAITING_APPROVAL,
        WithdrawalState.AWAITING_PAYMENT,
    ):
        raise InvalidState(
            f"the withdrawal is {withdrawal.get_state_display().lower()}: only one not yet "
            "paid can be cancelled",
            param="state",
            code="withdrawal_not_cancellable",
        )


def _approved(withdrawal: Withdrawal, now) -> None:
    withdrawal.state = WithdrawalState.AWAITING_PAYMENT
    withdrawal.approved_at = now
    if withdrawal.timelock_s:
        withdrawal.unlock_at = now + timedelta(seconds=withdrawal.timelock_s)


def _reserve(withdrawal: Withdrawal, units: int, *, key: str) -> None:
    """Move ``units`` more (negative: fewer) from AVAILABLE into WITHDRAWING."""
    token, user = withdrawal.token, withdrawal.user
    ledger_post(
        kind=EntryKind.WITHDRAWAL_HOLD if units > 0 else EntryKind.WITHDRAWAL_VOID,
        reference=f"withdrawal:{withdrawal.pk}",
        lines=[
            Line(user_account(user, token), -units),
            Line(user_account(user, token, AccountKind.WITHDRAWING), units),
        ],
        idempotency_key=key,
        created_by=user,
    )


def _close(
    withdrawal: Withdrawal, state: str, *, reason: str = "", by=None, note: str = ""
) -> None:
    """CANCELLED or FAILED: the reservation back to AVAILABLE, the day's usage given back."""
    token, user = withdrawal.token, withdrawal.user
    policy = controls.policy_for(token)
    controls.usage_add(
        user=user,
        token=token,
        day=withdrawal.usage_day,
        units=-withdrawal.amount_units,
        limit=controls.daily_limit_of(user, token, policy),
    )
    entry = ledger_post(
        kind=EntryKind.WITHDRAWAL_VOID,
        reference=f"withdrawal:{withdrawal.pk}",
        lines=[
            Line(user_account(user, token, AccountKind.WITHDRAWING), -withdrawal.total_units),
            Line(user_account(user, token), withdrawal.total_units),
        ],
        idempotency_key=f"withdrawal:{withdrawal.pk}:final",
        created_by=by if by is not None and by.pk else None,
        memo=note[:255],
    )
    withdrawal.state = state
    withdrawal.cancel_reason = reason
    withdrawal.note = note
    withdrawal.closed_by = by
    withdrawal.final_entry = entry
    withdrawal.closed_at = timezone.now()
    withdrawal.save()


def withdrawal_payload(withdrawal: Withdrawal) -> dict:
    token = withdrawal.token
    tx, tx_hash = withdrawal.tx, None
    if tx is not None:
        tx_hash = tx.mined_hash or tx.attempts.order_by("-id").values_list("tx_hash", flat=True)[0]
    return {
        "withdrawal_id": str(withdrawal.pk),
        "user_id": withdrawal.user_id,
        "token": token.symbol,
        "chain_id": token.chain_id,
        "destination": withdrawal.destination,
        "amount": format_units(withdrawal.amount_units, token.ledger_decimals),
        "amount_units": withdrawal.amount_units,
        "fee_units": withdrawal.fee_units,
        "revision": withdrawal.revision,
        "required_approvals": withdrawal.required_approvals,
        "unlock_at": withdrawal.unlock_at.isoformat() if withdrawal.unlock_at else None,
        "tx_hash": tx_hash,
        "reason": withdrawal.cancel_reason or withdrawal.failure_code or None,
        "note": withdrawal.note or None,
        "state": withdrawal.state,
    }


def withdrawal_event(withdrawal: Withdrawal, *, topic: str, **extra) -> None:
    event_record(
        topic=topic,
        aggregate_type="withdrawal",
        aggregate_id=withdrawal.pk,
        payload=withdrawal_payload(withdrawal) | extra,
    )
