"""Exchange rates and the stablecoin peg (merchants/rates, docs/rates.md)."""

import uuid

from django.db import models
from django.db.models import F, Q

#: a positive decimal as text (exact on SQLite and PostgreSQL alike)
DECIMAL_TEXT = r"^[0-9]{1,13}(\.[0-9]{1,18})?$"


class RateSnapshot(models.Model):
    """One computed rate: 1 ``base`` = ``rate`` ``quote``, with the quotes it came from.
    An invoice priced in fiat keeps the snapshot it was locked at."""

    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    rate = models.CharField(max_length=40, help_text="Decimal text, exact.")
    sources = models.JSONField(default=list, help_text="[{provider, rate, at}] used")
    dropped = models.JSONField(default=list, help_text="[{provider, reason}] not used")
    computed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["base", "quote", "-computed_at"], name="rate_latest")]
        constraints = [
            models.CheckConstraint(condition=Q(rate__regex=DECIMAL_TEXT), name="rate_decimal_text")
        ]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote}"


class PegState(models.TextChoices):
    OK = "ok", "On its peg"
    PAUSED = "paused", "Off its peg: fiat pricing paused"


class PegStatus(models.Model):
    """A stablecoin against USD, as the last peg check saw it."""

    token = models.CharField(max_length=16, unique=True)
    state = models.CharField(max_length=16, choices=PegState.choices, default=PegState.OK)
    rate = models.CharField(max_length=40, blank=True)
    deviation_bps = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "peg statuses"

    def __str__(self) -> str:
        return f"{self.token} {self.state}"


# ---------------------------------------------------------------- invoices (docs/invoices.md)


class InvoiceStatus(models.TextChoices):
    NEW = "new", "New (waiting for payment)"
    PROCESSING = "processing", "Processing (paid, waiting for confirmations)"
    SETTLED = "settled", "Settled (final: the merchant is credited)"
    EXPIRED = "expired", "Expired"
    INVALID = "invalid", "Invalid (cancelled, or a payment reversed)"


#: statuses an invoice can still receive money in (EXPIRED: late payments, by policy)
OPEN_STATUSES = (InvoiceStatus.NEW, InvoiceStatus.PROCESSING)


class InvoiceException(models.TextChoices):
    NONE = "", "None"
    PAID_PARTIAL = "paid_partial", "Paid partially"
    PAID_OVER = "paid_over", "Paid over the amount"
    PAID_LATE = "paid_late", "Paid after expiry"


class ExceptionPolicy(models.TextChoices):
    """What to do with the difference an additional status leaves (docs/invoices.md)."""

    ACCEPT = "accept", "Accept within the tolerance (the merchant keeps or absorbs it)"
    CREDIT = "credit", "Credit the difference to the customer's FastPay balance"
    REFUND = "refund", "Refund the difference to where it came from"


