"""The one sender of every transaction the platform puts on a chain (sweeps, gas top-ups,
withdrawals, payouts, settlement batches): docs/deposits.md, "Sending".

The life of a transaction, and where each step runs:

1. Outside any transaction (network I/O): ``fees_quote(chain)``, ``gas_estimate(...)``
   (wallets.chain.fees) and ``nonce_cursor_ensure(chain, address)``.
2. Inside the caller's transaction: ``tx_create(...)`` locks the (chain, address)
   NonceCursor row (fastpay.locks), takes its next nonce, signs, and stores the
   OutgoingTransaction (SIGNED) with its first TxAttempt (raw bytes and hash). The caller's
   own rows (a withdrawal IN_PROGRESS, a sweep) commit with it, or nothing does: a rolled
   back caller gives its nonce back.
3. After commit: ``tx_broadcast(tx)`` sends the stored raw bytes. A crash between 2 and 3
   loses nothing: ``tx_follow`` broadcasts every SIGNED transaction, the same bytes under
   the same hash, so a transaction is never signed twice for one use.
4. ``tx_follow(chain)`` (beat task and ``manage.py chain_sender follow``): receipts of every
   attempt; MINED, then CONFIRMED (status 1) or FAILED (status 0, with the revert reason)
   at ``confirmations_required`` blocks; a receipt gone (reorg) sends it back to BROADCAST;
   not mined after FASTPAY_CHAIN_TX_STUCK_S: a replacement attempt with both fees +12.5%
   (``tx_replace``; at the chain's fee cap: an alert and a wait); the chain's nonce past
   ours at the required depth with none of our hashes mined: DROPPED (an alert).
5. The outcome (CONFIRMED, FAILED, DROPPED) is recorded in one transaction that also posts
   the gas paid as a CHAIN_FEE entry in the chain's native token (FEES -> CUSTODY: the
   platform's on-chain holdings shrank by it) and runs the hooks registered for the
   transaction's purpose (``on_outcome``), so sweeps, withdrawals, payouts and settlement
   react atomically with it.

Locks: NonceCursor rows (tx_create) and OutgoingTransaction rows (outcomes, replacements),
each through fastpay.locks in primary-key order; state changes outside a lock are
compare-and-set updates whose row count is checked, so two followers never record one
outcome twice.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from web3 import Web3

from fastpay.events import event_record
from fastpay.locks import rows_locked
from wallets.chain.fees import INTRINSIC_GAS, Fees, fees_bump, fees_quote, gas_estimate
from wallets.chain.models import (
    Chain,
    NonceCursor,
    OutgoingTransaction,
    TxAttempt,
    TxPurpose,
    TxState,
)
from wallets.chain.rpc import RpcError, RpcRevert, SendRefused, rpc_for
from wallets.chain.sender_errors import (
    BadTransaction,
    FeeAboveCap,
    IdempotencyConflict,
    NonceCursorMissing,
    TxNotReplaceable,
)
from wallets.chain.signer import sign
from wallets.models import AccountKind, EntryKind, Token
from wallets.services.ledger import Line, ledger_post, system_account

__all__ = [
    "Fees",
    "fees_quote",
    "gas_estimate",
    "native_token",
    "nonce_cursor_ensure",
    "on_outcome",
    "tx_broadcast",
    "tx_create",
    "tx_follow",
    "tx_rebroadcast",
    "tx_replace",
]

logger = logging.getLogger("wallets.chain.sender")

NATIVE_ADDRESS = "0x0000000000000000000000000000000000000000"
IN_FLIGHT = (TxState.SIGNED, TxState.BROADCAST, TxState.MINED)
OUTCOMES = (TxState.CONFIRMED, TxState.FAILED, TxState.DROPPED)
_HEX_DATA = re.compile(r"^0x([0-9a-fA-F]{2})*$")
#: an accepted attempt not yet mined is sent again this often (a node may have evicted it)
REBROADCAST_S = 30
#: refusals that mean "pay more": the attempt is replaced like a stuck one
UNDERPRICED = ("underpriced", "fee too low", "less than block base fee", "gas price too low")

Hook = Callable[[OutgoingTransaction], None]
_hooks: dict[str, list[Hook]] = defaultdict(list)


# ------------------------------------------------------------------ hooks


def on_outcome(purpose: str, fn: Hook) -> None:
    """Run ``fn(tx)`` when a transaction of ``purpose`` reaches CONFIRMED, FAILED or
    DROPPED, inside the transaction that records it (``tx`` is the locked row, its state
    the outcome). An exception rolls the outcome back; the next follow tick retries."""
    if purpose not in TxPurpose.values:
        raise ValueError(f"unknown purpose {purpose!r}")
    if fn not in _hooks[purpose]:
        _hooks[purpose].append(fn)


# ------------------------------------------------------------------ before the transaction


def _in_transaction() -> bool:
    """In a transaction of our own (the atomic block a test case wraps every test in does
    not count: Django marks it)."""
    blocks = transaction.get_connection().atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def _checksum(address: str, param: str) -> str:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise BadTransaction(f"not an address: {address!r}", param=param)
    return Web3.to_checksum_address(address)


def nonce_cursor_ensure(chain: Chain, address: str, *, rpc=None) -> NonceCursor:
    """The address's NonceCursor, created from the chain's *pending* nonce when missing
    (network I/O: call it before the transaction that calls tx_create)."""
    address = _checksum(address, "from_address")
    cursor = NonceCursor.objects.filter(chain=chain, address=address).first()
    if cursor is not None:
        return cursor
    pending = (rpc or rpc_for(chain)).nonce(address, "pending")
    try:
        with transaction.atomic():
            return NonceCursor.objects.create(chain=chain, address=address, next_nonce=pending)
    except IntegrityError:  # a concurrent first use created it
        return NonceCursor.objects.get(chain=chain, address=address)


# ------------------------------------------------------------------ inside the transaction


def _validated(*, to, data, value_wei, gas_limit, purpose, idempotency_key) -> tuple:
    to = _checksum(to, "to")
    data = data or "0x"
    if not isinstance(data, str) or not _HEX_DATA.match(data):
        raise BadTransaction("call data is 0x-hex bytes", param="data")
    if isinstance(value_wei, bool) or not isinstance(value_wei, int) or value_wei < 0:
        raise BadTransaction("value_wei is a non-negative int", param="value_wei")
    if isinstance(gas_limit, bool) or not isinstance(gas_limit, int) or gas_limit < INTRINSIC_GAS:
        raise BadTransaction(f"gas_limit is an int of at least {INTRINSIC_GAS}", param="gas_limit")
    if purpose not in TxPurpose.values:
        raise BadTransaction(f"unknown purpose {purpose!r}", param="purpose")
    if not idempotency_key or len(idempotency_key) > 128:
        raise BadTransaction("an idempotency key of 1..128 characters", param="idempotency_key")
    return to, data.lower()


def _same_request(tx: OutgoingTransaction, **wanted) -> OutgoingTransaction:
    have = {
        "chain_id": tx.chain_id,
        "from_address": tx.from_address,
        "to_address": tx.to_address,
        "value_wei": tx.value_wei,
        "data": tx.data,
        "purpose": tx.purpose,
        "reference": tx.reference,
    }
    if have != wanted:
        differ = sorted(k for k in have if have[k] != wanted[k])
        raise IdempotencyConflict(
            f"idempotency key {tx.idempotency_key!r} was used for another transaction "
            f"({', '.join(differ)} differ)",
            param="idempotency_key",
        )
    return tx


def tx_create(
    *,
    chain: Chain,
    signer: str,
    from_address: str,
    to: str,
    data: str = "0x",
    value_wei: int = 0,
    gas_limit: int,
    fees: Fees,
    purpose: str,
    reference: str,
    idempotency_key: str,
    confirmations: int | None = None,
) -> OutgoingTransaction:
    """Allocate the next nonce of ``from_address`` and store the signed transaction
    (SIGNED, nothing sent yet). Runs inside the caller's transaction (it commits the
    caller's rows with it); the caller broadcasts with ``tx_broadcast`` after commit.

    The same ``idempotency_key`` returns the transaction it made first (IdempotencyConflict
    when the request differs). Locks the NonceCursor row (NonceCursorMissing when
    ``nonce_cursor_ensure`` was not called first). No network I/O."""
    if not _in_transaction():
        raise RuntimeError("tx_create runs inside the caller's transaction")
    from_address = _checksum(from_address, "from_address")
    to, data = _validated(
        to=to,
        data=data,
        value_wei=value_wei,
        gas_limit=gas_limit,
        purpose=purpose,
        idempotency_key=idempotency_key,
    )
    wanted = {
        "chain_id": chain.pk,
        "from_address": from_address,
        "to_address": to,
        "value_wei": str(value_wei),
        "data": data,
        "purpose": purpose,
        "reference": reference,
    }
    existing = OutgoingTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_request(existing, **wanted)
    cursors = rows_locked(NonceCursor.objects.filter(chain=chain, address=from_address))
    if not cursors:
        raise NonceCursorMissing(f"no nonce cursor for {from_address} on chain {chain.chain_id}")
    cursor = cursors[0]
    # a concurrent tx_create with the same key held the cursor until it committed
    existing = OutgoingTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_request(existing, **wanted)
    nonce = cursor.next_nonce
    tx_dict = {
        "chainId": chain.chain_id,
        "nonce": nonce,
        "to": to,
        "value": value_wei,
        "data": data,
        "gas": gas_limit,
        **fees.tx_fields(),
    }
    raw, tx_hash = sign(tx_dict, signer, expect_from=from_address)
    try:
        with transaction.atomic():
            NonceCursor.objects.filter(pk=cursor.pk).update(next_nonce=nonce + 1)
            tx = OutgoingTransaction.objects.create(
                chain=chain,
                from_address=from_address,
                nonce=nonce,
                to_address=to,
                value_wei=str(value_wei),
                data=data,
                gas_limit=gas_limit,
                signer=signer,
                purpose=purpose,
                reference=reference,
                idempotency_key=idempotency_key,
                confirmations_required=confirmations or chain.confirmations,
            )
            TxAttempt.objects.create(tx=tx, raw=raw, tx_hash=tx_hash, **fees.attempt_fields())
    except IntegrityError:
        # the same key on another sending address, committed meanwhile
        existing = OutgoingTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_request(existing, **wanted)
    return tx


# ------------------------------------------------------------------ after the transaction


def _outside_transaction(what: str) -> None:
    if _in_transaction():
        raise RuntimeError(f"{what} does network I/O: never inside a database transaction")


def _latest_attempt(tx: OutgoingTransaction) -> TxAttempt:
    return tx.attempts.order_by("-id").first()


def tx_broadcast(tx: OutgoingTransaction, *, rpc=None) -> OutgoingTransaction:
    """Send the transaction's latest attempt (its stored raw bytes). Safe to repeat: a node
    that already has it, or has mined its nonce, answers so, and the receipt decides. A
    refusal (underpriced, insufficient funds for gas) is recorded on the attempt and
    logged; the transaction stays as it was and the follow loop sends it again."""
    _outside_transaction("tx_broadcast")
    tx.refresh_from_db()
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        return tx
    attempt = _latest_attempt(tx)
    rpc = rpc or rpc_for(tx.chain)
    try:
        rpc.send_raw(attempt.raw)
    except SendRefused as exc:
        TxAttempt.objects.filter(pk=attempt.pk).update(broadcast_error=str(exc)[:2000])
        logger.error("chain %s: %s refused by the node: %s", tx.chain.chain_id, tx, exc)
        return tx
    except RpcError as exc:
        TxAttempt.objects.filter(pk=attempt.pk).update(broadcast_error=str(exc)[:2000])
        logger.warning("chain %s: cannot broadcast %s now: %s", tx.chain.chain_id, tx, exc)
        return tx
    now = timezone.now()
    TxAttempt.objects.filter(pk=attempt.pk, broadcast_at__isnull=True).update(broadcast_at=now)
    TxAttempt.objects.filter(pk=attempt.pk).update(broadcast_error="")
    OutgoingTransaction.objects.filter(
        pk=tx.pk, state__in=(TxState.SIGNED, TxState.BROADCAST)
    ).update(state=TxState.BROADCAST, last_broadcast_at=now)
    tx.refresh_from_db()
    return tx


def tx_rebroadcast(tx: OutgoingTransaction, *, rpc=None) -> OutgoingTransaction:
    """The admin's "rebroadcast": the latest attempt again (TxNotReplaceable once mined)."""
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        raise TxNotReplaceable(f"{tx} is {tx.state}: nothing to rebroadcast")
    return tx_broadcast(tx, rpc=rpc)


