"""Domain errors of the outgoing-transaction sender and sweeps (docs/deposits.md, "Sending").

Each is a DomainError with a stable code: an admin action or an API built on the sender
shows the code and message, never a traceback."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class SenderError(DomainError):
    code = "chain_sender_error"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "The chain sender cannot do this now."


class NonceCursorMissing(SenderError):
    code = "nonce_cursor_missing"
    default_message = (
        "No nonce cursor for this address: call nonce_cursor_ensure before the transaction."
    )


class SignerUnavailable(SenderError):
    code = "signer_unavailable"
    default_message = "The key for this signer cannot be opened here."


class SignerMismatch(DomainError):
    code = "signer_mismatch"
    default_message = "The signer's key is not the key of the sending address."


class BadTransaction(DomainError):
    code = "bad_transaction"
    default_message = "This transaction cannot be built."


class FeeAboveCap(SenderError):
    code = "fee_above_cap"
    default_message = "The network fee is above the chain's cap: the transaction waits."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This idempotency key was used for another transaction."


class TxNotReplaceable(Conflict):
    code = "tx_not_replaceable"
    default_message = "Only a broadcast transaction not yet mined can be replaced."
