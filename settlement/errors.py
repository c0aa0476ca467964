"""The settlement app's domain errors; codes are part of the API (docs/withdrawals.md)."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class InvalidAddress(DomainError):
    code = "invalid_address"
    default_message = "Not an address: 0x followed by 40 hexadecimal digits."


class InvalidChecksum(DomainError):
    code = "invalid_checksum"
    default_message = "The address's EIP-55 checksum (its mix of upper and lower case) is wrong."


class ZeroAddress(DomainError):
    code = "zero_address"
    default_message = "The zero address burns what it receives."


class OwnAddress(DomainError):
    code = "own_address"
    default_message = "This address belongs to the platform (a deposit address or a contract)."


class SanctionedAddress(DomainError):
    code = "sanctioned_address"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Withdrawals to this address are not allowed."


class DestinationNotAllowed(DomainError):
    code = "destination_not_allowed"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Add this address to your withdrawal addresses first."


class DestinationCoolingDown(DomainError):
    code = "destination_cooling_down"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "This withdrawal address is new: it is usable after its cool-down."


class TokenNotOnChain(DomainError):
    code = "token_not_on_chain"
    default_message = "This token is not on that chain."


class WithdrawalsUnavailable(DomainError):
    code = "withdrawals_unavailable"
    default_message = "Withdrawals of this token are not available."


class AmountTooSmall(DomainError):
    code = "amount_too_small"
    default_message = "The amount is below the minimum withdrawal."


class DailyLimitExceeded(DomainError):
    code = "daily_limit_exceeded"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "This withdrawal would pass your daily limit."


class WithdrawalBlocked(DomainError):
    code = "withdrawal_blocked"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "The withdrawal was blocked by risk controls."


class FeeChanged(Conflict):
    code = "fee_changed"
    default_message = "The fee is not the one quoted; get a new quote."


class InvalidState(Conflict):
    code = "invalid_state"


class StaleRevision(Conflict):
    code = "stale_revision"
    default_message = "The withdrawal changed since you saw it; look at the new revision."


class ApprovalForbidden(DomainError):
    code = "approval_forbidden"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "You may not approve this withdrawal."


class AlreadyApproved(Conflict):
    code = "already_approved"
    default_message = "You already approved this revision; four eyes need another reviewer."


class NoteRequired(DomainError):
    code = "note_required"
    default_message = "Say why: a rejection or a cancellation by staff needs a note."


class AddressAlreadyAllowed(Conflict):
    code = "address_already_allowed"
    default_message = "This address is already on your list."
