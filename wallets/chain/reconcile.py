"""Custody reconciliation (issue 13; docs/deposits.md "Reconciliation"): per token of a
chain, at a stated block B, the ledger's CUSTODY against what the chain holds at B.

``reconcile_run(chain=..., block=None)``:

1. B defaults to the watcher cursor's block (the watcher has read every log up to it); a
   block above the cursor is refused (deposits there are not recorded yet), and when B is
   the cursor's block its hash must still be the chain's (else a reorg is being walked
   back: the run is an ERROR, run it again).
2. One read-only snapshot of the database (REPEATABLE READ on PostgreSQL, so a deposit
   credited meanwhile is either wholly in or wholly out): the CUSTODY balances, the
   platform's addresses, deposits and outgoing transactions.
3. Outside any transaction: balances at B (batched JSON-RPC, reconcile_balances) of every
   deposit address and PlatformAddress, for each token and the native coin, and the
   holdings other apps register with ``holdings_register(fn)``: ``fn(chain, token,
   block) -> list of Holding`` (or 4-tuples kind, address, base_units, note). wallets may
   not import the apps above it, so they register from their AppConfig.ready: the offline
   app its FastPay side (the vault), settlement its in-flight withdrawals.
4. The arithmetic (reconcile_lines) and one short transaction: the run and its lines,
   and on drift the staff event ``custody.drift`` with an ERROR log.

A holder or the chain failing makes an ERROR run (recorded, logged), never a partial
CLEAN one. The metric ``fastpay_custody_drift_units{token}`` is the newest finished run's
unexplained difference per token (wallets.chain.reconcile_metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from fastpay.errors import DomainError
from fastpay.events import event_record
from wallets.chain.models import (
    Chain,
    Deposit,
    DepositAddress,
    OutgoingTransaction,
    PlatformAddress,
    ReconciliationLine,
    ReconciliationRun,
    ReconciliationState,
    WatcherCursor,
)
from wallets.chain.reconcile_balances import BalanceReader, BalanceReadError
from wallets.chain.reconcile_lines import (
    Holding,
    LineDraft,
    TokenInput,
    TokenResult,
    reconcile_token,
)
from wallets.models import AccountKind, LedgerAccount, Token

log = logging.getLogger(__name__)

NATIVE_CONTRACT = "0x" + "00" * 20

__all__ = ["Holding", "ReconcileError", "holdings_register", "reconcile_all", "reconcile_run"]

HolderFn = Callable[[Chain, Token, int], list]
_holders: list[HolderFn] = []


class ReconcileError(DomainError):
    code = "reconcile_refused"
    default_message = "This reconciliation cannot run."


def holdings_register(fn: HolderFn) -> None:
    """Count what ``fn(chain, token, block)`` returns in every run (idempotent).
    ``fn`` runs outside any transaction and may do network I/O; it raises to make the run
    an ERROR (a holding it cannot read is never taken as zero)."""
    if fn not in _holders:
        _holders.append(fn)


def holdings_unregister(fn: HolderFn) -> None:
    """For tests."""
    if fn in _holders:
        _holders.remove(fn)


@dataclass
class _Snapshot:
    tokens: list[Token]
    custody: dict[int, int]
    addresses: list[tuple[str, str]]
    deposits: dict[int, list[dict]]
    txs: list[dict]


def reconcile_all() -> list[ReconciliationRun]:
    """Beat: one run per enabled chain whose watcher has started."""
    runs = []
    for chain in Chain.objects.filter(enabled=True, cursor__isnull=False):
        try:
            runs.append(reconcile_run(chain=chain))
        except ReconcileError as exc:
            log.error("reconciliation of %s refused: %s", chain, exc)
    return runs


def reconcile_run(
    *, chain: Chain, block: int | None = None, reader: BalanceReader | None = None
) -> ReconciliationRun:
    """Reconcile ``chain`` at ``block`` (default: the watcher cursor's). Raises
    ReconcileError for a block the watcher has not reached; an unreadable chain or holder
    is an ERROR run."""
    cursor = WatcherCursor.objects.filter(chain=chain).first()
    if cursor is None:
        raise ReconcileError(
            f"the watcher has not started on chain {chain.chain_id}", code="watcher_not_started"
        )
    if block is None:
        block = cursor.block_number
    if block < 0 or block > cursor.block_number:
        raise ReconcileError(
            f"block {block} is not watched yet (the watcher is at {cursor.block_number})",
            code="block_not_watched",
            param="block",
        )
    own_reader = reader is None
    reader = reader or BalanceReader(chain)
    try:
        return _run(chain, cursor, block, reader)
    finally:
        if own_reader:
            reader.close()


def _run(chain: Chain, cursor: WatcherCursor, block: int, reader: BalanceReader):
    started = timezone.now()
    block_hash = ""
    try:
        header = reader.block(block)
        block_hash = header["hash"]
        if block == cursor.block_number and block_hash.lower() != cursor.block_hash.lower():
            raise BalanceReadError(
                f"block {block} is {block_hash} on the chain but {cursor.block_hash} at the "
                "watcher: a reorg is being followed, run again"
            )
        snapshot = _snapshot(chain)
        results = {}
        for token in snapshot.tokens:
            inputs = _inputs(chain, token, snapshot, block, reader)
            results[token.pk] = (token, reconcile_token(inputs, block))
    except Exception as exc:  # any failure is an ERROR run, never a crash
        log.exception("reconciliation of %s at block %s failed: %s", chain, block, exc)
        return ReconciliationRun.objects.create(
            chain=chain,
            block_number=block,
            block_hash=block_hash,
            state=ReconciliationState.ERROR,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
    return _record(chain, block, block_hash, results, started)


def _snapshot(chain: Chain) -> _Snapshot:
    """Everything the database says, read in one snapshot (no network)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as c:
                c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tokens = list(Token.objects.filter(chain_id=chain.chain_id).order_by("pk"))
        custody = dict(
            LedgerAccount.objects.filter(
                token__in=tokens, owner__isnull=True, kind=AccountKind.CUSTODY
            ).values_list("token_id", "balance")
        )
        addresses = [
            (role, address)
            for role, address in PlatformAddress.objects.filter(chain=chain)
            .order_by("role")
            .values_list("role", "address")
        ]
        addresses += [
            ("deposit_address", a)
            for a in DepositAddress.objects.filter(chain=chain)
            .order_by("index", "pk")
            .values_list("address", flat=True)
        ]
        deposits: dict[int, list[dict]] = {t.pk: [] for t in tokens}
        rows = Deposit.objects.filter(chain=chain).values_list(
            "token_id",
            "address__address",
            "state",
            "amount_onchain",
            "dust_onchain",
            "amount_units",
            "block_number",
        )
        for token_id, address, state, amount, dust, units, number in rows.iterator(chunk_size=5000):
            deposits.setdefault(token_id, []).append(
                {
                    "address": address,
                    "state": state,
                    "amount_onchain": int(amount),
                    "dust_onchain": int(dust or 0),
                    "amount_units": units,
                    "block_number": number,
                }
            )
        txs = [
            {
                "id": pk,
                "from": sender,
                "to": to,
                "value": int(value or 0),
                "data": data,
                "state": state,
                "block_number": number,
                "fee_wei": fee,
                "purpose": purpose,
            }
            for pk, sender, to, value, data, state, number, fee, purpose in (
                OutgoingTransaction.objects.filter(chain=chain)
                .exclude(state="dropped")
                .values_list(
                    "pk",
                    "from_address",
                    "to_address",
                    "value_wei",
                    "data",
                    "state",
                    "block_number",
                    "fee_wei",
                    "purpose",
                )
            )
        ]
    return _Snapshot(tokens, custody, addresses, deposits, txs)


def _inputs(chain, token: Token, snapshot: _Snapshot, block: int, reader) -> TokenInput:
    """The chain's side of one token (network: balances and holders)."""
    native = token.contract_address.lower() == NATIVE_CONTRACT
    unique = list(dict.fromkeys(a for _, a in snapshot.addresses))
    if native:
        values = reader.native_balances(unique, block)
    else:
        values = reader.token_balances(token.contract_address, unique, block)
    holdings = []
    for fn in _holders:
        for item in fn(chain, token, block) or ():
            holdings.append(item if isinstance(item, Holding) else Holding(*item))
    return TokenInput(
        symbol=token.symbol,
        contract="" if native else token.contract_address,
        scale=10 ** (token.decimals - token.ledger_decimals),
        native=native,
        custody_units=snapshot.custody.get(token.pk, 0),
        addresses=list(dict.fromkeys(snapshot.addresses)),
        balances=dict(zip(unique, values, strict=True)),
        deposits=snapshot.deposits.get(token.pk, []),
        txs=snapshot.txs,
        holdings=holdings,
    )


def _units(base: int, scale: int) -> int:
    """Base units as ledger units, toward zero (a line's exact figure is in its note)."""
    return base // scale if base >= 0 else -((-base) // scale)


def _units_up(base: int, scale: int) -> int:
    """Away from zero: a drift below one ledger unit still shows as one."""
    return -(-base // scale) if base >= 0 else -((-base + scale - 1) // scale)


def _line(run, token: Token, scale: int, draft: LineDraft) -> ReconciliationLine:
    note = draft.note
    if draft.onchain % scale or draft.ledger % scale:
        note = f"{note} (base units: chain {draft.onchain}, ledger {draft.ledger})".strip()
    convert = _units_up if draft.kind == "drift" else _units  # a sub-unit drift shows
    onchain, ledger = convert(draft.onchain, scale), _units(draft.ledger, scale)
    return ReconciliationLine(
        run=run,
        token=token,
        kind=draft.kind[:32],
        address=draft.address,
        onchain_units=onchain,
        ledger_units=ledger,
        difference_units=onchain - ledger,
        explained=draft.explained,
        note=note[:255],
    )


def _record(chain, block, block_hash, results: dict[int, tuple[Token, TokenResult]], started):
    drift: dict[str, int] = {}
    differences = False
    for token, result in results.values():
        scale = 10 ** (token.decimals - token.ledger_decimals)
        differences |= result.differences
        if result.unexplained:
            drift[token.symbol] = _units_up(result.unexplained, scale)
    if drift:
        state = ReconciliationState.DRIFT
    elif differences:
        state = ReconciliationState.EXPLAINED
    else:
        state = ReconciliationState.CLEAN
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            chain=chain,
            block_number=block,
            block_hash=block_hash,
            state=state,
            drift_units=sum(abs(v) for v in drift.values()),
            finished_at=timezone.now(),
        )
        ReconciliationRun.objects.filter(pk=run.pk).update(started_at=started)
        lines = []
        for token, result in results.values():
            scale = 10 ** (token.decimals - token.ledger_decimals)
            lines += [_line(run, token, scale, d) for d in result.lines]
        ReconciliationLine.objects.bulk_create(lines, batch_size=1000)
        if drift:
            event_record(
                topic="custody.drift",
                aggregate_type="reconciliation_run",
                aggregate_id=run.pk,
                payload={
                    "run_id": run.pk,
                    "chain_id": chain.chain_id,
                    "block_number": block,
                    "block_hash": block_hash,
                    "state": state,
                    "drift_units": drift,
                    "addresses": sorted(
                        {ln.address for ln in lines if not ln.explained and ln.address}
                    )[:20],
                },
            )
    if drift:
        log.error(
            "custody drift on %s at block %s (run %s): %s",
            chain,
            block,
            run.pk,
            ", ".join(f"{symbol} {units:+d} units" for symbol, units in sorted(drift.items())),
        )
    else:
        log.info("reconciliation of %s at block %s: %s", chain, block, state)
    run.started_at = started
    return run
