"""The posting service: the only code that moves balances.

Lock discipline: every caller locks the LedgerAccount rows it touches through
`accounts_lock`, which takes them in primary-key order, so two transfers that cross
(A->B and B->A) queue instead of deadlocking. User rows (payment sequences) are always
locked before accounts.

Every lock is FOR NO KEY UPDATE (`no_key=True`): inserting a row with a foreign key takes
FOR KEY SHARE on the referenced row, which a plain FOR UPDATE blocks. With FOR UPDATE, a
payment inserted towards a payee whose own payment holds the payee's user row would wait
on it while that payment waits on our account locks: a deadlock PostgreSQL really shows.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from wallets.errors import InsufficientFunds, LedgerImbalance
from wallets.models import (
    SYSTEM_KINDS,
    AccountKind,
    JournalEntry,
    LedgerAccount,
    Posting,
    Token,
    User,
)


@dataclass(frozen=True, slots=True)
class Line:
    account: LedgerAccount
    amount: int  # signed ledger units: + credit, - debit


def account_get_or_create(*, token: Token, kind: str, owner: User | None = None) -> LedgerAccount:
    """Return the account, creating it if needed (race-safe through the unique constraints).

    Runs its own savepoint so a lost creation race does not break the caller's transaction.
    """
    lookup = {"token": token, "kind": kind, "owner": owner}
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(**lookup)
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def user_accounts_many(
    pairs: Iterable[tuple[int, int]], kind: str = AccountKind.AVAILABLE
) -> dict[tuple[int, int], LedgerAccount]:
    """(user id, token id) -> that user's ``kind`` account, for many pairs in three
    queries (the missing ones created at once; a concurrent creation is simply found)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    users = {u for u, _ in wanted}
    tokens = {t for _, t in wanted}

    def found() -> dict[tuple[int, int], LedgerAccount]:
        rows = LedgerAccount.objects.filter(owner_id__in=users, token_id__in=tokens, kind=kind)
        return {(a.owner_id, a.token_id): a for a in rows if (a.owner_id, a.token_id) in wanted}

    accounts = found()
    missing = wanted - accounts.keys()
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(owner_id=u, token_id=t, kind=kind) for u, t in sorted(missing)],
            ignore_conflicts=True,
        )
        accounts = found()
    return accounts


def system_account(token: Token, kind: str) -> LedgerAccount:
    assert kind in SYSTEM_KINDS, kind
    return account_get_or_create(token=token, kind=kind)


def user_account(user: User, token: Token, kind: str = AccountKind.AVAILABLE) -> LedgerAccount:
    return account_get_or_create(token=token, kind=kind, owner=user)


def accounts_lock(account_ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """SELECT ... FOR UPDATE the accounts in primary-key order; return them by id.

    Must run inside a transaction; the locks last until it ends.
    """
    ids = sorted(set(account_ids))
    locked = LedgerAccount.objects.select_for_update(no_key=True).filter(id__in=ids).order_by("id")
    return {account.id: account for account in locked}


def ledger_post(
    *,
    kind: str,
    reference: str,
    lines: Sequence[Line],
    memo: str = "",
    idempotency_key: str | None = None,
    created_by: User | None = None,
    locked: dict[int, LedgerAccount] | None = None,
) -> JournalEntry:
    """Write one journal entry with its postings and move the cached balances.

    `locked` are accounts the caller already holds locks on (from `accounts_lock`); any
    other account is locked here, in id order. Raises InsufficientFunds when a user
    account would go negative (the CHECK constraint is the backstop).
    """
    entries = ledger_post_many(
        [
            PostingBatchItem(
                kind=kind,
                reference=reference,
                lines=lines,
                memo=memo,
                idempotency_key=idempotency_key,
                created_by=created_by,
            )
        ],
        locked=locked,
    )
    return entries[0]


@dataclass(slots=True)
class PostingBatchItem:
    kind: str
    reference: str
    lines: Sequence[Line]
    memo: str = ""
    idempotency_key: str | None = None
    created_by: User | None = None


def ledger_post_many(
    items: Sequence[PostingBatchItem], *, locked: dict[int, LedgerAccount] | None = None
) -> list[JournalEntry]:
    """Post many entries in one round of locks and bulk writes (batch payments).

    Every item is checked before anything is written; the whole call is all or nothing.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("postings must be written inside the use case's transaction")
    locked = dict(locked or {})
    missing = {line.account.id for item in items for line in item.lines} - locked.keys()
    if missing:
        locked.update(accounts_lock(missing))

    deltas: dict[int, int] = defaultdict(int)
    for item in items:
        _check_balanced(item.lines)
        for line in item.lines:
            deltas[line.account.id] += line.amount
    for account_id, delta in deltas.items():
        account = locked[account_id]
        if account.owner_id is not None and account.balance + delta < 0:
            raise InsufficientFunds(
                f"{account} holds {account.balance} units; {-delta} needed", param="amount"
            )

    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(
                kind=item.kind,
                reference=item.reference,
                memo=item.memo,
                idempotency_key=item.idempotency_key,
                created_by=item.created_by,
            )
            for item in items
        ]
    )
    Posting.objects.bulk_create(
        [
            Posting(
                entry=entry,
                account_id=line.account.id,
                token_id=line.account.token_id,
                amount=line.amount,
            )
            for entry, item in zip(entries, items, strict=True)
            for line in item.lines
        ]
    )
    # One UPDATE for every touched account: we hold their row locks, so writing the
    # computed balances is as safe as balance = balance + delta, and far fewer round trips.
    now = timezone.now()
    changed = []
    for account_id, delta in sorted(deltas.items()):
        if delta:
            account = locked[account_id]
            account.balance += delta
            account.updated_at = now
            changed.append(account)
    LedgerAccount.objects.bulk_update(changed, ["balance", "updated_at"])
    return entries


def _check_balanced(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise LedgerImbalance("an entry needs at least two postings")
    per_token: dict[int, int] = defaultdict(int)
    for line in lines:
        if not isinstance(line.amount, int) or isinstance(line.amount, bool) or line.amount == 0:
            raise LedgerImbalance(f"posting amounts are non-zero ints, got {line.amount!r}")
        per_token[line.account.token_id] += line.amount
    if any(per_token.values()):
        raise LedgerImbalance(f"postings do not sum to zero per token: {dict(per_token)}")
