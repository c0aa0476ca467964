"""Nonces and signed transactions: ``nonce_cursor_ensure`` before the caller's transaction,
``tx_create`` inside it (the NonceCursor row lock)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from web3 import Web3

from fastpay.locks import rows_locked
from wallets.chain.fees import INTRINSIC_GAS, Fees
from wallets.chain.models import Chain, NonceCursor, OutgoingTransaction, TxAttempt, TxPurpose
from wallets.chain.rpc import rpc_for
from wallets.chain.sender_errors import BadTransaction, IdempotencyConflict, NonceCursorMissing
from wallets.chain.signer import sign

_HEX_DATA = re.compile(r"^0x([0-9a-fA-F]{2})*$")


def in_transaction() -> bool:
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
    if not in_transaction():
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
