"""Staff decisions on withdrawals: approve a revision (four eyes: distinct staff, never
the requester), reject with a note, cancel with a note (also during the time-lock)."""

from django.db import transaction
from django.utils import timezone

from settlement.errors import (
    AlreadyApproved,
    ApprovalForbidden,
    InvalidState,
    NoteRequired,
    StaleRevision,
)
from settlement.models import CancelReason, Withdrawal, WithdrawalApproval, WithdrawalState
from settlement.services.lifecycle import (
    approved_mark,
    cancellable_check,
    staff_check,
    withdrawal_close,
    withdrawal_event,
    withdrawal_locked,
)
from wallets.models import User


def withdrawal_approve(*, withdrawal_id, staff: User, revision: int, note: str = "") -> Withdrawal:
    """One staff member approves ``revision``. The requester never counts, nor the same
    staff twice (four eyes: ``required_approvals`` distinct staff for the same revision).
    The last approval moves it to AWAITING_PAYMENT (after its time-lock, if any)."""
    staff_check(staff)
    with transaction.atomic():
        withdrawal = withdrawal_locked(withdrawal_id)
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
            approved_mark(withdrawal, timezone.now())
            withdrawal.save()
            withdrawal_event(withdrawal, topic="withdrawal.approved")
        else:
            withdrawal_event(withdrawal, topic="withdrawal.approval_added", staff_id=staff.pk)
    return withdrawal


def withdrawal_reject(*, withdrawal_id, staff: User, note: str) -> Withdrawal:
    """A reviewer refuses a withdrawal awaiting approval; the money goes back."""
    staff_check(staff)
    if not note.strip():
        raise NoteRequired(param="note")
    with transaction.atomic():
        withdrawal = withdrawal_locked(withdrawal_id)
        if withdrawal.state != WithdrawalState.AWAITING_APPROVAL:
            raise InvalidState(
                f"the withdrawal is {withdrawal.get_state_display().lower()}: only one "
                "awaiting approval can be rejected",
                param="state",
            )
        withdrawal_close(
            withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.REJECTED, by=staff, note=note
        )
        withdrawal_event(withdrawal, topic="withdrawal.rejected")
    return withdrawal


def withdrawal_cancel_by_staff(*, withdrawal_id, staff: User, note: str) -> Withdrawal:
    """Staff stop a withdrawal not yet signed for: awaiting approval, or approved and
    waiting (its time-lock, the hot wallet); the money goes back."""
    staff_check(staff)
    if not note.strip():
        raise NoteRequired(param="note")
    with transaction.atomic():
        withdrawal = withdrawal_locked(withdrawal_id)
        cancellable_check(withdrawal)
        withdrawal_close(
            withdrawal, WithdrawalState.CANCELLED, reason=CancelReason.STAFF, by=staff, note=note
        )
        withdrawal_event(withdrawal, topic="withdrawal.cancelled")
    return withdrawal
