"""Errors of on-chain settlement of redemptions; codes are part of the API
(docs/settlement.md)."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class InvalidRedemption(DomainError):
    code = "invalid_certificate"
    default_message = "Not a valid certificate of a known committee."


class NotARedemption(DomainError):
    code = "not_a_redemption"
    default_message = (
        "Only a certificate whose recipient is the redemption address (the "
        "OfflinePaymentProcessor) settles on-chain."
    )


class TokenNotInVault(DomainError):
    code = "unknown_token"
    default_message = "The vault does not list this token."


class SettlementWindowClosed(Conflict):
    code = "settlement_window_closed"
    default_message = "This certificate's epoch can no longer settle on-chain."


class SequenceTaken(Conflict):
    code = "sequence_taken"
    default_message = "Another certificate is recorded for this sender and sequence."


class SettlementUnavailable(DomainError):
    code = "settlement_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "On-chain settlement is not available now; try again later."
