"""Row locks on accounts, always in primary-key order, so concurrent batches cannot deadlock.

``FOR NO KEY UPDATE`` rather than ``FOR UPDATE``: inserting a row with a foreign key to an
account (a balance) takes a KEY SHARE lock on it, which plain FOR UPDATE conflicts with and
turns into deadlocks between concurrent batches on PostgreSQL. SQLite has no row locks:
its IMMEDIATE transactions (fastpay.config) serialise writers instead.
"""

from collections.abc import Iterable

from authorities.node.models import Account, Balance


def accounts_lock(addresses: Iterable[str], *, create: bool) -> dict[str, Account]:
    """Lock the accounts of ``addresses`` (lower-case) and return them by address. With
    ``create``, missing accounts are created first; otherwise they are simply absent.
    The caller must be inside ``transaction.atomic``."""
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    if create:
        Account.objects.bulk_create(
            [Account(address=a) for a in wanted], ignore_conflicts=True, batch_size=500
        )
    rows = Account.objects.select_for_update(no_key=True).filter(address__in=wanted).order_by("pk")
    return {row.address: row for row in rows}


def balances_get(
    pairs: Iterable[tuple[Account, str]], *, create: bool
) -> dict[tuple[int, str], Balance]:
    """Balances of (locked account, token) pairs by (account id, token); with ``create``,
    missing rows are created at 0. The accounts' locks cover their balances."""
    pairs = {(account.pk, token) for account, token in pairs}
    if not pairs:
        return {}
    if create:
        Balance.objects.bulk_create(
            [Balance(account_id=a, token=t, units=0) for a, t in pairs],
            ignore_conflicts=True,
            batch_size=500,
        )
    rows = Balance.objects.filter(
        account_id__in={a for a, _ in pairs}, token__in={t for _, t in pairs}
    )
    return {
        (row.account_id, row.token): row for row in rows if (row.account_id, row.token) in pairs
    }
