"""Fraud controls: rule thresholds, assessments, the review queue, circuit breakers, the
audit log and offline double-spend evidence.

Amounts are integers in ledger units (see fastpay/money.py); thresholds are stored in
whole tokens and scaled by each token's ledger_decimals when a rule runs.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.risk import RiskDecision


class VerificationTier(models.IntegerChoices):
    UNVERIFIED = 0, "0 - unverified"
    BASIC = 1, "1 - basic (ID checked)"
    FULL = 2, "2 - full (address and source of funds checked)"


class RiskProfile(models.Model):
    """What the fraud rules know about a user beyond the wallets' User row.

    A user without a profile is treated as VerificationTier.BASIC with no registered
    location (see fraud.rules.History.profile).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="risk_profile",
    )
    verification_tier = models.PositiveSmallIntegerField(
        choices=VerificationTier.choices, default=VerificationTier.BASIC
    )
    # A vendor's registered point of sale: payments to this user are expected near it.
    registered_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    registered_longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    # Set by payer_flag_double_spend: every later payment or redemption is blocked.
    double_spend_flagged_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(registered_latitude__isnull=True, registered_longitude__isnull=True)
                | Q(registered_latitude__isnull=False, registered_longitude__isnull=False),
                name="riskprofile_location_complete",
            ),
            models.CheckConstraint(
                condition=Q(verification_tier__lte=2), name="riskprofile_tier_known"
            ),
        ]

    def __str__(self) -> str:
        return f"risk profile of {self.user_id}"


class RuleConfig(models.Model):
    """Admin-editable thresholds of one rule; code defaults fill any missing key."""

    rule = models.CharField(max_length=32, unique=True)
    enabled = models.BooleanField(default=True)
    params = models.JSONField(default=dict, help_text="Thresholds; amounts in whole tokens.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["rule"]
        verbose_name = "rule threshold"

    def __str__(self) -> str:
        return self.rule


class Channel(models.TextChoices):
    ONLINE = "online", "Online payment"
    OFFLINE = "offline", "Offline redemption"


class Assessment(models.Model):
    """One run of `fraud.scoring.assess`, stored with what it judged."""

    payment = models.OneToOneField(
        "wallets.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assessment",
    )
    # "payment:<uuid>" or, for the offline sync, "redemption:<id>".
    subject = models.CharField(max_length=80, db_index=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.ONLINE)
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units.")
    decision = models.CharField(max_length=8, choices=RiskDecision.choices)
    score = models.PositiveSmallIntegerField(help_text="0-100")
    reasons = models.JSONField(default=list)
    occurred_at = models.DateTimeField(help_text="When the payment happened (offline: on device)")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["token", "created_at"], name="assessment_token_created"),
            models.Index(fields=["payee", "created_at"], name="assessment_payee_created"),
            # the payer's offline spends, read by the rules' history (fraud.rules.PayerPast)
            models.Index(
                fields=["payer", "occurred_at"],
                condition=Q(channel="offline"),
                name="assessment_payer_offline",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="assessment_score_0_100"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="assessment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.decision} {self.score}"


class RuleHit(models.Model):
    """One rule that fired in an assessment (for filters and per-rule charts)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="hits")
    rule = models.CharField(max_length=32, db_index=True)
    score = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.rule} ({self.score})"


class ReviewState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class ReviewOutcome(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Review(models.Model):
    """A flagged payment waiting for (or decided by) reviewers."""

    payment = models.OneToOneField(
        "wallets.Payment", on_delete=models.PROTECT, related_name="review"
    )
    assessment = models.OneToOneField(
        Assessment, null=True, blank=True, on_delete=models.PROTECT, related_name="review"
    )
    state = models.CharField(
        max_length=8, choices=ReviewState.choices, default=ReviewState.OPEN, db_index=True
    )
    score = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    top_rule = models.CharField(max_length=32, blank=True)
    # 2 = four eyes: two different reviewers must approve.
    required_approvals = models.PositiveSmallIntegerField(default=1)
    outcome = models.CharField(max_length=8, choices=ReviewOutcome.choices, blank=True)
    close_reason = models.TextField(blank=True)
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "opened_at"]
        permissions = [("view_fraud_dashboard", "Can view the fraud dashboard")]
        constraints = [
            models.CheckConstraint(
                condition=Q(required_approvals__gte=1, required_approvals__lte=2),
                name="review_one_or_two_approvals",
            ),
            models.CheckConstraint(
                condition=Q(state=ReviewState.OPEN, outcome="", closed_at__isnull=True)
                | (Q(state=ReviewState.CLOSED, closed_at__isnull=False) & ~Q(outcome="")),
                name="review_closed_has_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"review of {self.payment_id}"


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class ReviewDecision(models.Model):
    """One reviewer's verdict; a reviewer decides a review at most once (four eyes)."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    note = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "reviewer"], name="reviewdecision_one_per_reviewer"
            ),
            models.CheckConstraint(condition=~Q(note=""), name="reviewdecision_note_required"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.reviewer_id}"


class AuditAction(models.TextChoices):
    REVIEW_DECISION = "review.decision", "Review decision"
    RULE_CHANGED = "rule.changed", "Rule threshold changed"
    PROFILE_CHANGED = "profile.changed", "Risk profile changed"
    BREAKER_TRIPPED = "breaker.tripped", "Circuit breaker tripped"
    BREAKER_RESET = "breaker.reset", "Circuit breaker reset"
    DOUBLE_SPEND = "payer.double_spend", "Offline double spend reported"


class AuditLog(models.Model):
    """Append-only: a database trigger refuses UPDATE (and DELETE on PostgreSQL)."""

    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)
    # where the request that made the change came from, as the trusted proxies report it
    # (fastpay.client_ip); null for tasks and commands
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class BreakerScope(models.TextChoices):
    TOKEN = "token", "Token"
    VENDOR = "vendor", "Vendor"
    PLATFORM = "platform", "Platform"


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (payments flow)"
    OPEN = "open", "Open (payments paused)"


class CircuitBreaker(models.Model):
    scope = models.CharField(max_length=8, choices=BreakerScope.choices)
    # token symbol, vendor user id, or "platform"
    key = models.CharField(max_length=64)
    state = models.CharField(
        max_length=8, choices=BreakerState.choices, default=BreakerState.CLOSED, db_index=True
    )
    trip_reason = models.CharField(max_length=255, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    tripped_at = models.DateTimeField(null=True, blank=True)
    reset_at = models.DateTimeField(null=True, blank=True)
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["scope", "key"]
        permissions = [("reset_circuitbreaker", "Can reset circuit breakers")]
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="breaker_unique_scope_key"),
            models.CheckConstraint(
                condition=Q(state=BreakerState.CLOSED) | Q(tripped_at__isnull=False),
                name="breaker_open_has_trip_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} {self.state}"


class DoubleSpendEvidence(models.Model):
    """Proof from the offline sync that a payer spent one voucher twice."""

    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    voucher = models.CharField(max_length=128, help_text="voucher account or id")
    evidence = models.JSONField(default=dict, help_text="the two conflicting signed orders")
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "double-spend evidence"
        constraints = [
            models.UniqueConstraint(fields=["payer", "voucher"], name="doublespend_unique_voucher")
        ]

    def __str__(self) -> str:
        return f"double spend by {self.payer_id} ({self.voucher})"
