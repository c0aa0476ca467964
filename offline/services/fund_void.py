"""Void by replacement: the safe way to give back the money of a FUND that will not be
certified (docs/offline.md, "Moving money between online and offline").

A FUND's money sits in CLEARING while its order (platform account -> user, sequence s)
waits for a certificate. Moving it back to the user while that order could still be
certified would pay twice. So the platform first certifies a DIFFERENT order at the same
sequence: 1 unit from the platform account to itself, in the active epoch. Once that
certificate exists no committee can ever certify the original (one certificate per
(sender, sequence): quorum intersection within an epoch, the handover across epochs), so
CLEARING -> the user's AVAILABLE is safe, in one transaction with the transfer VOIDED.

The replacement is only signed when every authority answered that it holds no vote for
the original at that sequence: a vote for the original at some authority and for the
replacement at others could leave the sequence with no certificate at all. If an
authority holds the original (or some did not answer), the void is refused with the
reason: retry the FUND instead (it may complete), or try again later.
"""

import logging

from django.db import transaction

from authorities.gateway import CommitteeUnavailable
from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay.money import format_units
from fastpay_protocol import handoff
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import ConflictingOrder
from fastpay_protocol.messages import order_from_json
from offline.errors import VoidRefused
from offline.models import OfflineTransfer, TransferDirection, TransferState
from wallets.models import AccountKind, EntryKind, User
from wallets.services.ledger import Line, ledger_post, system_account, user_account

log = logging.getLogger(__name__)

VOIDABLE = (TransferState.PENDING, TransferState.FAILED, TransferState.STUCK)
REPLACEMENT_UNITS = 1  # ledger units the platform account sends itself


def offline_fund_void(*, transfer_id, by: User | None = None) -> OfflineTransfer:
    """Void a FUND that is PENDING, FAILED or STUCK by certifying a replacement at its
    sequence, then give the money back (CLEARING -> the user's AVAILABLE). Idempotent: a
    replacement certified before (a void interrupted half-way) is found and used. Raises
    VoidRefused with the reason (the original is locked somewhere, the FUND was certified
    after all — then it is recorded DONE —, earlier sequences are open, the committee
    cannot be asked), NotFound. Talks to the committee outside any transaction."""
    transfer = OfflineTransfer.objects.select_related("token").filter(pk=transfer_id).first()
    if transfer is None or transfer.direction != TransferDirection.FUND:
        raise NotFound("no such FUND transfer")
    if transfer.state not in VOIDABLE:
        raise VoidRefused(f"a {transfer.state} FUND cannot be voided")
    # out of the retry beat's reach from here on (it only takes PENDING ones)
    OfflineTransfer.objects.filter(pk=transfer.pk, state=TransferState.PENDING).update(
        state=TransferState.STUCK, next_attempt_at=None, last_error="being voided"
    )
    gw = _gateway()
    original = td.TransferOrder(
        transfer.sender,
        transfer.recipient,
        transfer.token.contract_address,
        transfer.amount,
        transfer.sequence,
        transfer.epoch,
    )
    try:
        certificate = _replacement_certificate(gw, transfer, original)
    except CommitteeUnavailable as exc:
        raise VoidRefused(f"the committee cannot be asked now ({exc}); try again later") from None
    return _void(transfer, certificate, by)


def _replacement_certificate(gw, transfer: OfflineTransfer, original) -> dict:
    applied = gw.applied_certificate(transfer.sender, transfer.sequence)
    if applied is not None:
        order = order_from_json(applied["order"])
        if handoff.same_payment(order, original):
            from offline.services.fund_certify import _fund_done

            _fund_done(transfer.pk, applied, states=VOIDABLE)
            raise VoidRefused(
                "the committee certified this FUND: it is recorded done (the user's FastPay "
                "account has the money); nothing to void"
            )
        if not _is_replacement(order, transfer):
            raise VoidRefused(
                f"another order holds sequence {transfer.sequence} of {transfer.sender}: "
                "investigate before moving any money"
            )
        return applied  # certified by an earlier void that stopped before recording it
    _no_vote_for_the_original(gw, transfer, original)
    replacement = gw.order(
        sender=transfer.sender,
        recipient=transfer.sender,
        token=transfer.token.contract_address,
        amount=REPLACEMENT_UNITS,
        sequence=transfer.sequence,
        epoch=gw.epoch(),
    )
    try:
        return gw.certify_and_confirm(replacement)
    except CommitteeUnavailable as exc:
        if isinstance(exc.__cause__, ConflictingOrder):
            raise VoidRefused(
                "the original order is locked at authorities: it can still be certified, so "
                f"it cannot be voided; retry the FUND instead ({exc})"
            ) from None
        raise VoidRefused(f"the replacement could not be certified: {exc}") from None


