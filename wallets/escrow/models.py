"""Escrow: two-phase transfers with TigerBeetle's semantics (docs/escrow.md).

A Hold reserves ``amount`` of the payer's AVAILABLE money in the ESCROW system account
(PENDING). It resolves exactly once: POSTED (``posted_amount`` to the payee, in full or in
part, the rest back to the payer), VOIDED (all back), or on its deadline by its kind:
an AUTHORIZATION expires (EXPIRED: all back to the payer, as TigerBeetle's timeout), a
MARKETPLACE hold is released to the seller (POSTED) unless the buyer opened a dispute,
which staff decide. Registered under the ``wallets`` app (imported by wallets/models.py).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class HoldKind(models.TextChoices):
    AUTHORIZATION = "authorization", "Authorization (the payee captures or voids)"
    MARKETPLACE = "marketplace", "Marketplace escrow (released by the buyer or the deadline)"


class HoldState(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPUTED = "disputed", "Disputed (staff decide)"
    POSTED = "posted", "Posted (paid to the payee)"
    VOIDED = "voided", "Voided (returned to the payer)"
    EXPIRED = "expired", "Expired (returned to the payer)"


#: states in which the money still sits in ESCROW
OPEN_HOLD_STATES = (HoldState.PENDING, HoldState.DISPUTED)


class Hold(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=HoldKind.choices)
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="holds_sent"
    )
    payee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="holds_received"
    )
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units reserved.")
    posted_amount = models.BigIntegerField(default=0, help_text="Ledger units paid to the payee.")
    state = models.CharField(
        max_length=16, choices=HoldState.choices, default=HoldState.PENDING, db_index=True
    )
    expires_at = models.DateTimeField(db_index=True, help_text="The deadline (its kind says).")
    description = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    dispute_reason = models.CharField(max_length=255, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hold_entry = models.OneToOneField(
        "wallets.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    resolve_entry = models.OneToOneField(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_hold", "Can decide disputed escrow holds")]
        indexes = [
            models.Index(fields=["payer", "-created_at"], name="hold_payer_created"),
            models.Index(fields=["payee", "-created_at"], name="hold_payee_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(posted_amount__gte=0) & Q(posted_amount__lte=F("amount")),
                name="hold_posted_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(posted_amount=0) | Q(state=HoldState.POSTED),
                name="hold_posted_only_when_posted",
            ),
            models.CheckConstraint(
                condition=Q(state__in=OPEN_HOLD_STATES, resolve_entry__isnull=True)
                | (~Q(state__in=OPEN_HOLD_STATES) & Q(resolve_entry__isnull=False)),
                name="hold_resolved_once_with_entry",
            ),
            models.CheckConstraint(condition=~Q(payer=F("payee")), name="hold_payer_not_payee"),
            models.CheckConstraint(
                condition=Q(kind=HoldKind.MARKETPLACE) | ~Q(state=HoldState.DISPUTED),
                name="hold_dispute_only_marketplace",
            ),
            models.UniqueConstraint(
                fields=["payer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="hold_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.id} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_HOLD_STATES
