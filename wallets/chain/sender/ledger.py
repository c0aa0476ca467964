"""The gas of outgoing transactions in the ledger: CHAIN_FEE entries in the chain's native
token (FEES -> CUSTODY)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from wallets.chain.models import Chain, OutgoingTransaction
from wallets.models import AccountKind, EntryKind, Token
from wallets.services.ledger import Line, ledger_post, system_account

NATIVE_ADDRESS = "0x0000000000000000000000000000000000000000"


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
