"""Users, tokens, the double-entry ledger and online payments.

All amounts are integers in ledger units (see fastpay/money.py). Postings are append-only:
no code path updates or deletes one, and a database trigger refuses it (migration 0002).
"""

import uuid

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from wallets.usernames import username_skeleton


class UserRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    VENDOR = "vendor", "Vendor"
    MERCHANT = "merchant", "Merchant"
    STAFF = "staff", "Staff"


class UserStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    SUSPENDED = "suspended", "Suspended"


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=UserRole.choices, default=UserRole.CUSTOMER)
    status = models.CharField(
        max_length=16, choices=UserStatus.choices, default=UserStatus.PENDING, db_index=True
    )
    # Sequence given to this user's next outgoing payment (bumped under this row's lock).
    next_payment_sequence = models.BigIntegerField(default=0)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # wallets.usernames.username_skeleton(username), kept by save(): two usernames a reader
    # could take for each other ("alice", "ALICE", "alice" with a Cyrillic a) cannot both
    # exist. NULL only for rows bulk-inserted without save() (benchmarks).
    username_skeleton = models.TextField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(next_payment_sequence__gte=0), name="user_sequence_non_negative"
            ),
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_unique_ignoring_case",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    @property
    def is_approved(self) -> bool:
        return self.status == UserStatus.APPROVED and self.is_active

    def clean(self):
        super().clean()
        self.username_skeleton = username_skeleton(self.username)
        clash = User.objects.filter(username_skeleton=self.username_skeleton).exclude(pk=self.pk)
        if clash.exists():
            raise ValidationError({"username": "This username looks like an existing one."})

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "username" in update_fields:
            self.username_skeleton = username_skeleton(self.username)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "username_skeleton"}
        super().save(*args, **kwargs)


class Token(models.Model):
    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=64)
    chain_id = models.PositiveBigIntegerField()
    contract_address = models.CharField(max_length=42)
    decimals = models.PositiveSmallIntegerField(help_text="On-chain decimals of the ERC-20.")
    ledger_decimals = models.PositiveSmallIntegerField(
        default=6, help_text="Decimals kept by the ledger: 1 token = 10**ledger_decimals units."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ledger_decimals__lte=F("decimals")), name="token_ledger_decimals_lte"
            ),
            models.CheckConstraint(
                condition=Q(ledger_decimals__lte=12), name="token_ledger_decimals_fit_64_bits"
            ),
            models.UniqueConstraint(
                fields=["chain_id", "contract_address"], name="token_unique_contract"
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class AccountKind(models.TextChoices):
    AVAILABLE = "available", "Available"
    HELD = "held", "Held"
    # a payer's online money held as collateral for their outstanding offline vouchers
    # (offline.services.vouchers): a cover of a voucher is recovered from it first
    COLLATERAL = "collateral", "Offline collateral"
    # a user's money reserved for their open withdrawals (settlement.services.withdrawals):
    # equals the sum of amount + fee of their withdrawals not yet completed, cancelled or failed
    WITHDRAWING = "withdrawing", "Pending withdrawal"
    CUSTODY = "custody", "Custody"
    FEES = "fees", "Fees"
    ESCROW = "escrow", "Escrow"
    CLEARING = "clearing", "Clearing"
    # what users owe the platform (negative: the sum of open claims, e.g. an offline cover)
    RECEIVABLE = "receivable", "Receivable (claims on users)"
    # claims the platform gave up on (its losses), positive
    WRITE_OFF = "write_off", "Claims written off"
    # money received for invoices not settled yet (merchants.invoices): equals the sum of
    # the open invoices' confirmed receipts
    INVOICE = "invoice", "Invoices awaiting settlement"


USER_KINDS = (
    AccountKind.AVAILABLE,
    AccountKind.HELD,
    AccountKind.COLLATERAL,
    AccountKind.WITHDRAWING,
)
SYSTEM_KINDS = (
    AccountKind.CUSTODY,
    AccountKind.FEES,
    AccountKind.ESCROW,
    AccountKind.CLEARING,
    AccountKind.RECEIVABLE,
    AccountKind.WRITE_OFF,
    AccountKind.INVOICE,
)


class LedgerAccount(models.Model):
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="accounts")
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    # Cached sum of this account's postings, in ledger units; written only by ledger_post.
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("adjust_balance", "Can credit or debit balances against custody")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "token", "kind"],
                condition=Q(owner__isnull=False),
                name="account_unique_user_kind",
            ),
            models.UniqueConstraint(
                fields=["token", "kind"],
                condition=Q(owner__isnull=True),
                name="account_unique_system_kind",
            ),
            models.CheckConstraint(
                condition=(Q(owner__isnull=False) & Q(kind__in=USER_KINDS))
                | (Q(owner__isnull=True) & Q(kind__in=SYSTEM_KINDS)),
                name="account_owner_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(balance__gte=0),
                name="account_user_balance_non_negative",
            ),
        ]

    def __str__(self) -> str:
        owner = self.owner.username if self.owner_id else "system"
        return f"{owner}:{self.kind}:{self.token.symbol}"


class EntryKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    HOLD = "hold", "Hold"
    RELEASE = "release", "Release to payee"
    RETURN = "return", "Return to payer"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Operator adjustment"
    OFFLINE_FUND = "offline_fund", "Online to offline"
    OFFLINE_DEFUND = "offline_defund", "Offline to online"
    OFFLINE_COVER = "offline_cover", "Offline voucher covered by the platform"
    CLAIM_RECOVERY = "claim_recovery", "Claim recovered from a user"
    CLAIM_WRITE_OFF = "claim_write_off", "Claim written off"
    OFFLINE_HOLD = "offline_hold", "Collateral held for an offline voucher"
    OFFLINE_RELEASE = "offline_release", "Collateral released (voucher closed)"
    DEPOSIT = "deposit", "On-chain deposit credited"
    DEPOSIT_REVERSAL = "deposit_reversal", "Deposit reversed by a deep reorg"
    CHAIN_FEE = "chain_fee", "Gas paid by the platform"
    ESCROW_HOLD = "escrow_hold", "Escrow: amount reserved"
    ESCROW_POST = "escrow_post", "Escrow: paid to the payee"
    ESCROW_VOID = "escrow_void", "Escrow: returned to the payer"
    WITHDRAWAL_HOLD = "withdrawal_hold", "Withdrawal reserved (available to pending)"
    WITHDRAWAL_VOID = "withdrawal_void", "Withdrawal released (pending to available)"
    WITHDRAWAL = "withdrawal", "Withdrawal paid on-chain (pending to custody)"
    INVOICE_RECEIPT = "invoice_receipt", "Invoice: payment received"
    INVOICE_SETTLE = "invoice_settle", "Invoice: settled to the merchant (and splits, fees)"
    INVOICE_RETURN = "invoice_return", "Invoice: returned or credited to the customer"


class JournalEntry(models.Model):
    """One business event; its postings sum to zero per token."""

    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    reference = models.CharField(max_length=64, db_index=True, help_text="e.g. payment id")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    memo = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.reference}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Signed, ledger units: + credit, - debit.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["account", "id"], name="posting_account_id")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_non_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.amount:+d}"


