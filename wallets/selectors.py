"""Reads that need more than a one-line query."""

import uuid
from collections.abc import Sequence

from django.db.models import Q, QuerySet, Sum

from wallets.models import (
    USER_KINDS,
    AccountKind,
    EntryKind,
    LedgerAccount,
    Payment,
    Posting,
    Token,
    User,
)

PAYMENT_ENTRY_KINDS = (EntryKind.PAYMENT, EntryKind.RELEASE)


def balance_list(*, user: User) -> list[dict]:
    """Per enabled token: available and held units (zero when no account exists yet)."""
    rows = {
        (a.token_id, a.kind): a.balance
        for a in LedgerAccount.objects.filter(owner=user, kind__in=USER_KINDS)
    }
    return [
        {
            "token": token,
            "available": rows.get((token.id, "available"), 0),
            "held": rows.get((token.id, "held"), 0),
        }
        for token in Token.objects.filter(enabled=True)
    ]


def payment_list(*, user: User, filters: dict | None = None) -> QuerySet[Payment]:
    """Payments the user sent or received, newest first."""
    filters = filters or {}
    qs = Payment.objects.filter(Q(payer=user) | Q(payee=user)).select_related(
        "token", "payer", "payee"
    )
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("token"):
        qs = qs.filter(token__symbol=filters["token"])
    if filters.get("role") == "payer":
        qs = qs.filter(payer=user)
    elif filters.get("role") == "payee":
        qs = qs.filter(payee=user)
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    return qs


def payment_get(*, user: User, payment_id) -> Payment | None:
    """A payment the user is party to (payer, payee or the payee of one of its parts), or
    None (a stranger gets a 404, not a 403)."""
    payment = (
        Payment.objects.filter(pk=payment_id).select_related("token", "payer", "payee").first()
    )
    if payment is None:
        return None
    parties = {payment.payer_id, payment.payee_id, *(p["payee_id"] for p in payment.splits)}
    return payment if user.pk in parties else None


def statement_list(*, user: User, filters: dict | None = None) -> QuerySet[Posting]:
    """The user's postings (both their AVAILABLE and HELD accounts), newest first."""
    filters = filters or {}
    qs = Posting.objects.filter(account__owner=user).select_related("entry", "account", "token")
    if filters.get("token"):
        qs = qs.filter(token__symbol=filters["token"])
    if filters.get("account"):
        qs = qs.filter(account__kind=filters["account"])
    if filters.get("kind"):
        qs = qs.filter(entry__kind=filters["kind"])
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    return qs


def posting_fees(postings: Sequence[Posting]) -> dict[int, int]:
    """posting id -> the platform's fee in its entry as it concerns the account's owner;
    postings of entries without a fee are absent. Two queries whatever the number.

    A payment's entry (``payment``, or ``release`` of a flagged one): the payer's line
    shows the payment's fee (it came out of their amount), a payee's line the fee on its
    own part (``Payment.splits``). Any other entry: the sum of its FEES postings
    (withdrawals, invoices), if it has some. Postings need ``entry`` and ``account``."""
    refs = set()
    others = set()
    for posting in postings:
        if posting.entry.kind in PAYMENT_ENTRY_KINDS:
            try:
                refs.add(uuid.UUID(posting.entry.reference))
            except ValueError:
                continue
        else:
            others.add(posting.entry_id)
    payments = {
        str(p.pk): p
        for p in Payment.objects.filter(pk__in=refs, fee__gt=0).only(
            "id", "payer_id", "payee_id", "fee", "splits"
        )
    }
    entry_fees = dict(
        Posting.objects.filter(
            entry_id__in=others, account__kind=AccountKind.FEES, account__owner__isnull=True
        )
        .values("entry_id")
        .annotate(total=Sum("amount"))
        .values_list("entry_id", "total")
        if others
        else ()
    )
    fees = {}
    for posting in postings:
        if posting.entry.kind in PAYMENT_ENTRY_KINDS:
            payment = payments.get(posting.entry.reference)
            if payment is not None:
                fees[posting.pk] = _fee_for(payment, posting.account.owner_id)
        elif posting.entry_id in entry_fees:
            fees[posting.pk] = entry_fees[posting.entry_id]
    return fees


def _fee_for(payment: Payment, owner_id: int | None) -> int:
    if owner_id == payment.payer_id or not payment.splits:
        return payment.fee
    return next((p["fee_units"] for p in payment.splits if p["payee_id"] == owner_id), 0)
