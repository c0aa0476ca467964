"""Offline money on the platform side (docs/offline.md): the users' FastPay accounts and
the transfers between their online balance and the committee (fund/defund), the vouchers
the platform registered (limits, validity window, ticket), the per-user limits, and the
vendors' redemptions with their state machine
RECEIVED -> VALIDATED -> PENDING -> SETTLED | REJECTED | FLAGGED.

Amounts are ledger units (BigIntegerField; 1 token = 10**ledger_decimals units).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from authorities.models import address_validator


class OfflineLimit(models.Model):
    """A user's offline limits (admin-editable) and offline suspension. Users without a
    row get the defaults of offline.conf.default_limits(). Its row lock serialises a
    user's voucher registrations (limits are checked under it)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offline_limit"
    )
    max_outstanding = models.BigIntegerField(help_text="Ledger units in unexpired vouchers.")
    max_per_voucher = models.BigIntegerField(help_text="Ledger units.")
    max_vouchers_per_day = models.PositiveIntegerField(help_text="Per rolling 24 hours.")
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_outstanding__gte=0) & Q(max_per_voucher__gte=0),
                name="offline_limit_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"offline limits of {self.user}"


class VoucherState(models.TextChoices):
    ACTIVE = "active", "Active (may be spent)"
    REDEEMED = "redeemed", "Redeemed by a vendor"
    EXPIRED = "expired", "Expired unspent (the payer may reclaim it)"


class Voucher(models.Model):
    """A voucher the platform registered: the certificate moving ``amount`` from the
    payer's FastPay address to the one-time ``address``, its window and the ticket (the
    platform's signature that terminals check)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vouchers"
    )
    address = models.CharField(max_length=42, unique=True, validators=[address_validator])
    payer = models.CharField(max_length=42, validators=[address_validator])
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField(help_text="Ledger units.")
    sequence = models.PositiveBigIntegerField(help_text="The payer's FastPay sequence.")
    epoch = models.PositiveBigIntegerField()
    certificate = models.JSONField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    ticket = models.CharField(max_length=132)
    state = models.CharField(
        max_length=16, choices=VoucherState.choices, default=VoucherState.ACTIVE, db_index=True
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    # online money of the payer held for this voucher in their COLLATERAL ledger account
    # (offline.services.vouchers): ``collateral`` units at registration, of which
    # ``collateral_held`` are still held (a cover takes from it; the rest goes back to
    # AVAILABLE when the voucher closes, ``collateral_released_at``). Ledger units.
    collateral = models.BigIntegerField(default=0, help_text="Ledger units held at registration.")
    collateral_held = models.BigIntegerField(default=0, help_text="Ledger units still held.")
    collateral_released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["not_after"],
                condition=Q(collateral_held__gt=0),
                name="voucher_collateral_held",
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="voucher_amount_positive"),
            models.CheckConstraint(
                condition=Q(collateral_held__gte=0)
                & Q(collateral_held__lte=models.F("collateral"))
                & Q(collateral__lte=models.F("amount")),
                name="voucher_collateral_within_amount",
            ),
            # released means nothing is held any more
            models.CheckConstraint(
                condition=Q(collateral_released_at__isnull=True) | Q(collateral_held=0),
                name="voucher_collateral_released_empty",
            ),
            models.UniqueConstraint(fields=["payer", "sequence"], name="voucher_unique_sequence"),
            models.CheckConstraint(
                condition=Q(not_after__gt=models.F("not_before")), name="voucher_window"
            ),
        ]

    def __str__(self) -> str:
        return f"voucher {self.address} ({self.amount})"


class RedemptionState(models.TextChoices):
    RECEIVED = "received", "Received"
    VALIDATED = "validated", "Validated"
    PENDING = "pending", "Pending (waiting for the committee)"
    SETTLED = "settled", "Settled"
    REJECTED = "rejected", "Rejected"
    FLAGGED = "flagged", "Flagged (held for an admin)"


#: states in which a redemption still claims its voucher (at most one per voucher)
LIVE_STATES = (
    RedemptionState.RECEIVED,
    RedemptionState.VALIDATED,
    RedemptionState.PENDING,
    RedemptionState.SETTLED,
    RedemptionState.FLAGGED,
)


class Redemption(models.Model):
    """One offline payment a vendor synced. ``spend_id`` (hash of the voucher address and
    the voucher key's signature) makes a vendor's sync idempotent per spend; at most one
    live redemption per voucher (the sequence-0 lock of the authorities, mirrored here)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    spend_id = models.CharField(max_length=64, db_index=True)
    vendor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redemptions"
    )
    voucher = models.ForeignKey(
        Voucher, null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions"
    )
    voucher_address = models.CharField(max_length=42, blank=True)
    recipient = models.CharField(max_length=42, blank=True)
    amount = models.BigIntegerField(default=0, help_text="Ledger units.")
    epoch = models.PositiveBigIntegerField(default=0)
    signature = models.CharField(max_length=132, blank=True, help_text="Voucher key's spend")
    payment = models.TextField(help_text="The payment as the terminal uploaded it.")
    state = models.CharField(max_length=16, choices=RedemptionState.choices, db_index=True)
    reason = models.CharField(max_length=32, blank=True, db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    conflicting_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    certificate = models.JSONField(null=True, blank=True, help_text="The spend certificate.")
    # settlement retries while PENDING (offline.services.settlement): attempts made, when
    # the next one is due (exponential backoff with jitter; null = at once), what failed
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_redemption", "Can release or reject flagged redemptions")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="redemption_amount"),
            # idempotent per (vendor, spend): another vendor uploading a copy of this
            # payment gets its own REJECTED row and cannot block the payee's redemption
            models.UniqueConstraint(fields=["vendor", "spend_id"], name="redemption_unique_spend"),
            # the redemption that claims the voucher at the committee; a double spend
            # (conflicting_with set) never does: it is covered by the platform or refused
            models.UniqueConstraint(
                fields=["voucher"],
                condition=Q(state__in=LIVE_STATES, conflicting_with__isnull=True),
                name="redemption_one_live_per_voucher",
            ),
            models.CheckConstraint(
                # settled by the committee (its certificate) or covered by the platform
                condition=~Q(state=RedemptionState.SETTLED)
                | Q(certificate__isnull=False)
                | Q(reason="covered"),
                name="redemption_settled_has_certificate",
            ),
        ]

    def __str__(self) -> str:
        return f"redemption {self.spend_id[:12]} {self.state}"