def _no_vote_for_the_original(gw, transfer: OfflineTransfer, original) -> None:
    """Every authority answered, at this sequence, with no vote for the original."""
    state = gw.account_state(transfer.sender)
    views = state.get("views") or {}
    members = {m.address.lower() for m in gw.committee.members}
    missing = members - {a.lower() for a in views}
    if missing:
        raise VoidRefused(
            f"{len(missing)} authorities did not answer: one of them may hold the original "
            "order; try again when every authority is up"
        )
    for authority, view in views.items():
        pending = view.get("pending")
        if view["next_sequence"] < transfer.sequence:
            raise VoidRefused(
                f"{authority} is at sequence {view['next_sequence']}: the earlier FUNDs of "
                f"{transfer.sender} must complete or be voided first"
            )
        if pending and int(pending["order"]["sequence"]) == transfer.sequence:
            held = order_from_json(pending["order"])
            if handoff.same_payment(held, original):
                raise VoidRefused(
                    f"{authority} holds a vote for the original order: it can still be "
                    "certified, so it cannot be voided; retry the FUND instead"
                )


def _is_replacement(order, transfer: OfflineTransfer) -> bool:
    return (
        order.sender.lower() == transfer.sender.lower()
        and order.recipient.lower() == transfer.sender.lower()
        and order.sequence == transfer.sequence
    )


def _void(transfer: OfflineTransfer, certificate: dict, by: User | None) -> OfflineTransfer:
    order = order_from_json(certificate["order"])
    if handoff.same_payment(order, order_from_json(_original_json(transfer))) or not (
        _is_replacement(order, transfer)
    ):
        raise VoidRefused("not a replacement certificate for this FUND")  # pragma: no cover
    with transaction.atomic():
        updated = OfflineTransfer.objects.filter(pk=transfer.pk, state__in=VOIDABLE).update(
            state=TransferState.VOIDED,
            void_certificate=certificate,
            next_attempt_at=None,
            last_error=f"voided by replacement in epoch {order.epoch}",
        )
        if not updated:  # voided (or done) by a concurrent call
            transfer.refresh_from_db()
            return transfer
        ledger_post(
            kind=EntryKind.OFFLINE_DEFUND,  # CLEARING back to the user: an offline -> online move
            reference=f"offline-void:{transfer.pk}",
            memo=f"FUND voided by replacement at {transfer.sender} sequence {transfer.sequence}",
            lines=[
                Line(system_account(transfer.token, AccountKind.CLEARING), -transfer.amount),
                Line(
                    user_account(transfer.user, transfer.token, AccountKind.AVAILABLE),
                    transfer.amount,
                ),
            ],
            created_by=by,
        )
        transfer.refresh_from_db()
        event_record(
            topic="offline.fund_voided",
            aggregate_type="offline_transfer",
            aggregate_id=transfer.pk,
            payload={
                "transfer_id": str(transfer.pk),
                "user_id": transfer.user_id,
                "token": transfer.token.symbol,
                "amount_units": transfer.amount,
                "amount": format_units(transfer.amount, transfer.token.ledger_decimals),
                "sender": transfer.sender,
                "sequence": transfer.sequence,
                "replacement_epoch": order.epoch,
                "state": transfer.state,
            },
        )
    log.warning(
        "FUND %s voided by replacement (%s sequence %s): %s units back to user %s",
        transfer.pk,
        transfer.sender,
        transfer.sequence,
        transfer.amount,
        transfer.user_id,
    )
    return transfer


def _original_json(transfer: OfflineTransfer) -> dict:
    return {
        "sender": transfer.sender,
        "recipient": transfer.recipient,
        "token": transfer.token.contract_address,
        "amount": transfer.amount,
        "sequence": transfer.sequence,
        "epoch": transfer.epoch,
    }


def _gateway():
    """The gateway the transfers module uses (one place for tests to replace it)."""
    from offline.services import transfers

    return transfers.gateway()
