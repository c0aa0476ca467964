"""The platform's view of the authority committee and equivocation evidence. (The moves
between a user's online balance and their FastPay account live in offline.models.)

Stakes are wei of the chain's native coin: they do not fit 64 bits, so they are kept as
decimal text and handled as Python ints (SQLite would round a large DECIMAL).
"""

from django.core.validators import RegexValidator
from django.db import models

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
    SUBMITTING = "submitting", "Being submitted"
    SUBMITTED = "submitted", "Submitted on-chain"
    ALREADY_SLASHED = "already_slashed", "Already slashed on-chain"
    FAILED = "failed", "Submission failed"


class EquivocationEvidence(models.Model):
    """Two different votes by one authority for the same (sender, sequence), in one epoch
    or two; ``epoch`` is the first order's. Once per (authority, sender, sequence)."""

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
                fields=["authority", "sender", "sequence"], name="evidence_unique_sequence"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.authority} equivocated on {self.sender}#{self.sequence}"


class ConflictingCertificate(models.Model):
    """An authority applied a DIFFERENT payment's certificate at a (sender, sequence) the
    platform confirmed (409 ``conflicting_certificate``): two valid certificates for one
    sequence, which needs more than f faulty members of some committee. Recorded once per
    (authority, sender, sequence), with both certificates, for the operators (alert,
    admin list, outbox event ``authority.conflicting_certificate``); nothing is credited
    on top of it."""

    authority = models.CharField(max_length=42, validators=[address_validator])
    sender = models.CharField(max_length=42, validators=[address_validator])
    sequence = models.PositiveBigIntegerField()
    applied_epoch = models.PositiveBigIntegerField(help_text="Epoch of the applied order")
    submitted_epoch = models.PositiveBigIntegerField(help_text="Epoch of the platform's order")
    applied_certificate = models.JSONField(help_text="What the authority applied")
    submitted_certificate = models.JSONField(help_text="What the platform confirmed")
    found_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-found_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["authority", "sender", "sequence"], name="conflict_unique_sequence"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.authority} applied another payment at {self.sender}#{self.sequence}"