def tx_replace(
    tx: OutgoingTransaction, *, rpc=None, fees: Fees | None = None
) -> OutgoingTransaction:
    """A replacement attempt for a transaction not mined yet: the same nonce, call and gas
    limit with every fee at least +12.5% (and at least today's quote), signed, stored,
    then broadcast. FeeAboveCap (and an alert) when that passes the chain's fee cap: the
    transaction keeps waiting at its current fees."""
    _outside_transaction("tx_replace")
    tx.refresh_from_db()
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        raise TxNotReplaceable(f"{tx} is {tx.state}: only a transaction not mined is replaced")
    chain = tx.chain
    rpc = rpc or rpc_for(chain)
    last = _latest_attempt(tx)
    old = Fees.of_attempt(last)
    new = fees or fees_bump(old, chain=chain, quote=fees_quote(chain, rpc=rpc))
    if new is None:
        _alert_fee_capped(tx, old)
        raise FeeAboveCap(
            f"{tx}: a +12.5% bump of {old.max_price} wei/gas passes the cap "
            f"{chain.max_fee_per_gas_wei}"
        )
    with transaction.atomic():
        locked = rows_locked(OutgoingTransaction.objects.filter(pk=tx.pk))[0]
        if locked.state not in (TxState.SIGNED, TxState.BROADCAST):
            raise TxNotReplaceable(f"{locked} is {locked.state} now")
        if _latest_attempt(locked).pk != last.pk:
            return locked  # another follower replaced it meanwhile
        tx_dict = {
            "chainId": chain.chain_id,
            "nonce": locked.nonce,
            "to": locked.to_address,
            "value": int(locked.value_wei),
            "data": locked.data,
            "gas": locked.gas_limit,
            **new.tx_fields(),
        }
        raw, tx_hash = sign(tx_dict, locked.signer, expect_from=locked.from_address)
        TxAttempt.objects.create(tx=locked, raw=raw, tx_hash=tx_hash, **new.attempt_fields())
        OutgoingTransaction.objects.filter(pk=locked.pk).update(bump_count=locked.bump_count + 1)
    logger.warning(
        "chain %s: %s replaced by %s at %s wei/gas (was %s)",
        chain.chain_id,
        tx,
        tx_hash,
        new.max_price,
        old.max_price,
    )
    return tx_broadcast(tx, rpc=rpc)


