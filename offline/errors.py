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


class NoFastPayAccount(DomainError):
    code = "no_fastpay_account"
    default_message = "Link a FastPay address first (POST /api/v1/offline/account/)."


class InvalidLink(DomainError):
    code = "invalid_signature"


class AddressTaken(Conflict):
    code = "address_taken"
    default_message = "This FastPay address is linked to another user."


class InvalidCertificate(DomainError):
    """A certificate handed in to defund that the platform does not accept (malformed, not
    a quorum, not from the user's address to the platform's)."""

    code = "invalid_certificate"


class PlatformNotConfigured(DomainError):
    code = "offline_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "Offline payments are not configured on this platform."


class CollateralInsufficient(DomainError):
    """The payer's online AVAILABLE balance does not cover the collateral a voucher needs
    (docs/offline.md, "Limits")."""

    code = "collateral_insufficient"
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_message = "Your online balance does not cover this voucher's collateral."


class EpochEnding(Conflict):
    """The voucher's committee epoch closes too soon for a voucher issued now to settle in
    it (its successor is announced): issue it in the next epoch."""

    code = "epoch_ending"


class FundingPaused(DomainError):
    """No platform FastPay account may reserve a sequence now: each is paused (its
    database sequence is behind the committee's) or blocked by a FUND an operator must
    retry or void (docs/offline.md, "Moving money between online and offline")."""

    code = "funding_paused"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "Funding is paused on this platform; try again later."


class VoidRefused(Conflict):
    """A FUND that cannot be voided by replacement now; the message says why."""

    code = "void_refused"
