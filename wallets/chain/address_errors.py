"""Errors of the deposit addresses (wallets/chain/addresses.py); their codes are part of the
API (docs/api.md, "Deposit addresses")."""

from rest_framework import status

from fastpay.errors import DomainError


class UnknownChain(DomainError):
    code = "unknown_chain"
    default_message = "No such chain (or it is not enabled)."


class DepositsUnavailable(DomainError):
    """The platform's HD keys are not set up (manage.py wallet_init not run): the operator's
    problem, not the client's, and temporary: 503, retry later."""

    code = "deposits_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "Deposits are not available yet; try again later."
