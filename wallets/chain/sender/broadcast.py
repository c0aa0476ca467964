"""Sending stored attempts (``tx_broadcast``, ``tx_rebroadcast``) and replacing a stuck
one with higher fees (``tx_replace``). Network I/O: never inside a database transaction."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.locks import rows_locked
from wallets.chain.fees import Fees, fees_bump, fees_quote
from wallets.chain.models import OutgoingTransaction, TxAttempt, TxState
from wallets.chain.rpc import RpcError, SendRefused, rpc_for
from wallets.chain.sender.create import in_transaction
from wallets.chain.sender_errors import FeeAboveCap, TxNotReplaceable
from wallets.chain.signer import sign

logger = logging.getLogger("wallets.chain.sender")


def outside_transaction(what: str) -> None:
    if in_transaction():
        raise RuntimeError(f"{what} does network I/O: never inside a database transaction")


def latest_attempt(tx: OutgoingTransaction) -> TxAttempt:
    return tx.attempts.order_by("-id").first()


def tx_broadcast(tx: OutgoingTransaction, *, rpc=None) -> OutgoingTransaction:
    """Send the transaction's latest attempt (its stored raw bytes). Safe to repeat: a node
    that already has it, or has mined its nonce, answers so, and the receipt decides. A
    refusal (underpriced, insufficient funds for gas) is recorded on the attempt and
    logged; the transaction stays as it was and the follow loop sends it again."""
    outside_transaction("tx_broadcast")
    tx.refresh_from_db()
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        return tx
    attempt = latest_attempt(tx)
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
    outside_transaction("tx_replace")
    tx.refresh_from_db()
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        raise TxNotReplaceable(f"{tx} is {tx.state}: only a transaction not mined is replaced")
    chain = tx.chain
    rpc = rpc or rpc_for(chain)
    last = latest_attempt(tx)
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
        if latest_attempt(locked).pk != last.pk:
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


def tx_payload(tx: OutgoingTransaction) -> dict:
    return {
        "tx_id": tx.pk,
        "chain_id": tx.chain.chain_id,
        "purpose": tx.purpose,
        "reference": tx.reference,
        "from_address": tx.from_address,
        "to_address": tx.to_address,
        "nonce": tx.nonce,
        "tx_hash": tx.mined_hash or latest_attempt(tx).tx_hash,
        "state": tx.state,
        "error": tx.error,
    }