def _alert_fee_capped(tx: OutgoingTransaction, old: Fees) -> None:
    logger.error(
        "chain %s: %s is stuck at %s wei/gas and the fee cap %s allows no +12.5%% bump",
        tx.chain.chain_id,
        tx,
        old.max_price,
        tx.chain.max_fee_per_gas_wei,
    )
    from fastpay.models import OutboxEvent

    with transaction.atomic():
        seen = OutboxEvent.objects.filter(
            topic="chain_tx.fee_capped", aggregate_type="outgoing_transaction", aggregate_id=tx.pk
        )
        if not seen.exists():  # one alert per transaction, not one per follow tick
            event_record(
                topic="chain_tx.fee_capped",
                aggregate_type="outgoing_transaction",
                aggregate_id=tx.pk,
                payload={**tx_payload(tx), "max_fee_per_gas_wei": str(old.max_price)},
            )


# ------------------------------------------------------------------ following


def tx_payload(tx: OutgoingTransaction) -> dict:
    return {
        "tx_id": tx.pk,
        "chain_id": tx.chain.chain_id,
        "purpose": tx.purpose,
        "reference": tx.reference,
        "from_address": tx.from_address,
        "to_address": tx.to_address,
        "nonce": tx.nonce,
        "tx_hash": tx.mined_hash or _latest_attempt(tx).tx_hash,
        "state": tx.state,
        "error": tx.error,
    }