class InvoicePolicy(models.Model):
    """A merchant's invoice defaults and exception policies; copied onto each invoice at
    creation, so a later change never alters an open invoice. No row: the defaults."""

    merchant = models.OneToOneField(
        "wallets.User", on_delete=models.PROTECT, related_name="invoice_policy"
    )
    expiry_s = models.PositiveIntegerField(default=900)
    monitoring_s = models.PositiveIntegerField(default=3600, help_text="Late payments window.")
    confirmations = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="On-chain depth; empty: the token's default."
    )
    partial = models.CharField(
        max_length=8, choices=ExceptionPolicy.choices, default=ExceptionPolicy.CREDIT
    )
    partial_tolerance_bps = models.PositiveIntegerField(default=0)
    over = models.CharField(
        max_length=8, choices=ExceptionPolicy.choices, default=ExceptionPolicy.CREDIT
    )
    over_tolerance_bps = models.PositiveIntegerField(default=0)
    late = models.CharField(
        max_length=8, choices=ExceptionPolicy.choices, default=ExceptionPolicy.ACCEPT
    )
    slippage_bps = models.PositiveIntegerField(
        default=100, help_text="Fiat invoices: how far the rate may move before payment."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "invoice policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(partial_tolerance_bps__lte=10_000)
                & Q(over_tolerance_bps__lte=10_000)
                & Q(slippage_bps__lte=10_000),
                name="invoice_policy_bps",
            ),
            models.CheckConstraint(
                condition=Q(expiry_s__gte=60) & Q(expiry_s__lte=30 * 86400),
                name="invoice_policy_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"invoice policy of {self.merchant_id}"


class Invoice(models.Model):
    """A merchant's request for ``amount`` ledger units of ``token`` (priced in the token
    or in fiat at a rate locked for the invoice's life); paid on-chain to its own address,
    from a FastPay balance or with an offline voucher (merchants.invoices)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey("wallets.User", on_delete=models.PROTECT, related_name="invoices")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units due.")
    # fiat pricing: amount = ceil(fiat_amount / rate) in ledger units, rate locked here
    currency = models.CharField(max_length=8, blank=True, help_text="Fiat code, or empty.")
    fiat_amount = models.CharField(max_length=40, blank=True, help_text="Decimal text.")
    rate = models.CharField(max_length=40, blank=True, help_text="1 token = rate currency.")
    rate_sources = models.JSONField(default=list, blank=True, help_text="[{provider, rate, at}]")
    rate_at = models.DateTimeField(null=True, blank=True, help_text="When the rate was computed.")
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.NEW, db_index=True
    )
    exception = models.CharField(
        max_length=16, choices=InvoiceException.choices, default="", blank=True
    )
    # booked into the INVOICE account (confirmed receipts, all paths), in ledger units
    received = models.BigIntegerField(default=0)
    # seen on-chain, not confirmed yet (not in the ledger)
    pending = models.BigIntegerField(default=0)
    # at settlement: what the merchant's side got (before fee), the fee, what went back
    settled_amount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    returned = models.BigIntegerField(default=0, help_text="Credited or refunded back.")
    refund_due = models.BigIntegerField(
        default=0, help_text="Returned to the merchant to refund on-chain by hand."
    )
    splits = models.JSONField(default=list, blank=True, help_text="Requested parts.")
    parts = models.JSONField(default=list, blank=True, help_text="Settled parts.")
    # the policy in force (copied from the merchant's InvoicePolicy)
    partial_policy = models.CharField(max_length=8, choices=ExceptionPolicy.choices)
    partial_tolerance_bps = models.PositiveIntegerField(default=0)
    over_policy = models.CharField(max_length=8, choices=ExceptionPolicy.choices)
    over_tolerance_bps = models.PositiveIntegerField(default=0)
    late_policy = models.CharField(max_length=8, choices=ExceptionPolicy.choices)
    slippage_bps = models.PositiveIntegerField(default=100)
    confirmations = models.PositiveSmallIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    monitoring_until = models.DateTimeField()
    order_id = models.CharField(max_length=128, blank=True, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    redirect_url = models.URLField(max_length=500, blank=True)
    customer = models.ForeignKey(
        "wallets.User",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices_to_pay",
        help_text="The buyer, when known: credits of the difference go to them.",
    )
    address = models.OneToOneField(
        "wallets.DepositAddress",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice",
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    settle_entry = models.ForeignKey(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="invoice_merchant_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
            models.CheckConstraint(
                condition=Q(received__gte=0)
                & Q(pending__gte=0)
                & Q(fee__gte=0)
                & Q(returned__gte=0)
                & Q(refund_due__gte=0)
                & Q(settled_amount__gte=0),
                name="invoice_sums_non_negative",
            ),
            # what left the INVOICE account never exceeds what came in
            models.CheckConstraint(
                condition=Q(settled_amount__lte=F("received") - F("returned")),
                name="invoice_settled_within_received",
            ),
            models.CheckConstraint(
                condition=Q(fee__lte=F("settled_amount")), name="invoice_fee_within_settled"
            ),
            models.CheckConstraint(
                condition=~Q(status="settled") | Q(settle_entry__isnull=False),
                name="invoice_settled_has_entry",
            ),
            models.CheckConstraint(
                condition=Q(currency="") | (Q(fiat_amount__regex=DECIMAL_TEXT) & ~Q(rate="")),
                name="invoice_fiat_has_rate",
            ),
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="invoice_idempotency_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"invoice {self.id} {self.status}"

    @property
    def due(self) -> int:
        """Units still to pay (0 once covered)."""
        return max(0, self.amount - self.received - self.pending)


class ReceiptMethod(models.TextChoices):
    CHAIN = "chain", "On-chain to the invoice's address"
    BALANCE = "balance", "From a FastPay balance"
    VOUCHER = "voucher", "Offline voucher at a terminal"


class InvoiceReceipt(models.Model):
    """Money booked for an invoice (source -> INVOICE in ``entry``); ``reference`` names
    the path's own record (deposit:<id>, payer:<user id>:<key>, redemption:<id>) and is
    unique: a path cannot book the same money twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="receipts")
    method = models.CharField(max_length=8, choices=ReceiptMethod.choices)
    reference = models.CharField(max_length=128, unique=True)
    amount = models.BigIntegerField(help_text="Ledger units.")
    payer = models.ForeignKey(
        "wallets.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    late = models.BooleanField(default=False)
    entry = models.ForeignKey("wallets.JournalEntry", on_delete=models.PROTECT, related_name="+")
    # what happened to it when the invoice closed: "" (kept by the invoice), or returned
    returned = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="receipt_amount_positive"),
            models.CheckConstraint(
                condition=Q(returned__gte=0) & Q(returned__lte=F("amount")),
                name="receipt_returned_within",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} for {self.invoice_id}"
