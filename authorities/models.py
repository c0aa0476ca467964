"""The platform's view of the authority committee, equivocation evidence, and the moves
between a user's online balance and their FastPay (offline) account.

Stakes are wei of the chain's native coin: they do not fit 64 bits, so they are kept as
decimal text and handled as Python ints (SQLite would round a large DECIMAL).
"""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

address_validator = RegexValidator(r"^0x[0-9a-fA-F]{40}$", "an 0x-prefixed 20-byte hex address")
digits_validator = RegexValidator(r"^[0-9]{1,78}$", "a non-negative integer")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REMOVED = "removed", "Removed"
    SLASHED = "slashed", "Slashed"


class CommitteeMember(models.Model):
    epoch = models.PositiveBigIntegerField(db_index=True)
    name = models.CharField(max_length=64)
    address = models.CharField(max_length=42, validators=[address_validator])
    stake_wei = models.CharField(max_length=78, validators=[digits_validator])
    url = models.URLField(help_text="Base URL of the node, e.g. http://10.0.0.5:9101")
    status = models.CharField(
        max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    # Health, written by the health check.
    reachable = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    lag = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Sequences behind the most advanced node, platform account"
    )

    class Meta:
        ordering = ["epoch", "name"]
        constraints = [
            models.UniqueConstraint(fields=["epoch", "address"], name="member_unique_per_epoch"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (epoch {self.epoch})"

    @property
    def stake(self) -> int:
        return int(self.stake_wei)


class EvidenceStatus(models.TextChoices):
    NEW = "new", "New"
    SUBMITTED = "submitted", "Submitted on-chain"
    FAILED = "failed", "Submission failed"


class EquivocationEvidence(models.Model):
    """Two different votes by one authority for the same (sender, sequence, epoch)."""

    authority = models.CharField(max_length=42, validators=[address_validator])
    sender = models.CharField(max_length=42, validators=[address_validator])
    sequence = models.PositiveBigIntegerField()
    epoch = models.PositiveBigIntegerField()
    first_order = models.JSONField()
    first_signature = models.CharField(max_length=132)
    second_order = models.JSONField()
    second_signature = models.CharField(max_length=132)
    status = models.CharField(
        max_length=16, choices=EvidenceStatus.choices, default=EvidenceStatus.NEW
    )
    tx_hash = models.CharField(max_length=66, blank=True)
    error = models.TextField(blank=True)
    found_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "equivocation evidence"
        ordering = ["-found_at"]
        permissions = [("submit_evidence", "Can submit equivocation evidence for slashing")]
        constraints = [
            models.UniqueConstraint(
                fields=["authority", "sender", "sequence", "epoch"], name="evidence_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.authority} equivocated on {self.sender}#{self.sequence}"


class FastPayAccount(models.Model):
    """A user's FastPay (offline) account: an address whose key their device holds."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fastpay_account"
    )
    address = models.CharField(max_length=42, unique=True, validators=[address_validator])
    linked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} {self.address}"


class TransferDirection(models.TextChoices):
    FUND = "fund", "Online -> offline"
    DEFUND = "defund", "Offline -> online"


class TransferState(models.TextChoices):
    PENDING = "pending", "Pending (waiting for a certificate)"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OfflineTransfer(models.Model):
    """Money crossing between the online ledger and the committee.

    FUND: the user's AVAILABLE -> CLEARING in the ledger, then the platform's FastPay
    account sends a transfer order (its `sequence`) to the user's address.
    DEFUND: a certificate from the user's address to the platform's address is confirmed,
    then CLEARING -> the user's AVAILABLE. Unique (sender, sequence) credits it once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offline_transfers"
    )
    direction = models.CharField(max_length=8, choices=TransferDirection.choices)
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units.")
    state = models.CharField(
        max_length=16, choices=TransferState.choices, default=TransferState.PENDING, db_index=True
    )
    sender = models.CharField(max_length=42, validators=[address_validator])
    recipient = models.CharField(max_length=42, validators=[address_validator])
    sequence = models.PositiveBigIntegerField(help_text="The sender's FastPay sequence.")
    epoch = models.PositiveBigIntegerField()
    certificate = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offline_amount_positive"),
            models.UniqueConstraint(
                fields=["sender", "sequence"], name="offline_transfer_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="offline_transfer_unique_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.state}"


class PlatformAccount(models.Model):
    """The platform's own FastPay account; its row lock serialises sequence assignment."""

    address = models.CharField(max_length=42, unique=True, validators=[address_validator])
    next_sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.address
