"""Claims: money a user owes the platform.

The platform sometimes pays on a user's behalf before it can collect: an offline payment
whose voucher the payer took back at the authorities before the vendor synced is paid to
the vendor by the platform (docs/offline.md, "Always paid"). ``covers_post`` does that in
the caller's transaction: RECEIVABLE -> payee AVAILABLE (an OFFLINE_COVER entry), a
``Claim`` on the debtor, and at once whatever the debtor's AVAILABLE balance allows back
(CLAIM_RECOVERY: debtor AVAILABLE -> RECEIVABLE), after what the cover's own collateral
gives (``Cover.collateral``: debtor COLLATERAL -> RECEIVABLE, money the debtor could not
move away: an offline voucher's, docs/offline.md). What stays open is recovered later:
when the debtor defunds offline money (offline.services.transfers), by the hourly beat
task, or by an admin action; an operator may write the rest off (``claim_write_off``:
RECEIVABLE -> WRITE_OFF, with a reason). RECEIVABLE always equals minus the outstanding
claims, per token; ``ledger_check`` verifies it.

Locks: ledger accounts first (in id order, through ``accounts_lock``), then claim rows.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fastpay.events import events_record
from fastpay.locks import for_update
from fastpay.models import OutboxEvent
from fastpay.money import format_units
from wallets.errors import ClaimClosed
from wallets.models import CLAIM_OPEN, AccountKind, Claim, EntryKind, LedgerAccount, Token, User
from wallets.services.adjustments import operator_and_reason_check
from wallets.services.ledger import (
    Line,
    PostingBatchItem,
    accounts_lock,
    ledger_post,
    ledger_post_many,
    system_account,
    user_account,
)


@dataclass(frozen=True, slots=True)
class Cover:
    """The platform pays ``payee`` ``amount`` that ``debtor`` owes; ``reference`` names
    what for and is unique (a second cover of the same thing fails on the claim's and the
    entry's unique constraints)."""

    debtor: User
    payee: User
    token: Token
    amount: int
    reference: str
    memo: str = ""
    kind: str = EntryKind.OFFLINE_COVER
    # ledger units of the debtor's COLLATERAL account that back this cover (at most
    # ``amount``): recovered from it first, before any AVAILABLE money. The caller has
    # earmarked them (e.g. a voucher's collateral_held) under its own lock.
    collateral: int = 0


def covers_post(covers: Sequence[Cover], *, created_by: User | None = None) -> list[Claim]:
    """Pay each payee from RECEIVABLE, open a claim on each debtor and recover from the
    debtors' balances what they allow. Inside the caller's transaction; all or nothing."""
    if not covers:
        return []
    accounts = {}
    for cover in covers:
        if not 0 <= cover.collateral <= cover.amount:
            raise ValueError(f"collateral {cover.collateral} outside 0..{cover.amount}")
        accounts.update(_accounts_of(cover.debtor, cover.token))
        accounts.update(_accounts_of(cover.payee, cover.token))
        if cover.collateral:
            key = ("collateral", cover.debtor.pk, cover.token.pk)
            accounts[key] = user_account(cover.debtor, cover.token, AccountKind.COLLATERAL)
    locked = accounts_lock(account.id for account in accounts.values())
    ledger_post_many(
        [
            PostingBatchItem(
                kind=cover.kind,
                reference=cover.reference,
                lines=[
                    Line(accounts[("receivable", cover.token.pk)], -cover.amount),
                    Line(accounts[("available", cover.payee.pk, cover.token.pk)], cover.amount),
                ],
                memo=cover.memo[:255],
                idempotency_key=f"cover:{cover.reference}",
                created_by=created_by,
            )
            for cover in covers
        ],
        locked=locked,
    )
    claims = Claim.objects.bulk_create(
        [
            Claim(
                user=cover.debtor,
                token=cover.token,
                amount=cover.amount,
                reference=cover.reference,
                memo=cover.memo[:255],
                created_by=created_by,
            )
            for cover in covers
        ]
    )
    _recover_from_collateral(claims, covers, accounts, locked)
    events_record(
        _event(
            "claim.opened",
            claim,
            payee_id=cover.payee.pk,
            token=cover.token.symbol,
            amount_units=cover.amount,
        )
        for claim, cover in zip(claims, covers, strict=True)
    )
    # the debtors' older open claims come first (oldest first), then these
    open_claims = _open_claims_locked({(cover.debtor.pk, cover.token.pk) for cover in covers})
    _recover(open_claims, locked)
    by_pk = {claim.pk: claim for claim in open_claims}
    return [by_pk.get(claim.pk, claim) for claim in claims]


def _recover_from_collateral(claims: list[Claim], covers: Sequence[Cover], accounts, locked):
    """Each new claim takes its cover's collateral first (COLLATERAL -> RECEIVABLE, one
    CLAIM_RECOVERY entry per claim). The accounts are locked (``locked``)."""
    items, touched = [], []
    for claim, cover in zip(claims, covers, strict=True):
        if not cover.collateral:
            continue
        claim.recovered += cover.collateral
        touched.append((claim, cover.collateral))
        held = accounts[("collateral", cover.debtor.pk, cover.token.pk)]
        items.append(
            PostingBatchItem(
                kind=EntryKind.CLAIM_RECOVERY,
                reference=f"claim:{claim.pk}",
                lines=[
                    Line(held, -cover.collateral),
                    Line(accounts[("receivable", cover.token.pk)], cover.collateral),
                ],
                memo=f"{claim.reference} (collateral)"[:255],
            )
        )
    if not items:
        return
    ledger_post_many(items, locked=locked)
    Claim.objects.bulk_update([claim for claim, _ in touched], ["recovered"])
    events_record(
        _event(
            "claim.recovered",
            claim,
            recovered_units=take,
            outstanding_units=claim.outstanding,
            source="collateral",
        )
        for claim, take in touched
    )


def claims_recover(*, user: User, token: Token) -> int:
    """Recover the user's open claims in ``token`` from their AVAILABLE balance, oldest
    first, in one transaction. Returns the units recovered."""
    with transaction.atomic():
        return claims_recover_locked(user=user, token=token, locked=None)


def claims_recover_locked(*, user: User, token: Token, locked: dict | None) -> int:
    """Inside the caller's transaction. ``locked``: accounts the caller already holds
    (it must hold ``recovery_accounts`` too, taken in id order with its own); without it
    they are locked here."""
    if locked is None:
        locked = accounts_lock(account.id for account in recovery_accounts(user, token))
    return _recover(_open_claims_locked({(user.pk, token.pk)}), locked)


def claims_open_exist(user: User, token: Token) -> bool:
    return Claim.objects.filter(CLAIM_OPEN, user=user, token=token).exists()


def recovery_accounts(user: User, token: Token) -> list[LedgerAccount]:
    """The accounts a recovery from ``user`` touches (for callers locking up front)."""
    return list(_accounts_of(user, token).values())


def claims_recover_all() -> int:
    """Beat: try every open claim again (one transaction per user and token). Returns the
    units recovered."""
    pairs = (
        Claim.objects.filter(CLAIM_OPEN)
        .values_list("user_id", "token_id")
        .distinct()
        .order_by("user_id", "token_id")
    )
    pairs = list(pairs)
    users = User.objects.in_bulk({user_id for user_id, _ in pairs})
    tokens = Token.objects.in_bulk({token_id for _, token_id in pairs})
    return sum(
        claims_recover(user=users[user_id], token=tokens[token_id]) for user_id, token_id in pairs
    )


def claim_write_off(*, claim: Claim, reason: str, operator: User | None) -> Claim:
    """Give up on what is still owed: RECEIVABLE -> WRITE_OFF (the platform's loss, entry
    ``claim_write_off``), with a mandatory reason; an operator with
    wallets.adjust_balance (``operator=None``: the system). Once per claim: what is
    written off is never recovered later."""
    operator_and_reason_check(operator, reason)
    token = claim.token
    receivable = system_account(token, AccountKind.RECEIVABLE)
    losses = system_account(token, AccountKind.WRITE_OFF)
    with transaction.atomic():
        locked = accounts_lock([receivable.id, losses.id])
        claim = for_update(Claim.objects).get(pk=claim.pk)
        amount = claim.outstanding
        if amount <= 0:
            raise ClaimClosed()
        ledger_post(
            kind=EntryKind.CLAIM_WRITE_OFF,
            reference=f"claim:{claim.pk}",
            lines=[Line(receivable, amount), Line(losses, -amount)],
            memo=reason.strip()[:255],
            idempotency_key=f"write_off:{claim.reference}",
            created_by=operator,
            locked=locked,
        )
        claim.written_off += amount
        claim.written_off_reason = reason.strip()[:255]
        claim.save(update_fields=["written_off", "written_off_reason", "updated_at"])
        events_record(
            [
                _event(
                    "claim.written_off",
                    claim,
                    written_off_units=amount,
                    written_off=format_units(amount, claim.token.ledger_decimals),
                    reason=claim.written_off_reason,
                    operator=operator.username if operator else None,
                )
            ]
        )
    return claim


def outstanding_by_token() -> dict[int, int]:
    """Units still owed, per token id (what RECEIVABLE must equal, negated)."""
    totals: dict[int, int] = defaultdict(int)
    for token_id, amount, recovered, written_off in Claim.objects.filter(CLAIM_OPEN).values_list(
        "token_id", "amount", "recovered", "written_off"
    ):
        totals[token_id] += amount - recovered - written_off
    return dict(totals)


def _open_claims_locked(pairs: set[tuple[int, int]]) -> list[Claim]:
    """The open claims of these (user id, token id) pairs, locked, oldest first."""
    return [
        claim
        for claim in for_update(Claim.objects)
        .filter(CLAIM_OPEN, user_id__in={user_id for user_id, _ in pairs})
        .order_by("pk")
        if (claim.user_id, claim.token_id) in pairs
    ]


def _accounts_of(user: User, token: Token) -> dict:
    return {
        ("receivable", token.pk): system_account(token, AccountKind.RECEIVABLE),
        ("available", user.pk, token.pk): user_account(user, token),
    }


def _recover(claims: Iterable[Claim], locked: dict[int, LedgerAccount]) -> int:
    """Take from each debtor's (locked) AVAILABLE balance what it allows, oldest claim
    first; one CLAIM_RECOVERY entry per claim that got something."""
    by_owner = {
        (account.owner_id, account.token_id): account
        for account in locked.values()
        if account.owner_id is not None and account.kind == AccountKind.AVAILABLE
    }
    receivable = {
        account.token_id: account
        for account in locked.values()
        if account.owner_id is None and account.kind == AccountKind.RECEIVABLE
    }
    spare = {key: account.balance for key, account in by_owner.items()}
    items, touched = [], []
    for claim in sorted(claims, key=lambda c: c.pk):
        key = (claim.user_id, claim.token_id)
        take = min(claim.outstanding, spare[key])
        if take <= 0:
            continue
        spare[key] -= take
        claim.recovered += take
        touched.append((claim, take))
        items.append(
            PostingBatchItem(
                kind=EntryKind.CLAIM_RECOVERY,
                reference=f"claim:{claim.pk}",
                lines=[Line(by_owner[key], -take), Line(receivable[claim.token_id], take)],
                memo=claim.reference,
            )
        )
    if not items:
        return 0
    ledger_post_many(items, locked=locked)
    now = timezone.now()
    for claim, _ in touched:
        claim.updated_at = now
    Claim.objects.bulk_update([claim for claim, _ in touched], ["recovered", "updated_at"])
    events_record(
        _event(
            "claim.recovered",
            claim,
            recovered_units=take,
            recovered=format_units(take, claim.token.ledger_decimals),
        )
        for claim, take in touched
    )
    return sum(take for _, take in touched)


def _event(topic: str, claim: Claim, **payload) -> OutboxEvent:
    return OutboxEvent(
        topic=topic,
        aggregate_type="claim",
        aggregate_id=claim.reference,
        payload={
            "reference": claim.reference,
            "user_id": claim.user_id,
            "token": claim.token.symbol,
            "amount_units": claim.amount,
            "amount": format_units(claim.amount, claim.token.ledger_decimals),
            "outstanding_units": claim.outstanding,
            "state": "open" if claim.outstanding else "closed",
            **payload,
        },
    )
