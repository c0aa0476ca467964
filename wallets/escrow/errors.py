"""Escrow's domain errors (rendered by fastpay.errors' one handler; docs/escrow.md)."""

from rest_framework import status

from fastpay.errors import DomainError


class HoldResolved(DomainError):
    """The hold was already posted, voided or expired (or is disputed): nothing moves."""

    code = "hold_resolved"
    status_code = status.HTTP_409_CONFLICT


class AmountAboveAuthorized(DomainError):
    code = "amount_above_authorized"


class HoldNotYours(DomainError):
    """A party of the hold asked for what only the other party (or staff) may do."""

    code = "hold_not_allowed"
    status_code = status.HTTP_403_FORBIDDEN


class HoldWrongKind(DomainError):
    code = "hold_wrong_kind"


class HoldDeadlineInvalid(DomainError):
    code = "invalid_deadline"
