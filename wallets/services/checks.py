"""Ledger invariants: checked by `manage.py ledger_check` and a beat task; the number of
violations is exported as the fastpay_ledger_drift gauge, which must stay 0."""

from django.db.models import Count, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from wallets import extensions
from wallets.escrow.services import holds_open_by_token
from wallets.models import AccountKind, LedgerAccount, LedgerCheckRun, Posting
from wallets.services.claims import outstanding_by_token


def ledger_check_run(*, record: bool = True) -> LedgerCheckRun:
    """Check every invariant; return (and by default store) the result."""
    problems: list[dict] = []

    unbalanced = (
        Posting.objects.values("entry_id", "token_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("entry_id")
    )
    problems += [
        {
            "check": "entry_sums_to_zero",
            "entry": row["entry_id"],
            "token": row["token_id"],
            "sum": row["total"],
        }
        for row in unbalanced
    ]

    lonely = (
        Posting.objects.values("entry_id")
        .annotate(n=Count("id"))
        .filter(n__lt=2)
        .order_by("entry_id")
    )
    problems += [{"check": "entry_has_two_postings", "entry": row["entry_id"]} for row in lonely]

    posted = (
        Posting.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    drifted = (
        LedgerAccount.objects.annotate(posted=Coalesce(Subquery(posted), Value(0)))
        .values("id", "balance", "posted")
        .order_by("id")
    )
    problems += [
        {
            "check": "balance_equals_postings",
            "account": row["id"],
            "balance": row["balance"],
            "postings": row["posted"],
        }
        for row in drifted
        if row["balance"] != row["posted"]
    ]

    per_token = (
        LedgerAccount.objects.values("token_id").annotate(total=Sum("balance")).exclude(total=0)
    )
    problems += [
        {"check": "token_balances_sum_to_zero", "token": row["token_id"], "sum": row["total"]}
        for row in per_token
    ]

    negative = LedgerAccount.objects.filter(owner__isnull=False, balance__lt=0).values_list(
        "id", flat=True
    )
    problems += [{"check": "user_balance_non_negative", "account": pk} for pk in negative]

    owed = outstanding_by_token()
    receivable = dict(
        LedgerAccount.objects.filter(owner__isnull=True, kind=AccountKind.RECEIVABLE).values_list(
            "token_id", "balance"
        )
    )
    problems += [
        {
            "check": "receivable_equals_open_claims",
            "token": token_id,
            "receivable": receivable.get(token_id, 0),
            "open_claims": owed.get(token_id, 0),
        }
        for token_id in sorted(owed.keys() | receivable.keys())
        if receivable.get(token_id, 0) != -owed.get(token_id, 0)
    ]

    held = holds_open_by_token()
    escrow = dict(
        LedgerAccount.objects.filter(owner__isnull=True, kind=AccountKind.ESCROW).values_list(
            "token_id", "balance"
        )
    )
    problems += [
        {
            "check": "escrow_equals_open_holds",
            "token": token_id,
            "escrow": escrow.get(token_id, 0),
            "open_holds": held.get(token_id, 0),
        }
        for token_id in sorted(held.keys() | escrow.keys())
        if escrow.get(token_id, 0) != held.get(token_id, 0)
    ]

    for check in extensions.ledger_checks:  # the apps above wallets (wallets.extensions)
        problems += check()

    run = LedgerCheckRun(drift_count=len(problems), details=problems[:500])
    if record:
        run.save()
    return run
