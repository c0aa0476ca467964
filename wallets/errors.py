"""The wallets app's domain errors; codes are part of the API (docs/api.md)."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_message = "The balance does not cover this amount."


class AccountNotApproved(DomainError):
    code = "account_not_approved"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "This account is not approved to move money."


class TokenDisabled(DomainError):
    code = "token_disabled"
    default_message = "This token is disabled."


class UnknownToken(DomainError):
    code = "unknown_token"
    default_message = "No such token."


class UnknownPayee(DomainError):
    code = "unknown_payee"
    default_message = "No such payee."


class SelfPayment(DomainError):
    code = "self_payment"
    default_message = "A payment needs two different users."


class NotPayee(DomainError):
    code = "not_payee"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Only the payee can refund a payment."


class StaffPayee(DomainError):
    code = "staff_payee"
    default_message = "Staff accounts cannot receive payments."


class InvalidStateTransition(Conflict):
    code = "invalid_state"


class RefundExceedsPayment(DomainError):
    code = "refund_exceeds_payment"
    default_message = "The refund is larger than what is left to refund."


class PaymentBlocked(DomainError):
    code = "payment_blocked"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "The payment was blocked by risk controls."


class LedgerImbalance(Exception):
    """A programming error: postings that do not sum to zero per token."""


class WeakPassword(DomainError):
    code = "weak_password"


class UsernameTaken(Conflict):
    code = "username_taken"
    default_message = "This username is taken."


class ReasonRequired(DomainError):
    code = "reason_required"
    default_message = "Say why: adjustments need a reason."


class NotAnOperator(DomainError):
    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Only operators may adjust balances."


class ClaimClosed(Conflict):
    code = "claim_closed"
    default_message = "Nothing is owed on this claim any more."


class FeeTooLarge(DomainError):
    """The platform's fee under the payee's MerchantFee would exceed what it is charged on
    (docs/splits.md): refused, never a negative payout."""

    code = "fee_exceeds_amount"
    default_message = "The platform's fee on this amount is larger than the amount."

    def __init__(self, message: str | None = None, *, param: str | None = "amount", code=None):
        super().__init__(message, param=param, code=code)


class InvalidSplit(DomainError):
    """A split payment's parts cannot share its amount (docs/splits.md); ``param`` names
    the part (``splits[2].bps``) or ``splits`` for the parts together."""

    code = "invalid_split"
    default_message = "These parts do not share the amount exactly."