def tx_follow(chain: Chain, *, rpc=None, stuck_after_s: int | None = None) -> dict[str, int]:
    """One pass over the chain's transactions in flight: broadcast what was never sent,
    follow receipts to depth, replace the stuck, record outcomes. Returns counts by what
    happened. Safe to run concurrently (compare-and-set and row locks) and to repeat."""
    _outside_transaction("tx_follow")
    rpc = rpc or rpc_for(chain)
    stuck_after = timedelta(
        seconds=stuck_after_s if stuck_after_s is not None else settings.FASTPAY_CHAIN_TX_STUCK_S
    )
    counts: dict[str, int] = defaultdict(int)
    head = rpc.block("latest")["number"]
    in_flight = OutgoingTransaction.objects.filter(chain=chain, state__in=IN_FLIGHT).order_by(
        "from_address", "nonce"
    )
    for tx in in_flight.select_related("chain"):
        try:
            counts[_follow_one(tx, head=head, rpc=rpc, stuck_after=stuck_after)] += 1
        except RpcError as exc:
            counts["rpc_error"] += 1
            logger.warning("chain %s: following %s: %s", chain.chain_id, tx, exc)
        except FeeAboveCap:
            counts["fee_capped"] += 1
    return dict(counts)


def _follow_one(tx: OutgoingTransaction, *, head: int, rpc, stuck_after: timedelta) -> str:
    if tx.state == TxState.SIGNED and _latest_attempt(tx).broadcast_at is None:
        tx = tx_broadcast(tx, rpc=rpc)
        if tx.state == TxState.SIGNED:
            last = _latest_attempt(tx)
            underpriced = any(m in last.broadcast_error.lower() for m in UNDERPRICED)
            if underpriced and timezone.now() - last.created_at >= stuck_after:
                tx_replace(tx, rpc=rpc)  # refused for its fees: a bump, as if stuck
                return "replaced"
            return "refused"
    attempts = list(tx.attempts.order_by("id"))
    receipt = _first_receipt(attempts, rpc)
    if receipt is not None:
        return _follow_mined(tx, receipt, head=head, rpc=rpc)
    if tx.state == TxState.MINED:
        # its receipt is gone: the block was reorganised away; back to the pool
        OutgoingTransaction.objects.filter(
            pk=tx.pk, state=TxState.MINED, mined_hash=tx.mined_hash
        ).update(
            state=TxState.BROADCAST, mined_hash="", block_number=None, block_hash="", gas_used=None
        )
        logger.warning("chain %s: %s un-mined by a reorg", tx.chain.chain_id, tx)
        tx_broadcast(tx, rpc=rpc)
        return "reorged"
    # our nonce used at the required depth, yet none of our hashes mined: dropped
    depth_block = max(0, head - tx.confirmations_required + 1)
    if rpc.nonce(tx.from_address, depth_block) > tx.nonce:
        if _first_receipt(attempts, rpc) is None:  # mined since the first look?
            _record_dropped(tx)
            return "dropped"
        return "mined"
    last = attempts[-1]
    now = timezone.now()
    if tx.state == TxState.BROADCAST and now - last.created_at >= stuck_after:
        tx_replace(tx, rpc=rpc)
        return "replaced"
    if tx.last_broadcast_at is None or now - tx.last_broadcast_at >= timedelta(
        seconds=REBROADCAST_S
    ):
        tx_broadcast(tx, rpc=rpc)
    return "waiting"


