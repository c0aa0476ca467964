"""Signing outgoing transactions. Only the worker and command processes sign (the sender's
``tx_create`` and replacements); the web tier never imports this module's callers.

A signer is named by a string stored on the OutgoingTransaction (the key itself never is):

- ``hd:<account>/<index>``: the private key m/44'/60'/<account>'/0/<index>, derived from the
  sealed HD seed at signing time (wallets.chain.hd; the seed's fingerprint must match the
  HDAccount rows) and dropped after use. Account 0 holds the deposit addresses, account 1
  the platform's own (index 0 hot wallet, 1 gas station, 2 settler).
- ``key:chain-sender``: the sealed key file settings.FASTPAY_CHAIN_SENDER_KEY_FILE (the
  key that already pays gas for slashing reports).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from eth_account import Account

from fastpay import keyvault
from wallets.chain.sender_errors import BadTransaction, SignerMismatch, SignerUnavailable

_HD = re.compile(r"^hd:(\d{1,10})/(\d{1,10})$")
CHAIN_SENDER = "key:chain-sender"


def signer_hd(account_index: int, index: int) -> str:
    """The signer name of an HD key (what OutgoingTransaction.signer stores)."""
    return f"hd:{int(account_index)}/{int(index)}"


def _private_key(signer: str) -> bytes:
    match = _HD.match(signer or "")
    if match:
        from wallets.chain import hd

        try:
            seed = hd.seed_load()
            return hd.private_key_at(seed, int(match[1]), int(match[2]))
        except hd.HDError as exc:
            raise SignerUnavailable(f"{signer}: {exc}") from None
    if signer == CHAIN_SENDER:
        path = Path(settings.FASTPAY_CHAIN_SENDER_KEY_FILE)
        try:
            envelope = path.read_text()
            return keyvault.unseal(envelope, keyvault.kek_from_text(settings.FASTPAY_KEK))
        except (OSError, keyvault.KeyVaultError) as exc:
            raise SignerUnavailable(f"{signer}: {path}: {exc}") from None
    raise BadTransaction(f"unknown signer {signer!r} (hd:<account>/<index> or {CHAIN_SENDER})")


def signer_address(signer: str) -> str:
    """The checksummed address of a signer's key (derives the key: signing processes only)."""
    return Account.from_key(_private_key(signer)).address


def sign(tx_dict: dict, signer: str, *, expect_from: str | None = None) -> tuple[str, str]:
    """Sign ``tx_dict`` (an eth-account transaction dict with chainId and nonce) with the
    signer's key; returns (raw 0x-hex, tx hash 0x-hex). ``expect_from``: the address the
    transaction is recorded as sent from (SignerMismatch when the key is another's)."""
    key = _private_key(signer)
    account = Account.from_key(key)
    if expect_from is not None and account.address.lower() != expect_from.lower():
        raise SignerMismatch(f"{signer} is {account.address}, not {expect_from}", param="signer")
    try:
        signed = account.sign_transaction(tx_dict)
    except (TypeError, ValueError) as exc:
        raise BadTransaction(f"cannot sign this transaction: {exc}") from None
    return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()
