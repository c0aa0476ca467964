"""``ledger_check``'s invoice rule: per token, the INVOICE system account equals what
the invoices hold (received - settled - returned), and no invoice holds a negative sum."""

from django.db.models import F, Sum

from merchants.models import Invoice
from wallets.models import AccountKind, LedgerAccount


def invoices_holding_by_token() -> dict[int, int]:
    rows = (
        Invoice.objects.values("token_id")
        .annotate(held=Sum(F("received") - F("settled_amount") - F("returned")))
        .exclude(held=0)
    )
    return {row["token_id"]: row["held"] for row in rows}


def invoice_account_check() -> list[dict]:
    held = invoices_holding_by_token()
    account = dict(
        LedgerAccount.objects.filter(owner__isnull=True, kind=AccountKind.INVOICE).values_list(
            "token_id", "balance"
        )
    )
    return [
        {
            "check": "invoice_account_equals_invoices_held",
            "token": token_id,
            "invoice_account": account.get(token_id, 0),
            "invoices_held": held.get(token_id, 0),
        }
        for token_id in sorted(held.keys() | account.keys())
        if account.get(token_id, 0) != held.get(token_id, 0)
    ]
