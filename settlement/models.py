"""Money out: withdrawals to an on-chain address (docs/withdrawals.md).

States, as BTCPay's payouts: AWAITING_APPROVAL -> AWAITING_PAYMENT -> IN_PROGRESS ->
COMPLETED | CANCELLED | FAILED. While a withdrawal is open (the first three states) its
``amount_units + fee_units`` sit in the user's WITHDRAWING ledger account; COMPLETED moves
them to CUSTODY (the amount left the platform's wallet) and FEES (the fee), CANCELLED and
FAILED back to AVAILABLE.

Amounts are ledger units (BigInteger); the on-chain amount (base units of the token, a
uint256 that may not fit in 64 bits) is kept as decimal digits once the payment is built.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from wallets.chain.models import ADDRESS_TEXT, UINT_TEXT

ZERO_ADDRESS = "0x" + "0" * 40


class WithdrawalState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
    IN_PROGRESS = "in_progress", "In progress (transaction signed)"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed (money returned)"


#: the money of a withdrawal in one of these states is reserved (WITHDRAWING)
OPEN_STATES = (
    WithdrawalState.AWAITING_APPROVAL,
    WithdrawalState.AWAITING_PAYMENT,
    WithdrawalState.IN_PROGRESS,
)
CLOSED_STATES = (WithdrawalState.COMPLETED, WithdrawalState.CANCELLED, WithdrawalState.FAILED)


class CancelReason(models.TextChoices):
    USER = "user_cancelled", "Cancelled by the user"
    STAFF = "staff_cancelled", "Cancelled by staff"
    REJECTED = "rejected", "Rejected by a reviewer"


class Withdrawal(models.Model):
    """One user's request to send ``amount_units`` of ``token`` to ``destination``.

    ``revision`` starts at 1 and goes up with every change of amount or destination
    (allowed only while AWAITING_APPROVAL); approvals are for one revision, so a change
    voids them. ``required_approvals`` (0, 1 or 2: four eyes) is decided at request and
    at every revision; ``unlock_at`` is the time-lock: the withdrawal is not paid before.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals"
    )
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    destination = models.CharField(max_length=42, help_text="EIP-55 checksummed address.")
    amount_units = models.BigIntegerField(help_text="Ledger units sent to the destination.")
    fee_units = models.BigIntegerField(default=0, help_text="Ledger units charged as fee.")
    state = models.CharField(
        max_length=20,
        choices=WithdrawalState.choices,
        default=WithdrawalState.AWAITING_APPROVAL,
        db_index=True,
    )
    revision = models.PositiveIntegerField(default=1)
    required_approvals = models.PositiveSmallIntegerField(default=0)
    unlock_at = models.DateTimeField(
        null=True, blank=True, help_text="Time-lock: not paid before (staff may cancel)."
    )
    timelock_s = models.PositiveIntegerField(
        default=0, help_text="Delay applied once approved (seconds; 0: none)."
    )
    # NULL, not "", when absent: the unique constraint applies only to given keys.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    requested = models.JSONField(
        default=dict,
        help_text="The first request (token, amount_units, destination): a replay "
        "of its Idempotency-Key must match it.",
    )
    risk_decision = models.CharField(max_length=8, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100")
    risk_reasons = models.JSONField(default=list, blank=True)
    usage_day = models.DateField(help_text="The UTC day whose daily limit it counts against.")
    # the payment: the ERC-20 transfer the sender signed (wallets.chain.sender), attempt n
    tx = models.OneToOneField(
        "wallets.OutgoingTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawal",
    )
    pay_attempts = models.PositiveSmallIntegerField(default=0)
    amount_onchain = models.CharField(
        max_length=78, blank=True, help_text="Token base units sent (set when paid)."
    )
    waiting_reason = models.CharField(
        max_length=64, blank=True, help_text="Why an approved withdrawal is not paid yet."
    )
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True, help_text="Why it was cancelled, rejected or failed.")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hold_entry = models.OneToOneField(
        "wallets.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    final_entry = models.OneToOneField(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True, help_text="Transaction signed.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("approve_withdrawal", "Can approve, reject and cancel withdrawals"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="withdrawal_user_created"),
            models.Index(
                fields=["state", "unlock_at"],
                condition=Q(state="awaiting_payment"),
                name="withdrawal_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_units__gt=0), name="withdrawal_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(fee_units__gte=0), name="withdrawal_fee_non_negative"
            ),
            models.CheckConstraint(condition=Q(revision__gte=1), name="withdrawal_revision_from_1"),
            models.CheckConstraint(
                condition=Q(required_approvals__lte=2), name="withdrawal_at_most_four_eyes"
            ),
            models.CheckConstraint(
                condition=Q(destination__regex=ADDRESS_TEXT) & ~Q(destination__iexact=ZERO_ADDRESS),
                name="withdrawal_destination_address",
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="withdrawal_unique_idempotency_key",
            ),
            # paid means signed: a transaction exists from IN_PROGRESS on, and only a
            # withdrawal that was never paid (or whose transaction failed) has none
            models.CheckConstraint(
                condition=~Q(state__in=("in_progress", "completed")) | Q(tx__isnull=False),
                name="withdrawal_paid_has_tx",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("in_progress", "completed"))
                | Q(amount_onchain__regex=UINT_TEXT),
                name="withdrawal_paid_has_onchain_amount",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("awaiting_approval", "awaiting_payment"))
                | Q(tx__isnull=True),
                name="withdrawal_unpaid_has_no_tx",
            ),
            # closed <=> its final entry (paid out, or released) and a close time
            models.CheckConstraint(
                condition=(
                    Q(state__in=CLOSED_STATES, final_entry__isnull=False, closed_at__isnull=False)
                    | Q(state__in=OPEN_STATES, final_entry__isnull=True, closed_at__isnull=True)
                ),
                name="withdrawal_closed_has_final_entry",
            ),
            models.CheckConstraint(
                condition=Q(state="cancelled", cancel_reason__in=CancelReason.values)
                | (~Q(state="cancelled") & Q(cancel_reason="")),
                name="withdrawal_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(state="failed") | ~Q(failure_code=""),
                name="withdrawal_failed_has_code",
            ),
            models.CheckConstraint(
                condition=Q(state="awaiting_approval")
                | Q(approved_at__isnull=False)
                | Q(state="cancelled"),
                name="withdrawal_past_approval_is_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.id} {self.state}"

    @property
    def total_units(self) -> int:
        """What is reserved: the amount and the fee."""
        return self.amount_units + self.fee_units


class WithdrawalApproval(models.Model):
    """One staff member's approval of one revision. Four eyes: two rows from two staff for
    the same revision; never the requester (the row carries the requester to check it)."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="approvals")
    revision = models.PositiveIntegerField()
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["withdrawal", "revision", "staff"], name="approval_once_per_staff"
            ),
            models.CheckConstraint(
                condition=~Q(staff=F("requester")), name="approval_not_by_requester"
            ),
        ]

    def __str__(self) -> str:
        return f"approval of {self.withdrawal_id} r{self.revision} by {self.staff_id}"


class WithdrawalPolicy(models.Model):
    """Per-token controls (ledger units; a token without a row uses DEFAULT_POLICY).

    At or above ``approval_above_units`` a withdrawal waits for one staff approval, at or
    above ``four_eyes_above_units`` for two distinct staff, and at or above
    ``timelock_above_units`` it also waits ``timelock_s`` after its approval. A fraud
    assessment that asks for review needs at least one approval whatever the amount.
    ``fee_units`` is charged to the user in the token (0: the platform absorbs the gas).
    """

    token = models.OneToOneField(
        "wallets.Token", on_delete=models.PROTECT, related_name="withdrawal_policy"
    )
    enabled = models.BooleanField(default=True)
    min_amount_units = models.BigIntegerField(default=1)
    fee_units = models.BigIntegerField(default=0)
    daily_limit_units = models.BigIntegerField(help_text="Per user and UTC day.")
    approval_above_units = models.BigIntegerField()
    four_eyes_above_units = models.BigIntegerField()
    timelock_above_units = models.BigIntegerField()
    timelock_s = models.PositiveIntegerField(default=3600)
    merchant_cooldown_s = models.PositiveIntegerField(
        default=86400, help_text="A merchant's new allowed address is usable after this."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "withdrawal policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount_units__gte=1), name="wpolicy_min_positive"
            ),
            models.CheckConstraint(condition=Q(fee_units__gte=0), name="wpolicy_fee_non_negative"),
            models.CheckConstraint(
                condition=Q(daily_limit_units__gte=0), name="wpolicy_limit_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(approval_above_units__gte=0)
                & Q(four_eyes_above_units__gte=F("approval_above_units"))
                & Q(timelock_above_units__gte=F("four_eyes_above_units")),
                name="wpolicy_thresholds_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"withdrawal policy of token {self.token_id}"


class WithdrawalLimit(models.Model):
    """A user's own daily limit for a token, instead of the policy's."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    daily_limit_units = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="wlimit_one_per_user_token"),
            models.CheckConstraint(
                condition=Q(daily_limit_units__gte=0), name="wlimit_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"limit of {self.user_id} in {self.token_id}: {self.daily_limit_units}"


class WithdrawalDayUsage(models.Model):
    """What a user withdrew (open or completed) of a token on one UTC day, against the
    limit that applied when it was last raised. Written under this row's lock; the CHECK
    is the backstop of the daily limit."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    used_units = models.BigIntegerField(default=0)
    limit_units = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token", "day"], name="wusage_one_per_day"),
            models.CheckConstraint(
                condition=Q(used_units__gte=0) & Q(used_units__lte=F("limit_units")),
                name="wusage_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}: {self.used_units}/{self.limit_units}"


class AllowedAddress(models.Model):
    """A merchant's withdrawal destination. A merchant may only withdraw to an address on
    its list whose cool-down is over (``usable_at``); a removed one stays for the record."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawal_addresses"
    )
    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=42)
    label = models.CharField(max_length=64, blank=True)
    usable_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "allowed addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "chain", "address"],
                condition=Q(removed_at__isnull=True),
                name="allowed_address_once",
            ),
            models.CheckConstraint(
                condition=Q(address__regex=ADDRESS_TEXT) & ~Q(address__iexact=ZERO_ADDRESS),
                name="allowed_address_format",
            ),
            models.CheckConstraint(
                condition=Q(usable_at__gte=F("created_at")), name="allowed_address_cooldown"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} of {self.user_id}"


from settlement.batches.models import ChainRedemption, SettlementBatch  # noqa: E402, F401
from settlement.payouts import models as _payouts  # noqa: E402, F401  (merchant payouts)
from settlement.treasury.models import (  # noqa: E402, F401  (hot and cold wallets)
    ColdTransfer,
    HotWalletThreshold,
    SafeSignature,
    SafeTransaction,
)
