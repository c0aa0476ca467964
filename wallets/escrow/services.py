"""Escrow holds: authorize, capture (post), void, expire, dispute and decide.

Each use case is one transaction: the hold row is locked (``for_update``) before the
ledger accounts (``ledger_post`` locks those in id order), so a capture racing a void of
the same hold serialises on the hold and exactly one resolves it; the other sees the
resolved state. A resolution is final: the same capture or void retried answers the
resolved hold unchanged (idempotent), a different one is refused with ``hold_resolved``.

Ledger: authorize moves payer AVAILABLE -> ESCROW (ESCROW_HOLD); post moves ESCROW ->
payee AVAILABLE (``posted_amount``) and the rest back to the payer (ESCROW_POST); void and
expiry move ESCROW -> payer AVAILABLE (ESCROW_VOID). ``ledger_check`` verifies that
ESCROW equals the open holds, per token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.errors import DomainError, NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
from wallets.errors import (
    AccountNotApproved,
    SelfPayment,
    StaffPayee,
    TokenDisabled,
    UnknownPayee,
)
from wallets.escrow.errors import (
    AmountAboveAuthorized,
    HoldDeadlineInvalid,
    HoldNotYours,
    HoldResolved,
    HoldWrongKind,
)
from wallets.escrow.models import OPEN_HOLD_STATES, Hold, HoldKind, HoldState
from wallets.models import AccountKind, EntryKind, Token, User, UserRole
from wallets.services.ledger import Line, ledger_post, system_account, user_account

#: the longest a hold may stay open
MAX_HOLD = timedelta(days=90)


def hold_authorize(
    *,
    payer: User,
    payee: str,
    token: Token,
    amount: int,
    kind: str,
    expires_at: datetime,
    description: str = "",
    idempotency_key: str | None = None,
) -> Hold:
    """Reserve ``amount`` (ledger units) of ``payer``'s available money for the user named
    ``payee`` until ``expires_at``. Raises InsufficientFunds (from the ledger) and the
    checks' errors; the same ``idempotency_key`` returns the first hold."""
    if idempotency_key is not None:
        existing = Hold.objects.filter(payer=payer, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    receiver = _authorize_check(
        payer=payer, payee=payee, token=token, amount=amount, kind=kind, expires_at=expires_at
    )
    try:
        with transaction.atomic():
            hold = Hold(
                kind=kind,
                payer=payer,
                payee=receiver,
                token=token,
                amount=amount,
                expires_at=expires_at,
                description=description,
                idempotency_key=idempotency_key,
            )
            hold.hold_entry = ledger_post(
                kind=EntryKind.ESCROW_HOLD,
                reference=f"hold:{hold.id}",
                lines=[
                    Line(user_account(payer, token), -amount),
                    Line(system_account(token, AccountKind.ESCROW), amount),
                ],
                idempotency_key=f"hold:{hold.id}:authorize",
                created_by=payer,
            )
            hold.save(force_insert=True)
            _event("hold.authorized", hold)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # a concurrent request with the same key won the race: answer its hold
        return Hold.objects.get(payer=payer, idempotency_key=idempotency_key)
    return hold


def _authorize_check(*, payer, payee, token, amount, kind, expires_at) -> User:
    """The payee as a User, or the error naming the field (as a payment's checks)."""
    if not token.enabled:
        raise TokenDisabled(f"{token.symbol} is disabled", param="token")
    receiver = User.objects.filter(username__iexact=payee).first()
    if receiver is None:
        raise UnknownPayee(f"no user named {payee!r}", param="payee")
    if receiver.pk == payer.pk:
        raise SelfPayment("you cannot hold money for yourself", param="payee")
    if receiver.is_staff or receiver.role == UserRole.STAFF:
        raise StaffPayee(param="payee")
    if not receiver.is_approved:
        raise AccountNotApproved("the payee cannot receive payments", param="payee")
    if kind not in HoldKind.values:
        raise HoldWrongKind(f"kind must be one of {', '.join(HoldKind.values)}", param="kind")
    if amount <= 0:
        raise DomainError("the amount must be positive", param="amount", code="invalid_amount")
    now = timezone.now()
    if expires_at <= now or expires_at > now + MAX_HOLD:
        raise HoldDeadlineInvalid(
            f"the deadline must be in the future and within {MAX_HOLD.days} days",
            param="expires_at",
        )
    return receiver


def hold_capture(*, hold_id, by: User, amount: int | None = None) -> Hold:
    """Post the hold to its payee: ``amount`` (default all; at most the amount held),
    the rest back to the payer. By the payee of an authorization, or by the payer of a
    marketplace hold (the buyer releases it)."""
    with transaction.atomic():
        hold = _locked(hold_id)
        _party_check(hold, by, capture=True)
        posted = hold.amount if amount is None else amount
        if hold.state == HoldState.POSTED and posted == hold.posted_amount:
            return hold  # the same capture again: the first result
        _open_check(hold)
        if posted <= 0 or posted > hold.amount:
            raise AmountAboveAuthorized(
                f"capture between 0 and {format_units(hold.amount, hold.token.ledger_decimals)}",
                param="amount",
            )
        return _post(hold, posted, by=by, note="")


def hold_void(*, hold_id, by: User) -> Hold:
    """Return the whole hold to its payer: by the payee (either kind), or by the payer of
    an authorization before it is captured (a customer cancels)."""
    with transaction.atomic():
        hold = _locked(hold_id)
        _party_check(hold, by, capture=False)
        if hold.state == HoldState.VOIDED:
            return hold
        _open_check(hold)
        return _void(hold, HoldState.VOIDED, by=by, note="")


def hold_dispute(*, hold_id, by: User, reason: str) -> Hold:
    """The buyer of a marketplace hold stops its release at the deadline: staff decide."""
    with transaction.atomic():
        hold = _locked(hold_id)
        if by.pk != hold.payer_id:
            raise HoldNotYours("only the buyer can dispute this hold")
        if hold.kind != HoldKind.MARKETPLACE:
            raise HoldWrongKind("only a marketplace hold can be disputed", param="kind")
        if hold.state == HoldState.DISPUTED:
            return hold
        _open_check(hold)
        hold.state, hold.dispute_reason = HoldState.DISPUTED, reason[:255]
        hold.save(update_fields=["state", "dispute_reason"])
        _event("hold.disputed", hold)
        return hold


def hold_decide(*, hold_id, by: User, release_amount: int, note: str) -> Hold:
    """Staff decide a disputed hold: ``release_amount`` to the seller (0: all back to the
    buyer), the rest to the buyer."""
    with transaction.atomic():
        hold = _locked(hold_id)
        if hold.state != HoldState.DISPUTED:
            raise HoldResolved(f"this hold is {hold.state}, not disputed")
        if not 0 <= release_amount <= hold.amount:
            raise AmountAboveAuthorized("release between 0 and the amount held", param="amount")
        if release_amount == 0:
            return _void(hold, HoldState.VOIDED, by=by, note=note)
        return _post(hold, release_amount, by=by, note=note)


def holds_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Resolve holds past their deadline (beat): an authorization expires (back to the
    payer), a marketplace hold not disputed is released to the seller. Returns how many."""
    now = now or timezone.now()
    due = list(
        Hold.objects.filter(state=HoldState.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in due:
        with transaction.atomic():
            hold = _locked(pk)
            if hold.state != HoldState.PENDING or hold.expires_at > now:
                continue  # resolved or disputed meanwhile
            if hold.kind == HoldKind.MARKETPLACE:
                _post(hold, hold.amount, by=None, note="released at the deadline")
            else:
                _void(hold, HoldState.EXPIRED, by=None, note="expired")
            done += 1
    return done


def holds_open_by_token() -> dict[int, int]:
    """token id -> ledger units in open holds (ledger_check compares it with ESCROW)."""
    from django.db.models import Sum

    rows = (
        Hold.objects.filter(state__in=OPEN_HOLD_STATES)
        .values("token_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["token_id"]: row["total"] for row in rows}


# ---------------------------------------------------------------- internals


def _locked(hold_id) -> Hold:
    hold = for_update(Hold.objects.select_related("token").filter(pk=hold_id)).first()
    if hold is None:
        raise NotFound("no such hold")
    return hold


def _party_check(hold: Hold, by: User, *, capture: bool) -> None:
    """Who may do what: see hold_capture and hold_void."""
    if by.pk not in (hold.payer_id, hold.payee_id):
        raise NotFound("no such hold")  # other people's holds do not exist for them
    buyer_releases = hold.kind == HoldKind.MARKETPLACE and by.pk == hold.payer_id
    payee_captures = hold.kind == HoldKind.AUTHORIZATION and by.pk == hold.payee_id
    if capture and not (buyer_releases or payee_captures):
        who = "the buyer" if hold.kind == HoldKind.MARKETPLACE else "the payee"
        raise HoldNotYours(f"only {who} can capture this {hold.kind} hold")
    payer_cancels = hold.kind == HoldKind.AUTHORIZATION and by.pk == hold.payer_id
    if not capture and not (by.pk == hold.payee_id or payer_cancels):
        raise HoldNotYours("only the seller can void a marketplace hold")


def _open_check(hold: Hold) -> None:
    if hold.state not in OPEN_HOLD_STATES:
        raise HoldResolved(f"this hold is already {hold.state}")
    if hold.state == HoldState.DISPUTED:
        raise HoldResolved("this hold is disputed: staff decide it")


def _post(hold: Hold, posted: int, *, by: User | None, note: str) -> Hold:
    token = hold.token
    lines = [
        Line(system_account(token, AccountKind.ESCROW), -hold.amount),
        Line(user_account(hold.payee, token), posted),
    ]
    if posted < hold.amount:
        lines.append(Line(user_account(hold.payer, token), hold.amount - posted))
    return _resolve(hold, HoldState.POSTED, EntryKind.ESCROW_POST, lines, posted, by, note)


def _void(hold: Hold, state: str, *, by: User | None, note: str) -> Hold:
    token = hold.token
    lines = [
        Line(system_account(token, AccountKind.ESCROW), -hold.amount),
        Line(user_account(hold.payer, token), hold.amount),
    ]
    return _resolve(hold, state, EntryKind.ESCROW_VOID, lines, 0, by, note)


def _resolve(hold, state, kind, lines, posted, by, note) -> Hold:
    hold.resolve_entry = ledger_post(
        kind=kind,
        reference=f"hold:{hold.id}",
        lines=lines,
        idempotency_key=f"hold:{hold.id}:resolve",
        created_by=by,
        memo=note[:255],
    )
    hold.state, hold.posted_amount, hold.resolved_at = state, posted, timezone.now()
    if note:
        hold.decision_note = note[:255]
    if by is not None and by.is_staff and by.pk not in (hold.payer_id, hold.payee_id):
        hold.decided_by = by
    hold.save(
        update_fields=[
            "resolve_entry",
            "state",
            "posted_amount",
            "resolved_at",
            "decision_note",
            "decided_by",
        ]
    )
    _event(f"hold.{state}", hold)
    return hold


def hold_payload(hold: Hold) -> dict:
    decimals = hold.token.ledger_decimals
    return {
        "hold_id": str(hold.id),
        "kind": hold.kind,
        "payer_id": hold.payer_id,
        "payee_id": hold.payee_id,
        "token": hold.token.symbol,
        "amount": format_units(hold.amount, decimals),
        "amount_units": hold.amount,
        "posted_amount": format_units(hold.posted_amount, decimals),
        "posted_amount_units": hold.posted_amount,
        "expires_at": hold.expires_at.isoformat(),
        "state": hold.state,
    }


def _event(topic: str, hold: Hold) -> None:
    event_record(
        topic=topic, aggregate_type="hold", aggregate_id=hold.id, payload=hold_payload(hold)
    )
