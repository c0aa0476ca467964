"""Row locks on accounts, always in primary-key order, so concurrent batches cannot deadlock.

``FOR NO KEY UPDATE`` rather than ``FOR UPDATE``: inserting a row with a foreign key to an
account (a balance) takes a KEY SHARE lock on it, which plain FOR UPDATE conflicts with and
turns into deadlocks between concurrent batches on PostgreSQL. SQLite has no row locks:
its IMMEDIATE transactions (fastpay.config) serialise writers instead.
"""

import contextlib
import threading
from collections.abc import Iterable, Iterator

from django.db import connection, transaction

from authorities.node.models import Account, Balance

_sqlite_writer = threading.Lock()


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """``transaction.atomic`` for one use case. On SQLite, writer threads of this process
    also queue on a lock first: SQLite's own busy handler sleeps in steps of up to 100 ms,
    which turns contention between request threads into long stalls."""
    if connection.vendor == "sqlite":
        with _sqlite_writer, transaction.atomic():
            yield
    else:
        with transaction.atomic():
            yield


class AccountRow:
    """A locked account's columns, as the batch code reads them and ``rows_update`` writes
    them back: a model instance per row costs more than the rest of the row's work."""

    __slots__ = ("address", "id", "next_sequence", "pending_vote_id")

    def __init__(self, id: int, address: str, next_sequence: int, pending_vote_id: int | None):
        self.id, self.address = id, address
        self.next_sequence, self.pending_vote_id = next_sequence, pending_vote_id

    @property
    def pk(self) -> int:
        return self.id


class BalanceRow:
    """A balance's columns (see AccountRow); ``units`` in ledger units."""

    __slots__ = ("account_id", "id", "token", "units")

    def __init__(self, id: int, account_id: int, token: str, units: int):
        self.id, self.account_id, self.token, self.units = id, account_id, token, units

    @property
    def pk(self) -> int:
        return self.id


def accounts_lock(addresses: Iterable[str], *, create: bool) -> dict[str, AccountRow]:
    """Lock the accounts of ``addresses`` (lower-case) and return them by address. With
    ``create``, missing accounts are created first; otherwise they are simply absent.
    The caller must be inside ``transaction.atomic``."""
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    if create:
        # insert only the missing ones (an INSERT ... ON CONFLICT of every address costs
        # more than the batch's other writes); still before taking any lock, as before
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT address FROM {_ACCOUNTS} WHERE address IN ({_marks(len(wanted))})",  # noqa: S608
                wanted,
            )
            present = {row[0] for row in cursor.fetchall()}
        Account.objects.bulk_create(
            [Account(address=a) for a in wanted if a not in present],
            ignore_conflicts=True,
            batch_size=500,
        )
    # raw SQL: the ORM resolves an IN list value by value (~7 us each)
    lock = " FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else ""
    with connection.cursor() as cursor:
        marks = _marks(len(wanted))
        cursor.execute(
            f"SELECT id, address, next_sequence, pending_vote_id FROM {_ACCOUNTS} "  # noqa: S608
            f"WHERE address IN ({marks}) ORDER BY id{lock}",
            wanted,
        )
        return {row[1]: AccountRow(*row) for row in cursor.fetchall()}


_ACCOUNTS, _BALANCES = Account._meta.db_table, Balance._meta.db_table


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def balances_get(
    pairs: Iterable[tuple[AccountRow, str]], *, create: bool
) -> dict[tuple[int, str], BalanceRow]:
    """Balances of (locked account, token) pairs by (account id, token); with ``create``,
    missing rows are created at 0. The accounts' locks cover their balances."""
    pairs = {(account.pk, token) for account, token in pairs}
    if not pairs:
        return {}
    found = _balances_read(pairs)
    missing = pairs - found.keys()
    if create and missing:  # only those (ignore_conflicts: a concurrent insert of one)
        Balance.objects.bulk_create(
            [Balance(account_id=a, token=t, units=0) for a, t in missing],
            ignore_conflicts=True,
            batch_size=500,
        )
        found.update(_balances_read(missing))
    return found


def _balances_read(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], BalanceRow]:
    accounts, tokens = sorted({a for a, _ in pairs}), sorted({t for _, t in pairs})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, account_id, token, units FROM {_BALANCES} "  # noqa: S608
            f"WHERE account_id IN ({_marks(len(accounts))}) AND token IN ({_marks(len(tokens))})",
            accounts + tokens,
        )
        rows = cursor.fetchall()
    return {(row[1], row[2]): BalanceRow(*row) for row in rows if (row[1], row[2]) in pairs}


def rows_update(model, fields: list[str], rows: Iterable) -> None:
    """``UPDATE … SET fields WHERE id`` for each row, in one executemany: Django's
    bulk_update builds a CASE per field, which costs more than the rest of a batch."""
    rows = list(rows)
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [model._meta.get_field(f).column for f in fields]
    assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608 - names from _meta
            [[getattr(row, c) for c in columns] + [row.pk] for row in rows],
        )
