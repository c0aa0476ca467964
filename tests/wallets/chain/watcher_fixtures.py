"""Helpers of the watcher tests (tests/wallets/chain/test_watcher*.py, test_deposits*.py)."""

from __future__ import annotations

from wallets.chain.models import Deposit, DepositState


def watch(watcher, *, ticks: int = 50):
    """Tick until the watcher is caught up (a tick that is not ``behind``); returns the
    results."""
    results = []
    for _ in range(ticks):
        result = watcher.tick()
        results.append(result)
        if not result.behind:
            break
    return results


def balance(user, token) -> int:
    from wallets.models import AccountKind, LedgerAccount

    account = LedgerAccount.objects.filter(
        owner=user, token=token, kind=AccountKind.AVAILABLE
    ).first()
    return 0 if account is None else account.balance


def ledger_clean() -> None:
    from wallets.services.checks import ledger_check_run

    run = ledger_check_run(record=False)
    assert run.drift_count == 0, run.details


def credited_entries(tx_hash: str | None = None) -> int:
    from wallets.models import EntryKind, JournalEntry

    entries = JournalEntry.objects.filter(kind=EntryKind.DEPOSIT)
    if tx_hash is not None:
        entries = entries.filter(idempotency_key__contains=tx_hash)
    return entries.count()


def states(**filters) -> list[str]:
    return list(Deposit.objects.filter(**filters).order_by("pk").values_list("state", flat=True))


def tx_hex(receipt) -> str:
    return receipt.transactionHash.to_0x_hex()


CONFIRMED = DepositState.CONFIRMED
SEEN = DepositState.SEEN
DUST = DepositState.DUST
ORPHANED = DepositState.ORPHANED
REVERSED = DepositState.REVERSED
