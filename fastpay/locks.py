"""Row locks for the platform's services, taken only through these helpers (`make lint` runs
tools/lint_invariants.py, which refuses `select_for_update` anywhere else).

Every lock is FOR NO KEY UPDATE: inserting a row with a foreign key takes FOR KEY SHARE on
the referenced row, which a plain FOR UPDATE blocks; with FOR UPDATE, a transaction that
locks a user and another that inserts a payment referencing that user deadlock. Locks are
held until the caller's `transaction.atomic` ends, so call these inside one. SQLite has
no row locks: its IMMEDIATE transactions (fastpay.config) serialise writers instead.

The ledger's accounts are locked by the posting service (wallets.services.ledger
`accounts_lock`), which owns their order.
"""

from typing import TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def for_update(queryset: QuerySet[M], *, of: tuple[str, ...] = ()) -> QuerySet[M]:
    """The queryset, its rows locked when it is evaluated. `of=("self",)` locks only the
    queryset's own table when it joins others through select_related (PostgreSQL refuses
    to lock the nullable side of an outer join)."""
    return queryset.select_for_update(no_key=True, of=of)


def rows_locked(queryset: QuerySet[M], *, of: tuple[str, ...] = ()) -> list[M]:
    """Every row of the queryset, locked in primary-key order: two transactions locking
    overlapping sets then queue instead of deadlocking."""
    return list(for_update(queryset, of=of).order_by("pk"))
