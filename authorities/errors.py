"""Domain errors of the authorities app (rendered as {"error": {"code", "message", "param"}})."""

from rest_framework import status

from fastpay.errors import DomainError


class CommitteeUnavailable(DomainError):
    """No quorum answered in time, or no committee is configured: retry later; nothing was
    applied. A 503 at the API; tasks retry on it."""

    code = "committee_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class InvalidCommittee(DomainError):
    code = "invalid_committee"


class NotEquivocation(DomainError):
    code = "not_equivocation"
