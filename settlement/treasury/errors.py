"""Errors of the hot/cold wallet services (shown to staff in the admin; codes stable)."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class NoColdSafe(DomainError):
    code = "no_cold_safe"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "No cold Safe is configured for this chain (manage.py treasury_safe)."


class NoHotWallet(DomainError):
    code = "no_hot_wallet"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "No hot wallet on this chain (manage.py wallet_init)."


class SafeUnavailable(DomainError):
    code = "safe_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "The Safe cannot be read on-chain now; try again."


class BadSignature(DomainError):
    code = "bad_signature"
    default_message = "Not a valid signature of this Safe transaction's hash."


class NotAnOwner(DomainError):
    code = "not_an_owner"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "The signature recovers to an address that is not an owner of the Safe."


class DuplicateSignature(Conflict):
    code = "duplicate_signature"
    default_message = "This owner has already signed this Safe transaction."


class SafeTxClosed(Conflict):
    code = "safe_tx_closed"
    default_message = "This Safe transaction no longer takes signatures."


class SafeTxNotReady(Conflict):
    code = "safe_tx_not_ready"
    default_message = "This Safe transaction cannot be executed now."


class HashMismatch(DomainError):
    code = "safe_tx_hash_mismatch"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "The Safe computes another hash for this transaction: not proposed."


class RefillNotNeeded(Conflict):
    code = "refill_not_needed"
    default_message = "The hot wallet is not below the level a refill would bring it to."
