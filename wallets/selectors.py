"""Reads that need more than a one-line query."""

from django.db.models import Q, QuerySet

from wallets.models import USER_KINDS, LedgerAccount, Payment, Posting, Token, User


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
    """A payment the user is party to, or None (a stranger gets a 404, not a 403)."""
    return payment_list(user=user).filter(pk=payment_id).first()


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
