"""Deposits: credit FastPayRegistry deposits once each, with the follower's cursor, in one
transaction (a crash between the two can neither lose nor repeat a credit)."""

from __future__ import annotations

from dataclasses import dataclass

from authorities.node.models import Balance, ChainBlock, Deposit
from authorities.node.services.locks import (
    accounts_lock,
    balances_get,
    rows_update,
    write_transaction,
)

#: Block hashes kept for reorg detection (far more than any sane confirmation depth).
KEEP_BLOCKS = 256


@dataclass(frozen=True)
class DepositEvent:
    deposit_id: int
    account: str  # lower-case
    token: str  # lower-case
    units: int  # ledger units
    amount_onchain: int  # token base units
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


def deposits_credit(*, events: list[DepositEvent], block_number: int, block_hash: str) -> int:
    """Credit the events not credited before and move the cursor to ``block_number`` (whose
    hash is remembered). Returns how many deposits were credited now."""
    with write_transaction():
        ids = [e.deposit_id for e in events]
        seen = set(Deposit.objects.filter(deposit_id__in=ids).values_list("deposit_id", flat=True))
        fresh = {e.deposit_id: e for e in events if e.deposit_id not in seen}.values()
        if fresh:
            accounts = accounts_lock({e.account for e in fresh}, create=True)
            balances = balances_get([(accounts[e.account], e.token) for e in fresh], create=True)
            for event in fresh:
                balances[(accounts[event.account].pk, event.token)].units += event.units
            rows_update(Balance, ["units"], balances.values())
            Deposit.objects.bulk_create(
                [
                    Deposit(
                        deposit_id=e.deposit_id,
                        account=e.account,
                        token=e.token,
                        units=e.units,
                        amount_onchain=str(e.amount_onchain),
                        block_number=e.block_number,
                        block_hash=e.block_hash,
                        tx_hash=e.tx_hash,
                        log_index=e.log_index,
                    )
                    for e in fresh
                ]
            )
        ChainBlock.objects.update_or_create(number=block_number, defaults={"hash": block_hash})
        ChainBlock.objects.filter(number__lte=block_number - KEEP_BLOCKS).delete()
        return len(fresh)


def cursor_get() -> tuple[int, str] | None:
    """(number, hash) of the last block processed, or None before the first one."""
    row = ChainBlock.objects.order_by("-number").first()
    return (row.number, row.hash) if row else None


def cursor_rewind(*, to_block: int) -> None:
    """Forget processed blocks above ``to_block`` (after a reorg deeper than the
    confirmation depth: they are scanned again; deposit ids stay credited once)."""
    with write_transaction():
        ChainBlock.objects.filter(number__gt=to_block).delete()


def known_hashes() -> dict[int, str]:
    return dict(ChainBlock.objects.values_list("number", "hash"))