def _first_receipt(attempts: list[TxAttempt], rpc) -> dict | None:
    for attempt in attempts:
        receipt = rpc.receipt(attempt.tx_hash)
        if receipt is not None:
            return receipt
    return None


def _follow_mined(tx: OutgoingTransaction, receipt: dict, *, head: int, rpc) -> str:
    fee_wei = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    fields = {
        "mined_hash": receipt["transactionHash"],
        "block_number": receipt["blockNumber"],
        "block_hash": receipt["blockHash"],
        "gas_used": receipt["gasUsed"],
        "fee_wei": str(fee_wei),
    }
    if any(getattr(tx, k) != v for k, v in fields.items()) or tx.state != TxState.MINED:
        OutgoingTransaction.objects.filter(
            pk=tx.pk, state__in=(TxState.SIGNED, TxState.BROADCAST, TxState.MINED)
        ).update(state=TxState.MINED, **fields)
    if head - receipt["blockNumber"] + 1 < tx.confirmations_required:
        return "mined"
    # the receipt's block must still be the chain's at that height
    if rpc.block(receipt["blockNumber"])["hash"] != receipt["blockHash"]:
        return "mined"
    reason = "" if receipt["status"] == 1 else _revert_reason(tx, receipt, rpc)
    state = TxState.CONFIRMED if receipt["status"] == 1 else TxState.FAILED
    return str(state) if _record_outcome(tx, state, receipt=receipt, reason=reason) else "raced"