class PaymentState(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    FLAGGED = "flagged", "Flagged for review"


class Payment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payments_sent")
    payee = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payments_received")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="payments")
    amount = models.BigIntegerField(help_text="Ledger units.")
    refunded_amount = models.BigIntegerField(default=0, help_text="Ledger units.")
    state = models.CharField(
        max_length=16, choices=PaymentState.choices, default=PaymentState.PENDING, db_index=True
    )
    sequence = models.BigIntegerField(help_text="The payer's n-th payment, from 0.")
    # NULL, not "", when absent: the unique constraint applies only to given keys.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    description = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    # the platform's fee (wallets.splits.fee under the payee's MerchantFee), credited to
    # FEES in the payment's entry: the payee(s) receive amount - fee
    fee = models.BigIntegerField(default=0, help_text="Ledger units.")
    # a split payment's parts, [{"payee_id", "payee", "units"}] summing to amount - fee
    # (wallets.splits.split); empty for a payment to one payee
    splits = models.JSONField(default=list, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100")
    risk_reasons = models.JSONField(default=list, blank=True)
    review_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_payment", "Can hold, approve and reject payments")]
        indexes = [
            models.Index(fields=["payer", "-created_at"], name="payment_payer_created"),
            models.Index(fields=["payee", "-created_at"], name="payment_payee_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(fee__lte=F("amount")), name="payment_fee_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount=0) | Q(state=PaymentState.SUCCESS),
                name="payment_refund_only_success",
            ),
            models.CheckConstraint(condition=~Q(payer=F("payee")), name="payment_payer_not_payee"),
            models.UniqueConstraint(fields=["payer", "sequence"], name="payment_unique_sequence"),
            models.UniqueConstraint(
                fields=["payer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payment_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.state}"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField(help_text="Ledger units.")
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    entry = models.OneToOneField(JournalEntry, on_delete=models.PROTECT, related_name="refund")
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["payment", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="refund_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.id} of {self.payment_id}"


class LedgerCheckRun(models.Model):
    """Result of one ledger_check; the newest row feeds the drift gauge."""

    drift_count = models.PositiveIntegerField()
    details = models.JSONField(default=list)
    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"{self.ran_at:%Y-%m-%d %H:%M} drift={self.drift_count}"


#: a claim with something still owed (neither recovered nor written off in full)
CLAIM_OPEN = Q(recovered__lt=models.F("amount") - models.F("written_off"))


class Claim(models.Model):
    """Money a user owes the platform, e.g. an offline payment the platform paid the vendor
    for after the payer took the voucher back early. Opened against the RECEIVABLE system
    account and recovered from the user's AVAILABLE balance as it allows; ``ledger_check``
    keeps RECEIVABLE equal to minus the outstanding claims, per token."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="claims")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units owed.")
    recovered = models.BigIntegerField(default=0, help_text="Ledger units recovered so far.")
    written_off = models.BigIntegerField(default=0, help_text="Ledger units given up on.")
    written_off_reason = models.CharField(max_length=255, blank=True)
    reference = models.CharField(
        max_length=64, unique=True, help_text="What it is for, e.g. redemption:<id> (once)."
    )
    memo = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="claim_amount_positive"),
            models.CheckConstraint(
                condition=Q(recovered__gte=0)
                & Q(written_off__gte=0)
                & Q(recovered__lte=models.F("amount") - models.F("written_off")),
                name="claim_recovered_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "token"], condition=CLAIM_OPEN, name="claim_open_by_user")
        ]

    def __str__(self) -> str:
        return f"claim {self.reference} on {self.user}: {self.outstanding} of {self.amount}"

    @property
    def outstanding(self) -> int:
        return self.amount - self.recovered - self.written_off


# the chain side (wallets/chain/models.py): registered under this app
from wallets.chain.models import *  # noqa: E402, F403

# escrow holds (wallets/escrow/models.py): registered under this app
from wallets.escrow.models import *  # noqa: E402, F403


class MerchantFee(models.Model):
    """The platform's fee on what one merchant (or vendor) receives in one token:
    ``max(minimum, ceil(amount * bps / 10000) + fixed)`` ledger units (wallets.splits.fee),
    credited to FEES in the same entry as the payment or invoice it is charged on. No row:
    no fee."""

    merchant = models.ForeignKey(User, on_delete=models.PROTECT, related_name="fees")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    bps = models.PositiveIntegerField(default=0, help_text="Basis points of the amount.")
    fixed = models.BigIntegerField(default=0, help_text="Ledger units per payment.")
    minimum = models.BigIntegerField(default=0, help_text="Ledger units.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "token"], name="merchant_fee_unique"),
            models.CheckConstraint(condition=Q(bps__lte=10_000), name="merchant_fee_bps"),
            models.CheckConstraint(
                condition=Q(fixed__gte=0) & Q(minimum__gte=0), name="merchant_fee_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.token_id} {self.bps} bps + {self.fixed}"

    @property
    def schedule(self):
        from wallets.splits import FeeSchedule

        return FeeSchedule(bps=self.bps, fixed=self.fixed, minimum=self.minimum)
