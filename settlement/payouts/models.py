"""Merchant payouts (docs/withdrawals.md, "Merchant payouts").

A payout pays a merchant's whole AVAILABLE balance of a token to one of its allow-listed
addresses. It lists the postings it pays out (``PayoutLine``): every posting of the
merchant's AVAILABLE account after the previous payout's own hold posting, so the lines
sum to the balance at the cut-off (``gross_units``); ``fee_units`` of it is the fee and
``amount_units`` what is sent. A posting is paid out once (unique).

Money: the gross is reserved at creation (AVAILABLE -> WITHDRAWING, as withdrawals), then
PAID moves it to CUSTODY (the amount) and FEES (the fee), FAILED back to AVAILABLE.

States: PENDING (reserved, waiting for a batch) -> IN_PROGRESS (its batch's transaction
signed) -> PAID | FAILED. Many payouts due at once share one PayoutBatch: one
BatchTransfer.batchTransfer call through the sender (purpose PAYOUT).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from wallets.chain.models import ADDRESS_TEXT, UINT_TEXT


class PayoutInterval(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    THRESHOLD = "threshold", "When the balance reaches a threshold"


class PayoutSchedule(models.Model):
    """When a merchant is paid out in one token, and where to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_schedules"
    )
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey(
        "settlement.AllowedAddress",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="One of the merchant's allowed withdrawal addresses.",
    )
    interval = models.CharField(max_length=16, choices=PayoutInterval.choices)
    hour_utc = models.PositiveSmallIntegerField(
        default=0, help_text="Daily/weekly: from this hour."
    )
    weekday = models.PositiveSmallIntegerField(default=0, help_text="Weekly: 0 Monday .. 6 Sunday.")
    threshold_units = models.BigIntegerField(
        default=0, help_text="Threshold: pay out once the balance reaches it (ledger units)."
    )
    minimum_units = models.BigIntegerField(
        default=1, help_text="No payout for less than this (sent amount, ledger units)."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="payout_schedule_one_per_token"),
            models.CheckConstraint(
                condition=Q(minimum_units__gte=1), name="pschedule_min_positive"
            ),
            models.CheckConstraint(condition=Q(hour_utc__lte=23), name="pschedule_hour"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="pschedule_weekday"),
            models.CheckConstraint(
                condition=~Q(interval="threshold") | Q(threshold_units__gte=1),
                name="pschedule_threshold_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"payout schedule of {self.user_id} in {self.token_id} ({self.interval})"


class PayoutState(models.TextChoices):
    PENDING = "pending", "Pending (reserved, waiting for a batch)"
    IN_PROGRESS = "in_progress", "In progress (batch transaction signed)"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed (money returned)"


PAYOUT_OPEN = (PayoutState.PENDING, PayoutState.IN_PROGRESS)


class PayoutBatch(models.Model):
    """One BatchTransfer call paying many payouts of one token from the hot wallet."""

    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    contract_address = models.CharField(max_length=42)
    tx = models.OneToOneField(
        "wallets.OutgoingTransaction", on_delete=models.PROTECT, related_name="payout_batch"
    )
    total_onchain = models.CharField(max_length=78)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "payout batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(contract_address__regex=ADDRESS_TEXT), name="pbatch_contract_address"
            ),
            models.CheckConstraint(
                condition=Q(total_onchain__regex=UINT_TEXT), name="pbatch_total_uint"
            ),
        ]

    def __str__(self) -> str:
        return f"payout batch {self.pk}"


class Payout(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    schedule = models.ForeignKey(
        PayoutSchedule, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    # "daily:2026-12-02", "weekly:2026-W49", "threshold:<posting id>" or "demand:<key>"
    period = models.CharField(max_length=96)
    destination = models.CharField(max_length=42)
    gross_units = models.BigIntegerField(help_text="Sum of the postings paid out.")
    fee_units = models.BigIntegerField(default=0)
    amount_units = models.BigIntegerField(help_text="Sent: gross - fee.")
    account = models.ForeignKey("wallets.LedgerAccount", on_delete=models.PROTECT, related_name="+")
    cutoff_posting_id = models.BigIntegerField(help_text="The last posting paid out.")
    after_posting_id = models.BigIntegerField(
        default=0, help_text="The previous payout's hold posting (0: the first payout)."
    )
    state = models.CharField(
        max_length=16, choices=PayoutState.choices, default=PayoutState.PENDING, db_index=True
    )
    batch = models.ForeignKey(
        PayoutBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    amount_onchain = models.CharField(max_length=78, blank=True)
    waiting_reason = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    hold_entry = models.OneToOneField(
        "wallets.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    final_entry = models.OneToOneField(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="payout_user_created")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_units__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(fee_units__gte=0), name="payout_fee_non_negative"),
            models.CheckConstraint(
                condition=Q(gross_units=F("amount_units") + F("fee_units")),
                name="payout_gross_is_amount_plus_fee",
            ),
            models.CheckConstraint(
                condition=Q(destination__regex=ADDRESS_TEXT), name="payout_destination_address"
            ),
            models.CheckConstraint(
                condition=Q(cutoff_posting_id__gt=F("after_posting_id")),
                name="payout_cutoff_after_start",
            ),
            # two payouts never start from the same point of an account: no double payout
            models.UniqueConstraint(
                fields=["account", "after_posting_id"], name="payout_one_per_start"
            ),
            models.UniqueConstraint(
                fields=["user", "token", "period"], name="payout_one_per_period"
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payout_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("in_progress", "paid"))
                | (Q(batch__isnull=False) & Q(amount_onchain__regex=UINT_TEXT)),
                name="payout_paid_has_batch",
            ),
            models.CheckConstraint(
                condition=Q(state__in=("paid", "failed"), final_entry__isnull=False)
                | Q(state__in=("pending", "in_progress"), final_entry__isnull=True),
                name="payout_closed_has_final_entry",
            ),
            models.CheckConstraint(
                condition=~Q(state="failed") | ~Q(failure_code=""), name="payout_failed_has_code"
            ),
        ]

    def __str__(self) -> str:
        return f"payout {self.id} {self.state}"


class PayoutLine(models.Model):
    """One posting of the merchant's AVAILABLE account paid out by a payout."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="lines")
    posting = models.OneToOneField(
        "wallets.Posting", on_delete=models.PROTECT, related_name="payout_line"
    )
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["posting_id"]

    def __str__(self) -> str:
        return f"{self.payout_id}: posting {self.posting_id} {self.amount:+d}"
