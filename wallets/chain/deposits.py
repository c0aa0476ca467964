"""Deposits: recorded on sight, credited once at depth, orphaned or reversed by reorgs
(docs/deposits.md, "The watcher"). The watcher (wallets/chain/watcher.py) calls these; no
network I/O here.

- ``deposits_record``: inside the watcher's tick transaction, the Transfer logs to
  deposit addresses of the blocks it read become Deposit rows: SEEN, or DUST below the
  token's ``TokenPolicy.min_deposit_units`` (recorded, never credited). The on-chain
  amount is kept exact (digits); ``amount_units`` is it rounded down to ledger units, the
  rest is ``dust_onchain``. Idempotent on the on-chain identity (chain, tx hash, log
  index, block hash): a log already recorded is left alone.
- ``deposits_credit``: its own transaction: SEEN deposits at their required depth whose
  block is still the one the watcher remembers at that height: the rows locked, SEEN ->
  CONFIRMED, one DEPOSIT entry each (CUSTODY -> the user's AVAILABLE, idempotency key
  ``deposit:<chain>:<tx>:<log>:<block hash>``), ``deposit.confirmed``.
- ``deposits_orphan``: inside the reorg's transaction: live deposits above the fork point
  in blocks no longer canonical: SEEN/DUST -> ORPHANED (``deposit.orphaned``); CONFIRMED
  -> REVERSED with a DEPOSIT_REVERSAL entry (CUSTODY +units; the user's AVAILABLE -what it
  holds, up to the units; RECEIVABLE -the rest, a Claim ``deposit:<id>`` on the user),
  ``deposit.reversed``, logger.error: a rare and loud event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from fastpay.events import events_record
from fastpay.locks import rows_locked
from fastpay.models import OutboxEvent
from fastpay.money import format_units, onchain_to_units
from wallets.chain.models import (
    LIVE_DEPOSIT_STATES,
    Chain,
    ChainBlock,
    ConfirmationTier,
    Deposit,
    DepositState,
    TokenPolicy,
)
from wallets.models import AccountKind, Claim, EntryKind, JournalEntry, Token
from wallets.services.ledger import (
    Line,
    PostingBatchItem,
    accounts_lock,
    ledger_post_many,
    system_account,
    user_account,
    user_accounts_many,
)

logger = logging.getLogger("wallets.chain.deposits")

#: the most deposits one credit pass takes (the rest wait for the next tick)
CREDIT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Found:
    """A Transfer log to a deposit address, parsed and checked by the watcher."""

    token: Token
    address_id: int
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    amount: int  # base units


class Rules:
    """A token's dust limit and confirmation tiers, read once per tick."""

    def __init__(self, chain: Chain, tokens: Iterable[Token]):
        ids = [token.pk for token in tokens]
        self.chain = chain
        self.min_units = dict(
            TokenPolicy.objects.filter(token_id__in=ids).values_list(
                "token_id", "min_deposit_units"
            )
        )
        self.tiers: dict[int, list[tuple[int, int]]] = {}
        for token_id, min_units, confirmations in ConfirmationTier.objects.filter(
            token_id__in=ids
        ).values_list("token_id", "min_units", "confirmations"):
            self.tiers.setdefault(token_id, []).append((min_units, confirmations))
        for tiers in self.tiers.values():
            tiers.sort()

    def confirmations(self, token: Token, units: int) -> int:
        """The tier with the largest min_units not above ``units``; else the chain's."""
        required = self.chain.confirmations
        for min_units, confirmations in self.tiers.get(token.pk, ()):
            if min_units <= units:
                required = confirmations
        return required

    def dust_limit(self, token: Token) -> int:
        return self.min_units.get(token.pk, 1)


def deposits_record(chain: Chain, found: Sequence[Found], rules: Rules) -> list[Deposit]:
    """Insert the deposits not recorded yet (inside the caller's transaction); returns
    the new rows."""
    if not found:
        return []
    known = set(
        Deposit.objects.filter(chain=chain, tx_hash__in={f.tx_hash for f in found}).values_list(
            "tx_hash", "log_index", "block_hash"
        )
    )
    rows, seen = [], set()
    for f in found:
        identity = (f.tx_hash, f.log_index, f.block_hash)
        if identity in known or identity in seen:
            continue
        seen.add(identity)
        token = f.token
        units, dust = onchain_to_units(
            f.amount, decimals=token.decimals, ledger_decimals=token.ledger_decimals
        )
        state = DepositState.DUST if units < rules.dust_limit(token) else DepositState.SEEN
        rows.append(
            Deposit(
                chain=chain,
                token=token,
                address_id=f.address_id,
                tx_hash=f.tx_hash,
                log_index=f.log_index,
                block_number=f.block_number,
                block_hash=f.block_hash,
                from_address=f.from_address,
                amount_onchain=str(f.amount),
                amount_units=units,
                dust_onchain=str(dust),
                state=state,
                confirmations_required=rules.confirmations(token, units),
            )
        )
    if not rows:
        return []
    created = Deposit.objects.bulk_create(rows)
    if any(row.pk is None for row in created):  # a backend without RETURNING
        ids = {
            (d.tx_hash, d.log_index, d.block_hash): d.pk
            for d in Deposit.objects.filter(chain=chain, tx_hash__in={r.tx_hash for r in rows})
        }
        for row in created:
            row.pk = row.id = ids[(row.tx_hash, row.log_index, row.block_hash)]
    addresses = _addresses_of(created)
    events_record(
        _event(
            "deposit.dust" if d.state == DepositState.DUST else "deposit.seen",
            d,
            addresses[d.address_id],
            chain,
            confirmations=0,
        )
        for d in created
    )
    return created