def _revert_reason(tx: OutgoingTransaction, receipt: dict, rpc) -> str:
    """Why a mined transaction reverted: the call replayed on the state before its block
    (the node's revert reason), or out of gas when it used its whole limit."""
    if receipt["gasUsed"] >= tx.gas_limit:
        return f"reverted: out of gas ({tx.gas_limit})"
    call = {
        "from": tx.from_address,
        "to": tx.to_address,
        "data": tx.data,
        "value": int(tx.value_wei),
        "gas": tx.gas_limit,
    }
    try:
        rpc.call(call, max(0, receipt["blockNumber"] - 1))
    except RpcRevert as exc:
        return f"reverted: {exc}"[:2000]
    except RpcError:
        pass
    return "reverted (the replay did not revert: the state before it differed)"


def _record_outcome(tx: OutgoingTransaction, state: str, *, receipt: dict, reason: str) -> bool:
    with transaction.atomic():
        locked = rows_locked(
            OutgoingTransaction.objects.filter(pk=tx.pk).select_related("chain"), of=("self",)
        )[0]
        if locked.state != TxState.MINED or locked.mined_hash != receipt["transactionHash"]:
            return False
        locked.state = state
        locked.error = reason
        locked.confirmed_at = timezone.now()
        locked.save(update_fields=["state", "error", "confirmed_at", "updated_at"])
        chain_fee_post(locked)
        if state == TxState.FAILED:
            logger.error("chain %s: %s reverted: %s", locked.chain.chain_id, locked, reason)
            event_record(
                topic="chain_tx.failed",
                aggregate_type="outgoing_transaction",
                aggregate_id=locked.pk,
                payload=tx_payload(locked),
            )
        _run_hooks(locked)
    return True


def _record_dropped(tx: OutgoingTransaction) -> None:
    with transaction.atomic():
        locked = rows_locked(
            OutgoingTransaction.objects.filter(pk=tx.pk).select_related("chain"), of=("self",)
        )[0]
        if locked.state not in (TxState.SIGNED, TxState.BROADCAST):
            return
        locked.state = TxState.DROPPED
        locked.error = "its nonce was used by a transaction the sender did not send"
        locked.confirmed_at = timezone.now()
        locked.save(update_fields=["state", "error", "confirmed_at", "updated_at"])
        # later transactions of this address must not wait on a nonce the chain passed
        cursor = rows_locked(
            NonceCursor.objects.filter(chain=locked.chain, address=locked.from_address)
        )
        if cursor and cursor[0].next_nonce <= locked.nonce:
            NonceCursor.objects.filter(pk=cursor[0].pk).update(next_nonce=locked.nonce + 1)
        logger.error(
            "chain %s: %s DROPPED: nonce %s was used outside the sender (a leaked key or "
            "another tool signing with it?)",
            locked.chain.chain_id,
            locked,
            locked.nonce,
        )
        event_record(
            topic="chain_tx.dropped",
            aggregate_type="outgoing_transaction",
            aggregate_id=locked.pk,
            payload=tx_payload(locked),
        )
        _run_hooks(locked)


