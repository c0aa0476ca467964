"""Merchant payouts' domain errors; codes are part of the API (docs/withdrawals.md)."""

from rest_framework import status

from fastpay.errors import Conflict, DomainError


class PayoutsMerchantsOnly(DomainError):
    code = "payouts_merchants_only"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Payouts are for merchant accounts; use a withdrawal."


class NothingToPayOut(DomainError):
    code = "nothing_to_pay_out"
    default_message = "The available balance of this token is zero: nothing to pay out."


class PayoutBelowMinimum(DomainError):
    code = "payout_below_minimum"
    default_message = "The available balance (less the fee) is below the payout minimum."


class NoPayoutDestination(DomainError):
    code = "no_payout_destination"
    default_message = "Give a destination, or set up a payout schedule with one."


class StatementMismatch(Conflict):
    code = "statement_mismatch"
    default_message = "The postings since the last payout do not add up to the balance."
