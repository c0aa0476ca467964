"""The vendor sync: offline payments uploaded in batches, each checked again (the platform
trusts no terminal), stored once per spend, through the fraud hook, then left PENDING for
the settlement job (offline.services.settlement).

Double spend: the first live redemption of a voucher holds it (a partial unique index,
like the authorities' sequence-0 lock); a second spend of the same voucher keeps both
voucher-key signatures as evidence (``conflicting_with``), the payer is flagged (fraud) and
suspended from offline payments, and an event goes to the admins and the vendors. The
second vendor accepted it in good faith (everything was checked as for the first), so it
is covered as a taken voucher is (offline.services.cover): SETTLED ``covered`` at once up
to the automatic limit, FLAGGED ``double_spend`` for an admin above it.
"""

import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fastpay.bulk_insert import rows_insert
from fastpay.events import event_record, events_record
from fastpay.locks import for_update
from fastpay.models import OutboxEvent
from fastpay.money import format_units
from fastpay_protocol.messages import hex_signature
from fastpay_protocol.voucher import Payment, Refused
from offline import committee as offline_committee
from offline import conf
from offline.errors import NoFastPayAccount, NotAVendor, WrongState
from offline.models import LIVE_STATES, FastPayAccount, Redemption, RedemptionState, Voucher
from offline.risk import redemptions_assess
from offline.services.vouchers import offline_suspend
from wallets.models import User, UserRole
from wallets.risk import RiskDecision

MAX_BATCH = 1000
VENDOR_ROLES = (UserRole.VENDOR, UserRole.MERCHANT)


@dataclass
class _Item:
    text: str
    spend_id: str
    payment: Payment | None = None
    reason: str = ""
    detail: str = ""