class DoubleSpend(Redemption):
    """Admin view of the redemptions refused as double spends (both signatures)."""

    class Meta:
        proxy = True
        verbose_name = "double-spend evidence"
        verbose_name_plural = "double-spend evidence"


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
    # retries exhausted (FASTPAY_FUND_MAX_ATTEMPTS / _MAX_AGE_S): an operator retries it or
    # voids it; its platform account takes no new FUND meanwhile
    STUCK = "stuck", "Stuck (retries exhausted: retry or void)"
    # the platform certified a replacement at its sequence (void by replacement): the
    # original can never be certified, the money went back to the user's AVAILABLE
    VOIDED = "voided", "Voided (money back online)"


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
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # FUND certification retries (offline.services.transfers): attempts that failed, when
    # the next one is due (exponential backoff; null = at once), and the last failure, or
    # for a FAILED transfer the reason it stopped
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=255, blank=True)
    # when an operator last retried it by hand: the retry budget counts from then
    retried_at = models.DateTimeField(null=True, blank=True)
    # VOIDED: the platform's certificate of the replacement order at this sequence
    void_certificate = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("void_fund", "Can void a stuck FUND by replacement (money back online)")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offline_amount_positive"),
            # a voided FUND names the certificate that used its sequence, and was never done
            models.CheckConstraint(
                condition=~Q(state="voided")
                | (Q(void_certificate__isnull=False) & Q(certificate__isnull=True)),
                name="offline_void_has_replacement",
            ),
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
    """One of the platform's FastPay accounts (FASTPAY_PLATFORM_ACCOUNTS of them, derived
    from the platform key: authorities.gateway.platform_account_key); its row lock
    serialises sequence assignment on it.

    ``next_sequence`` is never below the committee's: before an account reserves in a
    process (and every FASTPAY_SEQUENCE_CHECK_S) it is compared with the committee's
    next sequence; a database behind it (a restored backup) pauses funding on the account
    (``funding_paused_at``, ``paused_reason``) instead of reusing a sequence."""

    address = models.CharField(max_length=42, unique=True, validators=[address_validator])
    index = models.PositiveIntegerField(
        null=True, blank=True, unique=True, help_text="Derivation index (0: the platform key)"
    )
    next_sequence = models.PositiveBigIntegerField(default=0)
    committee_sequence = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The committee's next sequence at the last check"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    funding_paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(funding_paused_at__isnull=True) | ~Q(paused_reason=""),
                name="platform_account_pause_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.address if self.index is None else f"#{self.index} {self.address}"
