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
from django.utils import timezone

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
        present = set(Account.objects.filter(address__in=wanted).values_list("address", flat=True))
        Account.objects.bulk_create(
            [Account(address=a) for a in wanted if a not in present],
            ignore_conflicts=True,
            batch_size=500,
        )
    rows = (
        Account.objects.select_for_update(no_key=True)
        .filter(address__in=wanted)
        .order_by("pk")
        .values_list("id", "address", "next_sequence", "pending_vote_id")
    )
    return {row[1]: AccountRow(*row) for row in rows}


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
    rows = Balance.objects.filter(
        account_id__in={a for a, _ in pairs}, token__in={t for _, t in pairs}
    ).values_list("id", "account_id", "token", "units")
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


#: columns whose Python value the database drivers take as it is (sqlite3, psycopg)
_PLAIN = {
    "CharField",
    "TextField",
    "IntegerField",
    "BigIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "BooleanField",
    "ForeignKey",
}


def rows_insert(model, rows: list, *, returning: bool = False) -> None:
    """INSERT the unsaved model instances ``rows`` in multi-row statements of 500 and, with
    ``returning``, set their ids (RETURNING, as bulk_create does). Plain columns go to the
    driver as they are, the others (JSON, dates) through their field's get_db_prep_save;
    auto_now(_add) dates get one timestamp for the batch. Django's bulk_create compiles
    every value through the ORM: ~40 us per 10-column row, more than the rest of the
    node's work on it."""
    if not rows:
        return
    if returning and not connection.features.can_return_rows_from_bulk_insert:
        model.objects.bulk_create(rows, batch_size=500)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for row in rows:
                setattr(row, field.attname, now)
    preps = [None if f.get_internal_type() in _PLAIN else f.get_db_prep_save for f in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    suffix = f" RETURNING {quote(model._meta.pk.column)}" if returning else ""
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params = []
            for row in chunk:
                for field, prep in zip(fields, preps, strict=True):
                    value = getattr(row, field.attname)
                    params.append(value if prep is None else prep(value, connection))
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from _meta
                f"VALUES {', '.join([one] * len(chunk))}{suffix}",
                params,
            )
            if returning:
                for row, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                    row.pk = pk
                    row._state.adding = False
