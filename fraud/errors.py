"""The fraud app's domain errors; codes are part of the API."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class PaymentsPaused(Conflict):
    code = "payments_paused"
    default_message = "Payments are paused by a circuit breaker; try again later."


class ReviewForbidden(DomainError):
    code = "review_forbidden"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "You may not decide this review."


class NoteRequired(DomainError):
    code = "note_required"
    default_message = "A decision needs a note."


class ReviewClosed(Conflict):
    code = "review_closed"
    default_message = "This review is already closed."


class InvalidThresholds(DomainError):
    code = "invalid_thresholds"
