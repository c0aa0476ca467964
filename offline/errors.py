"""Domain errors of the offline app (rendered as {"error": {"code", "message", "param"}})."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class OfflineSuspended(DomainError):
    code = "offline_suspended"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Offline payments are suspended for this account."


class InvalidVoucher(DomainError):
    code = "invalid_voucher"


class VoucherNotFresh(Conflict):
    code = "voucher_not_fresh"
    default_message = "The voucher address is not a fresh, funded account at the committee."


class VoucherConflict(Conflict):
    code = "voucher_conflict"
    default_message = "This voucher address is registered with another certificate."


class LimitExceeded(Conflict):
    """``code`` names the limit: limit_per_voucher, limit_outstanding, limit_per_day."""

    code = "limit_exceeded"


class NotAVendor(DomainError):
    code = "not_a_vendor"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Only vendors and merchants redeem offline payments."


class WrongState(Conflict):
    code = "wrong_state"