def _run_hooks(tx: OutgoingTransaction) -> None:
    for fn in list(_hooks.get(tx.purpose, ())):
        fn(tx)


# ------------------------------------------------------------------ the ledger


def native_token(chain: Chain) -> Token:
    """The chain's native coin as a ledger token (gas only: enabled=False), by its zero
    contract address; created here when the deployment did not (symbol
    Chain.native_symbol, or <symbol>-<chain id> when another chain took that symbol)."""
    token = Token.objects.filter(chain_id=chain.chain_id, contract_address=NATIVE_ADDRESS).first()
    if token is not None:
        return token
    symbol = chain.native_symbol
    if Token.objects.filter(symbol=symbol).exists():
        symbol = f"{chain.native_symbol}-{chain.chain_id}"[:16]
    try:
        with transaction.atomic():
            return Token.objects.create(
                symbol=symbol,
                name=f"{chain.native_symbol} (gas on {chain.name})",
                chain_id=chain.chain_id,
                contract_address=NATIVE_ADDRESS,
                decimals=18,
                ledger_decimals=12,
                enabled=False,
            )
    except IntegrityError:
        return Token.objects.get(chain_id=chain.chain_id, contract_address=NATIVE_ADDRESS)


def chain_fee_post(tx: OutgoingTransaction):
    """The gas a mined transaction paid, as a CHAIN_FEE entry in the native token: FEES
    -units, CUSTODY +units (the wei below one ledger unit stay only in ``fee_wei``).
    Idempotent on the mined hash. Inside the outcome's transaction. None when the fee is
    below one ledger unit."""
    if not tx.fee_wei or not tx.mined_hash:
        return None
    token = native_token(tx.chain)
    units = int(tx.fee_wei) // 10 ** (token.decimals - token.ledger_decimals)
    if units == 0:
        return None
    from wallets.models import JournalEntry

    key = f"chain_fee:{tx.chain.chain_id}:{tx.mined_hash}"
    existing = JournalEntry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    return ledger_post(
        kind=EntryKind.CHAIN_FEE,
        reference=f"chain_tx:{tx.pk}",
        memo=f"gas of {tx.purpose} {tx.mined_hash}: {tx.fee_wei} wei",
        idempotency_key=key,
        lines=[
            Line(system_account(token, AccountKind.FEES), -units),
            Line(system_account(token, AccountKind.CUSTODY), units),
        ],
    )


def attempt_status(tx: OutgoingTransaction, attempt: TxAttempt) -> str:
    """What became of one attempt: mined, replaced (another attempt of its nonce was
    mined, or the transaction was dropped), or pending."""
    if tx.mined_hash:
        return "mined" if attempt.tx_hash == tx.mined_hash else "replaced"
    if tx.state == TxState.DROPPED:
        return "replaced"
    return "pending" if attempt.broadcast_at else "not broadcast"


def chain_follow_all(*, stuck_after_s: int | None = None) -> dict[int, dict[str, int]]:
    """``tx_follow`` over every enabled chain with transactions in flight (the beat task).
    A chain whose RPC is down is reported and skipped; the others still advance."""
    out: dict[int, dict[str, int]] = {}
    busy = OutgoingTransaction.objects.filter(state__in=IN_FLIGHT).values("chain_id")
    for chain in Chain.objects.filter(enabled=True, pk__in=busy):
        try:
            out[chain.chain_id] = tx_follow(chain, stuck_after_s=stuck_after_s)
        except RpcError as exc:
            logger.warning("chain %s: the sender cannot follow now: %s", chain.chain_id, exc)
            out[chain.chain_id] = {"rpc_error": 1}
    return out
