"""The merchants app's domain errors (rendered by fastpay.errors' one handler)."""

from rest_framework import status

from fastpay.errors import DomainError


class UnknownCurrency(DomainError):
    code = "unknown_currency"
    default_message = "This currency is not priced here."


class RatesUnavailableError(DomainError):
    code = "rates_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "No trustworthy exchange rate right now; retry later."


class PegPaused(DomainError):
    """A stablecoin is off its peg: nothing is priced in fiat with it until it recovers."""

    code = "peg_paused"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class RateMoved(DomainError):
    """The rate moved further from the locked one than the merchant's slippage tolerance."""

    code = "rate_moved"
    status_code = status.HTTP_409_CONFLICT