def _spend_id_of_text(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()


def _parse(verifier, texts: list[str], vendor_address: str) -> list[_Item]:
    """Decode and check each payment except its credentials (ticket and quorum) and the
    window: the terminal accepted it inside the window by its clock (nothing signs when),
    and the credentials are checked against the registered voucher (``_registered``),
    which the platform verified and signed itself: 1 signature recovery instead of 5."""
    items = []
    now = timezone.now().timestamp()
    grace = conf.grace_s()
    for text in texts:
        try:
            payment = verifier.parse(text)
        except Refused as exc:
            items.append(_Item(text, _spend_id_of_text(text), None, exc.reason, exc.message))
            continue
        item = _Item(text, payment.spend_id, payment)
        try:
            verifier.verify(payment, now=None, vendor=vendor_address, credentials=False)
            if now > payment.body.not_after + grace:
                raise Refused("synced_too_late", "synced after the window and grace period")
        except Refused as exc:
            item.reason, item.detail = exc.reason, exc.message
        items.append(item)
    return items


def _registered(body, voucher: Voucher) -> bool:
    """The payment carries exactly the voucher the platform registered (so its ticket and
    certificate are the ones verified and signed at registration)."""
    return (
        body.payer == voucher.payer
        and body.token.lower() == voucher.token.contract_address.lower()
        and body.amount == voucher.amount
        and body.sequence == voucher.sequence
        and body.epoch == voucher.epoch
        and body.not_before == int(voucher.not_before.timestamp())
        and body.not_after == int(voucher.not_after.timestamp())
        and "0x" + body.ticket.hex() == voucher.ticket
    )


def redemptions_sync(*, vendor: User, payments: list[str]) -> list[Redemption]:
    """Store each payment once (idempotent per spend) and return, in order, its
    redemption: new ones PENDING, FLAGGED or REJECTED (reason); known ones as they are
    now. Settlement is queued after commit, for the new ones and for known ones still
    PENDING (a re-sync retries them without waiting for their backoff)."""
    if vendor.role not in VENDOR_ROLES:
        raise NotAVendor()
    account = FastPayAccount.objects.filter(user=vendor).first()
    if account is None:
        raise NoFastPayAccount(param="items")
    items = _parse(offline_committee.verifier(), payments, account.address)
    with transaction.atomic(durable=True):
        # one sync per vendor at a time (its FastPay account row), so two uploads of the
        # same payment cannot both insert it; then the vouchers in pk order
        for_update(FastPayAccount.objects).filter(pk=account.pk).first()
        known = {
            r.spend_id: r
            for r in Redemption.objects.filter(
                vendor=vendor, spend_id__in=[i.spend_id for i in items]
            )
        }
        addresses = {i.payment.body.voucher for i in items if i.payment and not i.reason}
        # lock the vouchers (pk order: no deadlock between two vendors' syncs); the lock
        # serialises the "one live redemption per voucher" decision
        vouchers = {
            v.address: v
            for v in for_update(Voucher.objects)
            .filter(address__in=addresses)
            .select_related("token", "user")
            .order_by("pk")
        }
        # one query for the live redemptions of these vouchers; in-batch claims are added
        # as they are made (a batch may itself hold two spends of one voucher)
        live = {
            r.voucher_id: r
            for r in Redemption.objects.filter(
                voucher__in=list(vouchers.values()),
                state__in=LIVE_STATES,
                conflicting_with__isnull=True,  # a covered double spend does not hold it
            ).select_related("voucher__token")
        }
        # a payment synced again while PENDING (the committee was down): due at once
        waiting = [r.pk for r in known.values() if r.state == RedemptionState.PENDING]
        batch = _Batch(vendor, vouchers, live, timezone.now())
        results = []
        for item in items:
            redemption = known.get(item.spend_id)
            if redemption is None:
                redemption = batch.redeem(item)
                known[item.spend_id] = redemption
            results.append(redemption)
        batch.flush()
        if batch.pending or waiting:
            transaction.on_commit(lambda: _settle_now(waiting))
    return results


class _Batch:
    """The new redemptions of one sync, assessed together (one call of the risk hook) and
    inserted together (bulk) with their events. Runs inside the sync's transaction,
    holding the vouchers' row locks."""

    def __init__(self, vendor: User, vouchers: dict, live: dict, now):
        self.vendor, self.vouchers, self.live, self.now = vendor, vouchers, live, now
        self.unsaved: list[Redemption] = []
        self.validated: list[Redemption] = []  # in unsaved, waiting for the risk hook
        self.pending = 0

    def assess(self) -> None:
        """VALIDATED -> PENDING | FLAGGED for the redemptions validated since the last
        call, in one call of the risk hook (item k sees items 0..k-1)."""
        validated, self.validated = self.validated, []
        for redemption, risk in zip(validated, redemptions_assess(validated), strict=True):
            if risk.decision == RiskDecision.ALLOW:
                redemption.state = RedemptionState.PENDING
                self.pending += 1
            else:
                redemption.state = RedemptionState.FLAGGED
                redemption.reason = f"risk_{risk.decision}"
                redemption.detail = "; ".join(_reason_text(r) for r in risk.reasons)[:255]

    def flush(self) -> None:
        self.assess()
        if not self.unsaved:
            return
        rows_insert(Redemption, self.unsaved)
        events_record(
            OutboxEvent(
                topic="offline.redemption_received",
                aggregate_type="redemption",
                aggregate_id=str(r.pk),
                payload=redemption_payload(r),
            )
            for r in self.unsaved
        )
        self.unsaved = []

    def redeem(self, item: _Item) -> Redemption:
        """RECEIVED -> VALIDATED -> PENDING | FLAGGED | REJECTED, in memory; the row is
        written at its resulting state (a VALIDATED one's is decided by ``assess``)."""
        payment = item.payment
        redemption = Redemption(
            vendor=self.vendor,
            spend_id=item.spend_id,
            payment=item.text.strip(),
            state=RedemptionState.RECEIVED,
            created_at=self.now,
        )
        voucher = None
        if payment is not None:
            redemption.voucher_address = payment.body.voucher
            redemption.recipient = payment.vendor
            redemption.amount = payment.amount
            redemption.epoch = payment.body.epoch
            redemption.signature = hex_signature(payment.signature)
            voucher = self.vouchers.get(payment.body.voucher)
            if not item.reason and voucher is None:
                item.reason, item.detail = "unknown_voucher", "the platform never registered it"
            elif not item.reason and not _registered(payment.body, voucher):
                item.reason, item.detail = "bad_ticket", "not the voucher the platform registered"
        if item.reason:
            redemption.state = RedemptionState.REJECTED
            redemption.reason, redemption.detail = item.reason, item.detail[:255]
            self.unsaved.append(redemption)
            return redemption
        redemption.voucher = voucher
        held = self.live.get(voucher.pk)
        if held is not None:
            # the evidence may point at an unsaved one: it must exist first; and the
            # payer's flag must be seen by the risk hook for the items after this one
            self.flush()
            return _double_spend(redemption, held, voucher)
        redemption.state = RedemptionState.VALIDATED  # the risk hook decides at flush
        self.live[voucher.pk] = redemption
        self.unsaved.append(redemption)
        self.validated.append(redemption)
        return redemption


def _reason_text(reason) -> str:
    return reason.get("text", "") if isinstance(reason, dict) else str(reason)


def payer_flag_and_suspend(*, payer: User, voucher: str, evidence: dict, reason: str) -> None:
    """Two voucher-key signatures at sequence 0 (a double spend, or a voucher taken back
    early): the fraud flag with the evidence, and the payer's offline suspension. Caller
    holds the transaction."""
    from fraud.services.offline import payer_flag_double_spend

    payer_flag_double_spend(payer=payer, voucher=voucher, evidence=evidence)
    offline_suspend(user=payer, reason=reason)


def _double_spend(redemption: Redemption, live: Redemption, voucher: Voucher) -> Redemption:
    """The voucher is already claimed by ``live``: keep both voucher-key signatures as
    evidence, flag and suspend the payer, tell the admins and both vendors; cover this
    vendor (at once up to the automatic limit, else FLAGGED ``double_spend`` for an
    admin). Caller holds the sync's transaction and the voucher's row lock."""
    from offline.services.cover import COVERED, auto_coverable, redemptions_cover

    redemption.state = RedemptionState.FLAGGED
    redemption.reason = "double_spend"
    # at most one automatic cover per voucher: a device that signs sequence 0 many times
    # (alone or with a vendor) costs the platform at most one voucher's amount without an
    # admin; the payer is suspended at the first double spend, so the payer's offline
    # limits (outstanding vouchers) bound the loss
    covered_before = Redemption.objects.filter(
        voucher=voucher, conflicting_with__isnull=False, reason=COVERED
    ).exists()
    automatic = auto_coverable(redemption) and not covered_before
    redemption.detail = f"the payer spent this voucher twice (first: redemption {live.pk}); " + (
        "another spend of it was already covered: held for an admin"
        if covered_before
        else "the cover is above the automatic limit: held for an admin"
    )
    redemption.conflicting_with = live
    redemption.save()
    evidence = {
        "voucher": voucher.address,
        "first": _spend_evidence(live),
        "second": _spend_evidence(redemption),
    }
    payer_flag_and_suspend(
        payer=voucher.user,
        voucher=voucher.address,
        evidence=evidence,
        reason=f"double spend of voucher {voucher.address}",
    )
    event_record(
        topic="offline.double_spend",
        aggregate_type="voucher",
        aggregate_id=voucher.pk,
        payload={
            **evidence,
            "payer_id": voucher.user_id,
            "vendor_ids": sorted({live.vendor_id, redemption.vendor_id}),
            "rejected_redemption_id": str(redemption.pk),
            "state": "flagged",
        },
    )
    if automatic and redemptions_cover([redemption], reason="double_spend"):
        _event(redemption, "offline.redemption_settled")
    else:
        _event(redemption, "offline.redemption_flagged")
    return redemption


def _spend_evidence(redemption: Redemption) -> dict:
    return {
        "redemption_id": str(redemption.pk),
        "vendor_id": redemption.vendor_id,
        "order": {
            "sender": redemption.voucher_address,
            "recipient": redemption.recipient,
            "amount": redemption.amount,
            "sequence": 0,
            "epoch": redemption.epoch,
            "token": redemption.voucher.token.contract_address if redemption.voucher else None,
        },
        "signature": redemption.signature,
    }


def _settle_now(waiting: list) -> None:
    """After a sync commits: the known PENDING redemptions it saw are due at once, in a
    statement of their own (inside the sync, which holds their vouchers' locks, it could
    deadlock with a settlement run holding the redemptions and marking the vouchers), then
    settlement is queued."""
    if waiting:
        Redemption.objects.filter(pk__in=waiting, state=RedemptionState.PENDING).update(
            next_attempt_at=None
        )
    _enqueue_settlement()


def _enqueue_settlement() -> None:
    from offline.tasks import redemptions_settle_task

    redemptions_settle_task.delay()


def _event(redemption: Redemption, topic: str) -> None:
    event_record(
        topic=topic,
        aggregate_type="redemption",
        aggregate_id=redemption.pk,
        payload=redemption_payload(redemption),
    )


def redemption_payload(redemption: Redemption) -> dict:
    # the voucher and its token are loaded with the redemption where events are written
    # in bulk (sync, settlement); a redemption of an unknown voucher has neither
    voucher = redemption.voucher if redemption.voucher_id else None
    token = voucher.token if voucher else None
    return {
        "redemption_id": str(redemption.pk),
        "vendor_id": redemption.vendor_id,
        "payer_id": voucher.user_id if voucher else None,
        "voucher": redemption.voucher_address,
        "token": token.symbol if token else None,
        "amount": format_units(redemption.amount, token.ledger_decimals) if token else None,
        "amount_units": redemption.amount,
        "state": redemption.state,
        "reason": redemption.reason,
    }


def redemption_release(*, redemption: Redemption, by=None) -> Redemption:
    """Admin: a FLAGGED redemption goes on to settlement (PENDING). Not a double spend:
    the committee can never certify it (the voucher is held); it is covered or rejected."""
    with transaction.atomic():
        updated = Redemption.objects.filter(
            pk=redemption.pk, state=RedemptionState.FLAGGED, conflicting_with__isnull=True
        ).update(state=RedemptionState.PENDING, updated_at=timezone.now())
        if not updated:
            raise WrongState(
                "only a flagged redemption that is not a double spend can be released "
                "(cover or reject a double spend)"
            )
        redemption.refresh_from_db()
        _event(redemption, "offline.redemption_released")
        transaction.on_commit(_enqueue_settlement)
    return redemption


def redemption_reject(*, redemption: Redemption, by=None, reason: str = "admin") -> Redemption:
    """Admin: a FLAGGED redemption is refused; its voucher is free again (not spent)."""
    with transaction.atomic():
        updated = Redemption.objects.filter(pk=redemption.pk, state=RedemptionState.FLAGGED).update(
            state=RedemptionState.REJECTED, reason=reason, updated_at=timezone.now()
        )
        if not updated:
            raise WrongState("only a flagged redemption can be rejected")
        redemption.refresh_from_db()
        _event(redemption, "offline.redemption_rejected")
    return redemption
