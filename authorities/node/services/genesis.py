"""Initial balances for tests, benchmarks and demos (AUTHORITY_GENESIS_FILE, DEBUG only)."""

from __future__ import annotations

import json
from pathlib import Path

from authorities.node.models import Balance, GenesisCredit
from authorities.node.services.locks import (
    accounts_lock,
    balances_get,
    rows_update,
    write_transaction,
)
from fastpay_protocol.wire import UINT64_MAX, parse_address, parse_uint


def genesis_read(path: str) -> list[tuple[str, str, int]]:
    """[(address, token, units)] from a JSON list of {"address", "token", "units"}."""
    entries = json.loads(Path(path).read_text())
    return [
        (
            parse_address(e["address"], f"[{i}].address"),
            parse_address(e["token"], f"[{i}].token"),
            parse_uint(e["units"], f"[{i}].units", UINT64_MAX >> 1),
        )
        for i, e in enumerate(entries)
    ]


def genesis_credit(*, entries: list[tuple[str, str, int]]) -> int:
    """Credit the entries not credited before; returns how many were credited now."""
    with write_transaction():
        done = set(GenesisCredit.objects.values_list("address", "token"))
        fresh = {(a, t): u for a, t, u in entries if (a, t) not in done}
        if not fresh:
            return 0
        accounts = accounts_lock({a for a, _ in fresh}, create=True)
        balances = balances_get([(accounts[a], t) for a, t in fresh], create=True)
        for (address, token), units in fresh.items():
            balances[(accounts[address].pk, token)].units += units
        rows_update(Balance, ["units"], balances.values())
        GenesisCredit.objects.bulk_create(
            [GenesisCredit(address=a, token=t, units=u) for (a, t), u in fresh.items()],
            batch_size=500,
        )
        return len(fresh)