def deposits_credit(
    chain: Chain, *, head: int, finalized: int | None = None, limit: int = CREDIT_BATCH
) -> list[Deposit]:
    """Credit every SEEN deposit of ``chain`` at its required depth below ``head`` (and,
    on a chain with finality "finalized", at or below the ``finalized`` block) whose block
    hash is still the one remembered at its height. One transaction; returns them."""
    remembered = ChainBlock.objects.filter(
        chain=chain, number=OuterRef("block_number"), hash=OuterRef("block_hash")
    )
    due = Deposit.objects.filter(
        chain=chain,
        state=DepositState.SEEN,
        address__user__isnull=False,
        block_number__lte=head + 1 - F("confirmations_required"),
    ).filter(Exists(remembered))
    if chain.finality == "finalized":
        if finalized is None:
            return []
        due = due.filter(block_number__lte=finalized)
    ids = list(due.order_by("block_number", "log_index").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    with transaction.atomic():
        deposits = rows_locked(
            Deposit.objects.filter(pk__in=ids, state=DepositState.SEEN).select_related(
                "token", "address"
            ),
            of=("self",),
        )
        if not deposits:
            return []
        # every payee's account in a few queries (one per user was most of a big credit)
        accounts: dict = user_accounts_many((d.address.user_id, d.token_id) for d in deposits)
        for d in deposits:
            if d.token_id not in accounts:
                accounts[d.token_id] = system_account(d.token, AccountKind.CUSTODY)
        locked = accounts_lock(account.id for account in accounts.values())
        entries = ledger_post_many(
            [
                PostingBatchItem(
                    kind=EntryKind.DEPOSIT,
                    reference=f"deposit:{d.pk}",
                    lines=[
                        Line(accounts[d.token_id], -d.amount_units),
                        Line(accounts[(d.address.user_id, d.token_id)], d.amount_units),
                    ],
                    memo=f"{d.token.symbol} {d.tx_hash}:{d.log_index}"[:255],
                    idempotency_key=(
                        f"deposit:{chain.chain_id}:{d.tx_hash}:{d.log_index}:{d.block_hash}"
                    ),
                )
                for d in deposits
            ],
            locked=locked,
        )
        now = timezone.now()
        for d, entry in zip(deposits, entries, strict=True):
            d.state = DepositState.CONFIRMED
            d.entry = entry
            d.confirmed_at = now
        # one UPDATE: each row's entry found by its unique idempotency key (bulk_update's
        # CASE per row and field was a third of a big credit)
        entry_of = JournalEntry.objects.filter(
            idempotency_key=Concat(
                Value(f"deposit:{chain.chain_id}:"),
                OuterRef("tx_hash"),
                Value(":"),
                Cast(OuterRef("log_index"), CharField()),
                Value(":"),
                OuterRef("block_hash"),
            )
        ).values("pk")[:1]
        Deposit.objects.filter(pk__in=[d.pk for d in deposits]).update(
            state=DepositState.CONFIRMED, confirmed_at=now, entry_id=Subquery(entry_of)
        )
        events_record(
            _event(
                "deposit.confirmed", d, d.address, chain, confirmations=head - d.block_number + 1
            )
            for d in deposits
        )
    return deposits


def deposits_orphan(chain: Chain, *, fork: int, canonical: dict[int, str]) -> list[Deposit]:
    """Inside the reorg's transaction: every live deposit above ``fork`` whose block hash
    is not ``canonical[number]`` is orphaned (SEEN/DUST) or reversed (CONFIRMED)."""
    live = rows_locked(
        Deposit.objects.filter(
            chain=chain, block_number__gt=fork, state__in=LIVE_DEPOSIT_STATES
        ).select_related("token", "address"),
        of=("self",),
    )
    stale = [d for d in live if canonical.get(d.block_number) != d.block_hash]
    if not stale:
        return []
    now = timezone.now()
    orphaned = [d for d in stale if d.state != DepositState.CONFIRMED]
    for d in orphaned:
        d.state = DepositState.ORPHANED
        d.orphaned_at = now
    if orphaned:
        Deposit.objects.bulk_update(orphaned, ["state", "orphaned_at"])
        events_record(
            _event("deposit.orphaned", d, d.address, chain, confirmations=0) for d in orphaned
        )
    reversed_ = [d for d in stale if d.state == DepositState.CONFIRMED]
    if reversed_:
        _reverse(chain, reversed_, now)
    return stale


def _reverse(chain: Chain, deposits: list[Deposit], now) -> None:
    accounts = {}
    for d in deposits:
        user = d.address.user
        accounts[("custody", d.token_id)] = system_account(d.token, AccountKind.CUSTODY)
        accounts[("receivable", d.token_id)] = system_account(d.token, AccountKind.RECEIVABLE)
        accounts[(user.pk, d.token_id)] = user_account(user, d.token)
    locked = accounts_lock(account.id for account in accounts.values())
    spare = {key: locked[a.id].balance for key, a in accounts.items() if isinstance(key[0], int)}
    items, claims, taken = [], [], {}
    for d in deposits:
        key = (d.address.user_id, d.token_id)
        take = min(spare[key], d.amount_units)
        spare[key] -= take
        rest = d.amount_units - take
        taken[d.pk] = (take, rest)
        lines = [Line(accounts[("custody", d.token_id)], d.amount_units)]
        if take:
            lines.append(Line(accounts[key], -take))
        if rest:
            lines.append(Line(accounts[("receivable", d.token_id)], -rest))
            claims.append(
                Claim(
                    user_id=d.address.user_id,
                    token=d.token,
                    amount=rest,
                    reference=f"deposit:{d.pk}",
                    memo=f"deposit {d.tx_hash}:{d.log_index} reversed by a reorg"[:255],
                )
            )
        items.append(
            PostingBatchItem(
                kind=EntryKind.DEPOSIT_REVERSAL,
                reference=f"deposit:{d.pk}",
                lines=lines,
                memo=f"reorg below block {d.block_number} ({d.block_hash})"[:255],
                idempotency_key=f"deposit_reversal:{d.pk}",
            )
        )
    entries = ledger_post_many(items, locked=locked)
    if claims:
        Claim.objects.bulk_create(claims)
    for d, entry in zip(deposits, entries, strict=True):
        d.state = DepositState.REVERSED
        d.reversal_entry = entry
        d.orphaned_at = now
        take, rest = taken[d.pk]
        logger.error(
            "DEPOSIT REVERSED: chain %s deposit %s (%s:%s, block %s %s, %s units of %s to user "
            "%s) was credited and its block is gone (a reorg deeper than %s blocks); %s units "
            "taken back, %s owed (claim deposit:%s)",
            chain.chain_id,
            d.pk,
            d.tx_hash,
            d.log_index,
            d.block_number,
            d.block_hash,
            d.amount_units,
            d.token.symbol,
            d.address.user_id,
            d.confirmations_required,
            take,
            rest,
            d.pk,
        )
    Deposit.objects.bulk_update(deposits, ["state", "reversal_entry", "orphaned_at"])
    events_record(
        _event(
            "deposit.reversed",
            d,
            d.address,
            chain,
            confirmations=0,
            taken_back_units=taken[d.pk][0],
            claim_units=taken[d.pk][1],
            claim_reference=f"deposit:{d.pk}" if taken[d.pk][1] else None,
        )
        for d in deposits
    )


def _addresses_of(deposits: Iterable[Deposit]) -> dict:
    from wallets.chain.models import DepositAddress

    return DepositAddress.objects.in_bulk({d.address_id for d in deposits})


def _event(
    topic: str, d: Deposit, address, chain: Chain, *, confirmations: int, **extra
) -> OutboxEvent:
    token = d.token

    return OutboxEvent(
        topic=topic,
        aggregate_type="deposit",
        aggregate_id=str(d.pk),
        payload={
            "deposit_id": d.pk,
            "user_id": address.user_id,
            "chain_id": chain.chain_id,
            "token": token.symbol,
            "address": address.address,
            "tx_hash": d.tx_hash,
            "log_index": d.log_index,
            "block_number": d.block_number,
            "block_hash": d.block_hash,
            "amount": format_units(d.amount_units, token.ledger_decimals),
            "amount_units": d.amount_units,
            "amount_onchain": d.amount_onchain,
            "dust_onchain": d.dust_onchain,
            "confirmations": max(0, confirmations),
            "required": d.confirmations_required,
            "state": d.state,
            **extra,
        },
    )
