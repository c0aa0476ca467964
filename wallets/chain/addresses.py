"""Deposit and invoice addresses: m/44'/60'/0'/0/i of the "deposits" HD account, derived
from its xpub alone (the web tier holds no private key; docs/deposits.md).

Index allocation: ``HDAccount.next_index`` is read and advanced under the account row's
lock (fastpay.locks), in the same transaction as the DepositAddress insert, so two
requests never get the same index and an index is never handed out twice (a rolled-back
transaction rolls its increment back too: indexes stay consecutive). The unique
constraints (account, index) and (chain, user) for user addresses stand behind it.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from fastpay.locks import for_update
from fastpay.money import units_to_onchain
from wallets.chain import hd
from wallets.chain.address_errors import DepositsUnavailable, UnknownChain
from wallets.chain.models import (
    Chain,
    ConfirmationTier,
    DepositAddress,
    DepositPurpose,
    HDAccount,
)
from wallets.errors import UnknownToken
from wallets.models import Token

log = logging.getLogger(__name__)

DEPOSITS_ACCOUNT = "deposits"
OPERATIONS_ACCOUNT = "operations"
#: the native coin's Token row has this contract address (docs/deposits.md)
NATIVE_CONTRACT = "0x" + "00" * 20


# ------------------------------------------------------------------ lookups


def chain_get(*, chain_id: int) -> Chain:
    """An enabled Chain by its chain id (UnknownChain otherwise)."""
    chain = Chain.objects.filter(chain_id=chain_id, enabled=True).first()
    if chain is None:
        raise UnknownChain(f"no enabled chain with chain id {chain_id}", param="chain_id")
    return chain


def deposit_tokens(chain: Chain) -> list[Token]:
    """The ERC-20 tokens a deposit address of ``chain`` receives (enabled, not the native
    coin, which the ledger uses for gas only)."""
    return list(
        Token.objects.filter(chain_id=chain.chain_id, enabled=True)
        .exclude(contract_address__iexact=NATIVE_CONTRACT)
        .order_by("symbol")
    )


def token_chain_get(*, symbol: str, chain_id: int | None = None) -> tuple[Token, Chain]:
    """An enabled deposit token by symbol (any case) and its chain; with ``chain_id``, the
    token must be on that chain."""
    token = Token.objects.filter(symbol__iexact=symbol, enabled=True).first()
    if token is None or token.contract_address.lower() == NATIVE_CONTRACT:
        raise UnknownToken(f"no deposit token {symbol!r}", param="token")
    if chain_id is not None and token.chain_id != chain_id:
        raise UnknownToken(f"{token.symbol} is not a token of chain {chain_id}", param="token")
    chain = Chain.objects.filter(chain_id=token.chain_id, enabled=True).first()
    if chain is None:
        raise UnknownChain(f"{token.symbol}'s chain is not enabled", param="token")
    return token, chain


def confirmations_for(token: Token, chain: Chain) -> int:
    """Blocks a deposit of ``token`` waits for below the first amount tier (larger amounts
    may wait longer: ConfirmationTier)."""
    tier = ConfirmationTier.objects.filter(token=token, min_units=0).first()
    return tier.confirmations if tier else chain.confirmations


# ------------------------------------------------------------------ allocation


def _account_locked(name: str) -> HDAccount:
    account = for_update(HDAccount.objects.filter(name=name)).first()
    if account is None:
        raise DepositsUnavailable(
            "the platform's HD keys are not set up (manage.py wallet_init)", param=None
        )
    return account


def _allocate(account: HDAccount, chain: Chain, **fields) -> DepositAddress:
    """The next index of ``account`` (caller holds its lock) as a new DepositAddress."""
    index = account.next_index
    try:
        address = hd.address_at(account.xpub, index)
    except hd.HDError as exc:  # a recorded xpub that does not parse: the operator's to fix
        log.error("HD account %s cannot derive addresses: %s", account.name, exc)
        raise DepositsUnavailable(param=None) from None
    row = DepositAddress.objects.create(
        chain=chain, account=account, index=index, address=address, **fields
    )
    HDAccount.objects.filter(pk=account.pk).update(next_index=index + 1)
    account.next_index = index + 1
    return row


def _user_address(user, chain: Chain) -> DepositAddress | None:
    return (
        DepositAddress.objects.filter(chain=chain, user=user, purpose=DepositPurpose.USER)
        .select_related("chain")
        .first()
    )


def deposit_address_get_or_create(*, user, chain: Chain) -> tuple[DepositAddress, bool]:
    """The user's deposit address on ``chain`` and whether this call created it. One per
    user per chain: a second (or concurrent) call returns the first one's."""
    found = _user_address(user, chain)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            account = _account_locked(DEPOSITS_ACCOUNT)
            # Read again under the lock: a concurrent request of this user may have
            # committed its address while we waited (READ COMMITTED sees it now).
            found = _user_address(user, chain)
            if found is not None:
                return found, False
            row = _allocate(account, chain, purpose=DepositPurpose.USER, user=user)
    except IntegrityError:
        # deposit_one_per_user_chain: another transaction won between our read and insert
        # (only possible without the lock, e.g. a different HD account); theirs is the one.
        found = _user_address(user, chain)
        if found is None:
            raise
        return found, False
    return row, True


def deposit_address_for(user, chain: Chain) -> DepositAddress:
    """The user's deposit address on ``chain``, created on first use."""
    return deposit_address_get_or_create(user=user, chain=chain)[0]


def invoice_address_create(chain: Chain, reference: str) -> DepositAddress:
    """A fresh address for one invoice (issue 15), from the same account and index counter
    as user addresses; the same ``reference`` on the same chain returns its address."""
    if not reference or len(reference) > DepositAddress._meta.get_field("reference").max_length:
        raise ValueError("an invoice address needs a reference of 1-64 characters")
    with transaction.atomic():
        account = _account_locked(DEPOSITS_ACCOUNT)
        found = DepositAddress.objects.filter(
            chain=chain, purpose=DepositPurpose.INVOICE, reference=reference
        ).first()
        if found is not None:
            return found
        return _allocate(account, chain, purpose=DepositPurpose.INVOICE, reference=reference)


def deposit_address_list(*, user):
    """The user's addresses (user purpose), newest first."""
    return DepositAddress.objects.filter(user=user, purpose=DepositPurpose.USER).select_related(
        "chain"
    )


def deposit_address_get(*, user, address_id: int) -> DepositAddress | None:
    return deposit_address_list(user=user).filter(pk=address_id).first()


# ------------------------------------------------------------------ payment URIs


def eip681_uri(token: Token, address: str, amount_units: int | None = None) -> str:
    """The EIP-681 payment request for ``address``: an ERC-20 ``transfer`` of ``token``
    (amount in the token's base units, exact), or a plain value transfer for the native
    coin. Wallets show the amount and the token from it; the chain id pins the network."""
    if amount_units is not None and amount_units <= 0:
        raise ValueError("an EIP-681 amount is positive")
    base = (
        None
        if amount_units is None
        else units_to_onchain(
            amount_units, decimals=token.decimals, ledger_decimals=token.ledger_decimals
        )
    )
    if token.contract_address.lower() == NATIVE_CONTRACT:
        uri = f"ethereum:{address}@{token.chain_id}"
        return uri if base is None else f"{uri}?value={base}"
    uri = f"ethereum:{token.contract_address}@{token.chain_id}/transfer?address={address}"
    return uri if base is None else f"{uri}&uint256={base}"
