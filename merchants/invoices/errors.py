"""Invoice errors (rendered by fastpay.errors' one handler; codes in docs/api.md)."""

from rest_framework import status

from fastpay.errors import DomainError


class InvoiceError(DomainError):
    status_code = status.HTTP_409_CONFLICT


class InvoiceExpired(InvoiceError):
    code = "invoice_expired"
    default_message = "This invoice has expired; ask the merchant for a new one."


class InvoicePaid(InvoiceError):
    code = "invoice_paid"
    default_message = "This invoice is already paid."


class InvoiceInvalid(InvoiceError):
    code = "invoice_invalid"
    default_message = "This invoice was cancelled or invalidated."


class InvoiceNotCancellable(InvoiceError):
    code = "invoice_not_cancellable"
    default_message = "Only a new invoice that received nothing can be cancelled."


class NotAMerchant(DomainError):
    code = "not_a_merchant"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "Only approved merchant and vendor accounts can issue invoices."
