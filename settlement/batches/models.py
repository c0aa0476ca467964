"""On-chain settlement of redemptions (docs/settlement.md): redemption certificates (the
recipient is the OfflinePaymentProcessor) gathered into committee-signed batches and
submitted with ``submitCommitteeBatch`` through the one sender (wallets.chain.sender).

A ChainRedemption is one certificate, unique by (processor, sender, sequence): the
contract's bitmap settles a (sender, sequence) once, and so does this table. A
SettlementBatch is one ``batchId`` of the processor with its items in order, the
committee's signatures (stored before any submission: the nodes sign a certificate into
one batch only, so a retry re-submits these same bytes) and the current submission.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.chain.models import ADDRESS_TEXT


class RedemptionState(models.TextChoices):
    PENDING = "pending", "Pending (waiting for a batch)"
    BATCHED = "batched", "In a batch (being settled)"
    SETTLED = "settled", "Settled on-chain (the vault credited the sender)"
    SKIPPED = "skipped", "Skipped by the contract (see reason)"
    REFUSED = "refused", "Refused before submission (see reason)"


#: a redemption in one of these states belongs to a batch
IN_BATCH_STATES = (RedemptionState.BATCHED, RedemptionState.SETTLED, RedemptionState.SKIPPED)


class BatchState(models.TextChoices):
    SIGNING = "signing", "Gathered (committee signatures not obtained yet)"
    SIGNED = "signed", "Signed by the committee (to be submitted)"
    SUBMITTED = "submitted", "Submitted (transaction in flight)"
    CONFIRMED = "confirmed", "Confirmed (results being read)"
    SETTLED = "settled", "Settled (results recorded)"
    FAILED = "failed", "Failed for good (see reason)"


class SettlementBatch(models.Model):
    """One committee batch. ``batch_id`` is the processor's ``batchId`` (settles once:
    ``isBatchSettled``); ``epoch`` is the epoch whose committee signed it (the batch
    epoch, whose settlement window the contract checks)."""

    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    processor_address = models.CharField(max_length=42)
    vault_address = models.CharField(max_length=42)
    batch_id = models.PositiveBigIntegerField()
    epoch = models.PositiveBigIntegerField()
    state = models.CharField(
        max_length=12, choices=BatchState.choices, default=BatchState.SIGNING, db_index=True
    )
    items_hash = models.CharField(max_length=66)
    signatures = models.TextField(blank=True, help_text="Packed committee signatures, 0x-hex.")
    # the current submission (a failed one is kept in `submissions` and error)
    tx = models.ForeignKey(
        "wallets.OutgoingTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submissions = models.PositiveIntegerField(default=0)
    # the chain's head when first submitted: where a search for its settlement starts
    from_block = models.PositiveBigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Signing attempts that failed.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    items_count = models.PositiveIntegerField(default=0)
    settled_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    settled_tx_hash = models.CharField(max_length=66, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "settlement batches"
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "processor_address", "batch_id"], name="settlement_batch_once"
            ),
            models.CheckConstraint(
                condition=Q(processor_address__regex=ADDRESS_TEXT)
                & Q(vault_address__regex=ADDRESS_TEXT),
                name="settlement_batch_addresses",
            ),
            # signed before it is ever submitted; a submission names its transaction
            models.CheckConstraint(
                condition=Q(state="signing") | ~Q(signatures=""),
                name="settlement_batch_signed",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("submitted", "confirmed")) | Q(tx__isnull=False),
                name="settlement_batch_submitted_tx",
            ),
            models.CheckConstraint(
                condition=~Q(state="failed") | ~Q(last_error=""),
                name="settlement_batch_failure_reason",
            ),
            models.CheckConstraint(
                condition=Q(settled_count__lte=models.F("items_count"))
                & Q(skipped_count__lte=models.F("items_count")),
                name="settlement_batch_counts",
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id} (epoch {self.epoch}) {self.state}"


class ChainRedemption(models.Model):
    """One redemption certificate to settle on-chain: ``amount_units`` (ledger units) of
    ``token`` from the pool to ``sender``'s vault balance."""

    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    processor_address = models.CharField(max_length=42)
    sender = models.CharField(max_length=42)
    sequence = models.PositiveBigIntegerField()
    epoch = models.PositiveBigIntegerField(help_text="The certificate's epoch.")
    token_address = models.CharField(max_length=42)
    token = models.ForeignKey(
        "wallets.Token", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vault_token_id = models.PositiveIntegerField(help_text="The vault's id of the token.")
    amount_units = models.BigIntegerField()
    certificate = models.JSONField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(
        max_length=10,
        choices=RedemptionState.choices,
        default=RedemptionState.PENDING,
        db_index=True,
    )
    batch = models.ForeignKey(
        SettlementBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )
    position = models.PositiveIntegerField(null=True, blank=True)
    # SKIPPED: the contract's reason (the custom error's name, e.g. SequenceAlreadyRedeemed,
    # and its 4-byte selector); REFUSED: ours (settlement_window_closed, ...)
    reason = models.CharField(max_length=64, blank=True)
    reason_detail = models.CharField(max_length=255, blank=True)
    settled_tx_hash = models.CharField(max_length=66, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "processor_address", "sender", "sequence"],
                name="chain_redemption_once",
            ),
            models.UniqueConstraint(
                fields=["batch", "position"], name="chain_redemption_batch_position"
            ),
            models.CheckConstraint(
                condition=Q(amount_units__gt=0), name="chain_redemption_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(sender__regex=ADDRESS_TEXT)
                & Q(token_address__regex=ADDRESS_TEXT)
                & Q(processor_address__regex=ADDRESS_TEXT),
                name="chain_redemption_addresses",
            ),
            # in a batch exactly when batched, settled or skipped
            models.CheckConstraint(
                condition=(
                    Q(state__in=("batched", "settled", "skipped"))
                    & Q(batch__isnull=False)
                    & Q(position__isnull=False)
                )
                | (Q(state__in=("pending", "refused")) & Q(batch__isnull=True)),
                name="chain_redemption_batch_state",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("skipped", "refused")) | ~Q(reason=""),
                name="chain_redemption_reason",
            ),
            models.CheckConstraint(
                condition=~Q(state="settled") | ~Q(settled_tx_hash=""),
                name="chain_redemption_settled_tx",
            ),
        ]

    def __str__(self) -> str:
        return f"redemption {self.sender}#{self.sequence} {self.state}"
