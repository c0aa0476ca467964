"""Helpers of the reconciliation tests (tests/wallets/chain/test_reconcile*.py).

Deposits are recorded and credited here as the watcher does it (wallets.chain.deposits:
a Deposit row per Transfer log, then the DEPOSIT entry CUSTODY -> the user's AVAILABLE),
so these tests depend on the chain and the ledger only. Sweeps are ERC-20 transfers
signed by the deposit address's key, sent straight to anvil and recorded as the sender
records them (an OutgoingTransaction, CONFIRMED at its block): a ledger-neutral move
between the platform's addresses.
"""

from __future__ import annotations

import itertools

from django.db import transaction
from eth_account import Account

from wallets.chain.models import (
    AddressRole,
    Deposit,
    DepositState,
    OutgoingTransaction,
    PlatformAddress,
    TxPurpose,
    TxState,
    WatcherCursor,
)
from wallets.models import AccountKind, EntryKind
from wallets.services.ledger import Line, ledger_post, system_account, user_account

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_nonces = itertools.count(1)


def platform_address(chain, role=AddressRole.HOT):
    """A PlatformAddress row for a fresh key: (row, LocalAccount)."""
    key = Account.create()
    row = PlatformAddress.objects.create(chain=chain, role=role, address=key.address)
    return row, key


def cursor_to_head(chain, anvil) -> int:
    """Move the watcher cursor to the chain's head (what the watcher would have done)."""
    head = anvil.head()
    WatcherCursor.objects.filter(chain=chain).update(
        block_number=head.number, block_hash=head.hash.to_0x_hex(), head_number=head.number
    )
    return head.number


def _transfer_log(receipt, to: str):
    for log in receipt["logs"]:
        topics = [t.hex().removeprefix("0x") for t in log["topics"]]
        if topics and topics[0] == TRANSFER_TOPIC and topics[2][-40:] == to[2:].lower():
            return log
    raise AssertionError("no Transfer log to the address in the receipt")


def deposit_record(token, address_row, receipt, *, state=DepositState.CONFIRMED) -> Deposit:
    """The Deposit of the Transfer log to ``address_row`` in ``receipt``; credited
    (entry DEPOSIT, CUSTODY -> AVAILABLE) when CONFIRMED."""
    log = _transfer_log(receipt, address_row.address)
    amount = int(log["data"].hex().removeprefix("0x") or "0", 16)
    scale = 10 ** (token.decimals - token.ledger_decimals)
    units, dust = divmod(amount, scale)
    deposit = Deposit.objects.create(
        chain=address_row.chain,
        token=token,
        address=address_row,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        log_index=log["logIndex"],
        block_number=receipt["blockNumber"],
        block_hash=receipt["blockHash"].to_0x_hex(),
        from_address="0x" + "00" * 20,
        amount_onchain=str(amount),
        amount_units=units,
        dust_onchain=str(dust),
        state=DepositState.SEEN if state == DepositState.CONFIRMED else state,
        confirmations_required=3,
    )
    if state == DepositState.CONFIRMED:
        deposit_credit(deposit)
    return deposit


@transaction.atomic
def deposit_credit(deposit: Deposit) -> Deposit:
    token = deposit.token
    entry = ledger_post(
        kind=EntryKind.DEPOSIT,
        reference=f"deposit:{deposit.pk}",
        lines=[
            Line(system_account(token, AccountKind.CUSTODY), -deposit.amount_units),
            Line(user_account(deposit.address.user, token), deposit.amount_units),
        ],
        idempotency_key=f"deposit:{deposit.chain.chain_id}:{deposit.tx_hash}:"
        f"{deposit.log_index}:{deposit.block_hash}",
    )
    Deposit.objects.filter(pk=deposit.pk).update(state=DepositState.CONFIRMED, entry=entry)
    deposit.refresh_from_db()
    return deposit


def sweep_send(anvil, chain, token, key, to: str, amount: int, *, state=TxState.CONFIRMED):
    """An ERC-20 transfer signed by ``key`` (gas funded first), recorded as the sender
    records a sweep."""
    anvil.fund_gas(key.address, 10**16)
    receipt = anvil.transfer_from(token, key, to, amount)
    data = anvil.contract(token).functions.transfer(to, amount)._encode_transaction_data()
    return OutgoingTransaction.objects.create(
        chain=chain,
        from_address=key.address,
        nonce=next(_nonces),
        to_address=token.contract_address,
        data=data,
        gas_limit=100_000,
        signer="test",
        purpose=TxPurpose.SWEEP,
        reference=f"sweep:{key.address}",
        idempotency_key=f"test-sweep:{receipt['transactionHash'].to_0x_hex()}",
        state=state,
        mined_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=receipt["blockNumber"],
        block_hash=receipt["blockHash"].to_0x_hex(),
        gas_used=receipt["gasUsed"],
    )
