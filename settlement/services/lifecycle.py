"""What every withdrawal use case shares (settlement.services.withdrawals for the user's
side, .reviews for staff, .paying for the chain): the row lock, the state checks, the
moves of the reservation and the closing entries, the events.

Lock order (settlement.services.controls): Withdrawal row, usage row, ledger accounts.
"""

from datetime import timedelta

from django.utils import timezone

from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
from settlement.errors import ApprovalForbidden, InvalidState
from settlement.models import Withdrawal, WithdrawalState
from settlement.services import controls
from wallets.models import AccountKind, EntryKind, User
from wallets.services.ledger import Line, ledger_post, system_account, user_account

APPROVE_PERMISSION = "settlement.approve_withdrawal"


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
    withdrawal_close(withdrawal, WithdrawalState.FAILED, note=note)
    withdrawal_event(withdrawal, topic="withdrawal.failed")


def withdrawal_locked(withdrawal_id, *, user: User | None = None) -> Withdrawal:
    rows = Withdrawal.objects.select_related("token", "chain", "user")
    if user is not None:
        rows = rows.filter(user=user)
    withdrawal = for_update(rows, of=("self",)).filter(pk=withdrawal_id).first()
    if withdrawal is None:
        raise NotFound("no such withdrawal", param="withdrawal_id")
    return withdrawal


def staff_check(staff: User) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(APPROVE_PERMISSION)):
        raise ApprovalForbidden("only staff with the approve_withdrawal permission decide")


def cancellable_check(withdrawal: Withdrawal) -> None:
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


def approved_mark(withdrawal: Withdrawal, now) -> None:
    withdrawal.state = WithdrawalState.AWAITING_PAYMENT
    withdrawal.approved_at = now
    if withdrawal.timelock_s:
        withdrawal.unlock_at = now + timedelta(seconds=withdrawal.timelock_s)


def reservation_move(withdrawal: Withdrawal, units: int, *, key: str) -> None:
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


def withdrawal_close(
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
