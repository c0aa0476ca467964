"""Reads for payouts: the platform's fees on what a payout pays out (docs/payouts.md,
"Platform fees").

A payout's lines are the merchant's AVAILABLE postings it pays out; those that received
money (payments, a flagged payment's release, invoices) were credited net of the
platform's fee, charged in the same entry (wallets.selectors.posting_fees). The payout
shows their sum: what the platform kept of the money it pays out. It is not taken again:
``gross`` is already net of it.
"""

from collections import defaultdict
from collections.abc import Iterable

from settlement.payouts.models import Payout, PayoutLine
from wallets.selectors import posting_fees


def payout_lines_with_fees(payout: Payout) -> list[tuple[PayoutLine, int | None]]:
    """The payout's lines in posting order, each with the platform's fee charged in its
    entry on this merchant's money (None: no fee). Three queries."""
    lines = list(
        PayoutLine.objects.filter(payout=payout).select_related(
            "posting__entry", "posting__account"
        )
    )
    fees = posting_fees([line.posting for line in lines if line.amount > 0])
    return [(line, fees.get(line.posting_id)) for line in lines]


def payouts_platform_fees(payouts: Iterable[Payout]) -> dict:
    """payout id -> the platform's fees on the money it pays out (ledger units), for many
    payouts in three queries."""
    ids = [p.pk for p in payouts]
    totals: dict = defaultdict(int)
    if not ids:
        return totals
    lines = list(
        PayoutLine.objects.filter(payout_id__in=ids, amount__gt=0).select_related(
            "posting__entry", "posting__account"
        )
    )
    fees = posting_fees([line.posting for line in lines])
    for line in lines:
        totals[line.payout_id] += fees.get(line.posting_id, 0)
    return totals
