"""Hot and cold wallets (docs/treasury.md): per-token levels of
the hot wallet, the cold Safe's transactions and their owners' signatures, and transfers
of the hot wallet's excess to cold storage. Registered under the ``settlement`` app
(imported by settlement/models.py).

Moves between hot and cold stay inside custody: no ledger entry (the gas is the sender's
CHAIN_FEE entry). Amounts are ledger units (BigInteger) where the ledger would count them,
on-chain base units (uint256) as decimal digit strings.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from wallets.chain.models import ADDRESS_TEXT, HASH_TEXT, UINT_TEXT

__all__ = [
    "SAFE_TX_OPEN",
    "ColdTransfer",
    "ColdTransferState",
    "HotWalletThreshold",
    "SafeSignature",
    "SafeTransaction",
    "SafeTxKind",
    "SafeTxState",
]


class HotWalletThreshold(models.Model):
    """The hot wallet's band for one token, in ledger units: below ``min_units`` a refill
    from the cold Safe up to ``target_units`` is proposed (withdrawals the hot wallet cannot
    cover wait); above ``max_units`` the excess down to ``target_units`` goes to cold
    storage. ``level_units`` is the last level the treasury tick read (on-chain balance
    less what signed, not yet mined transfers will take)."""

    token = models.OneToOneField(
        "wallets.Token", on_delete=models.PROTECT, related_name="hot_threshold"
    )
    min_units = models.BigIntegerField()
    target_units = models.BigIntegerField()
    max_units = models.BigIntegerField()
    enabled = models.BooleanField(default=True)
    level_units = models.BigIntegerField(null=True, blank=True, editable=False)
    level_block = models.BigIntegerField(null=True, blank=True, editable=False)
    level_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "settlement"
        verbose_name = "hot wallet threshold"
        constraints = [
            models.CheckConstraint(condition=Q(min_units__gte=0), name="hot_min_non_negative"),
            models.CheckConstraint(
                condition=Q(target_units__gte=F("min_units")), name="hot_target_above_min"
            ),
            models.CheckConstraint(
                condition=Q(max_units__gte=F("target_units")) & Q(max_units__gt=0),
                name="hot_max_above_target",
            ),
        ]

    def __str__(self) -> str:
        return f"hot {self.token_id}: {self.min_units}..{self.max_units}"


class SafeTxKind(models.TextChoices):
    REFILL = "refill", "Refill of the hot wallet (ERC-20 transfer cold -> hot)"


class SafeTxState(models.TextChoices):
    PROPOSED = "proposed", "Proposed (collecting owners' signatures)"
    EXECUTABLE = "executable", "Executable (enough signatures)"
    EXECUTING = "executing", "execTransaction sent"
    EXECUTED = "executed", "Executed on-chain"
    FAILED = "failed", "Failed or superseded"


SAFE_TX_OPEN = (SafeTxState.PROPOSED, SafeTxState.EXECUTABLE, SafeTxState.EXECUTING)


class SafeTransaction(models.Model):
    """A transaction of the cold Safe that the platform proposes (a CALL: safeTxGas,
    baseGas, gasPrice 0, no refund), its EIP-712 ``safe_tx_hash`` signed by the owners
    off the server; executed through the sender (``exec_tx``) once the Safe's threshold
    of current owners has signed."""

    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    safe_address = models.CharField(max_length=42)
    nonce = models.PositiveBigIntegerField(help_text="The Safe's nonce this transaction uses.")
    to_address = models.CharField(max_length=42)
    value_wei = models.CharField(max_length=78, default="0")
    data = models.TextField(default="0x")
    operation = models.PositiveSmallIntegerField(default=0, help_text="0 CALL (only).")
    safe_tx_hash = models.CharField(max_length=66)
    kind = models.CharField(max_length=16, choices=SafeTxKind.choices)
    token = models.ForeignKey(
        "wallets.Token", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount_units = models.BigIntegerField(default=0)
    amount_onchain = models.CharField(max_length=78, default="0")
    state = models.CharField(
        max_length=16, choices=SafeTxState.choices, default=SafeTxState.PROPOSED, db_index=True
    )
    threshold = models.PositiveSmallIntegerField(help_text="The Safe's threshold when last read.")
    exec_attempt = models.PositiveSmallIntegerField(default=0)
    exec_tx = models.ForeignKey(
        "wallets.OutgoingTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    error = models.TextField(blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "settlement"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "safe_address", "nonce"],
                condition=~Q(state="failed"),
                name="safe_tx_one_per_nonce",
            ),
            models.UniqueConstraint(
                fields=["safe_tx_hash"], condition=~Q(state="failed"), name="safe_tx_hash_once"
            ),
            models.UniqueConstraint(
                fields=["chain", "token"],
                condition=Q(kind="refill", state__in=("proposed", "executable", "executing")),
                name="safe_tx_one_open_refill",
            ),
            models.CheckConstraint(condition=Q(operation=0), name="safe_tx_call_only"),
            models.CheckConstraint(
                condition=Q(safe_tx_hash__regex=HASH_TEXT), name="safe_tx_hash_format"
            ),
            models.CheckConstraint(
                condition=Q(safe_address__regex=ADDRESS_TEXT) & Q(to_address__regex=ADDRESS_TEXT),
                name="safe_tx_address_format",
            ),
            models.CheckConstraint(
                condition=Q(value_wei__regex=UINT_TEXT) & Q(amount_onchain__regex=UINT_TEXT),
                name="safe_tx_amounts_uint",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=("executing", "executed")) | Q(exec_tx__isnull=False),
                name="safe_tx_executing_has_tx",
            ),
        ]

    def __str__(self) -> str:
        return f"Safe tx #{self.nonce} {self.kind} {self.state}"


class SafeSignature(models.Model):
    """One owner's signature of a SafeTransaction's hash, pasted by staff; ``signature``
    is 65 bytes in the Safe's encoding (v 27/28 or 31/32), ``owner`` what it recovers to
    (an owner of the Safe when it was added)."""

    safe_tx = models.ForeignKey(
        SafeTransaction, on_delete=models.CASCADE, related_name="signatures"
    )
    owner = models.CharField(max_length=42)
    signature = models.CharField(max_length=132)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "settlement"
        ordering = ["safe_tx", "owner"]
        constraints = [
            models.UniqueConstraint(fields=["safe_tx", "owner"], name="safe_sig_one_per_owner"),
            models.CheckConstraint(
                condition=Q(signature__regex=r"^0x[0-9a-f]{130}$"), name="safe_sig_format"
            ),
            models.CheckConstraint(
                condition=Q(owner__regex=ADDRESS_TEXT), name="safe_sig_owner_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} on {self.safe_tx_id}"


class ColdTransferState(models.TextChoices):
    SENT = "sent", "Signed and sent"
    DONE = "done", "Confirmed"
    FAILED = "failed", "Failed or dropped"


class ColdTransfer(models.Model):
    """The hot wallet's excess above its maximum, sent to the cold Safe (a plain ERC-20
    transfer through the sender). One in flight per token."""

    chain = models.ForeignKey("wallets.Chain", on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    to_address = models.CharField(max_length=42)
    amount_units = models.BigIntegerField()
    amount_onchain = models.CharField(max_length=78)
    state = models.CharField(
        max_length=16,
        choices=ColdTransferState.choices,
        default=ColdTransferState.SENT,
        db_index=True,
    )
    tx = models.OneToOneField(
        "wallets.OutgoingTransaction", on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "settlement"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "token"], condition=Q(state="sent"), name="cold_one_in_flight"
            ),
            models.CheckConstraint(condition=Q(amount_units__gt=0), name="cold_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_onchain__regex=UINT_TEXT), name="cold_amount_uint"
            ),
        ]

    def __str__(self) -> str:
        return f"to cold {self.amount_units} of {self.token_id} {self.state}"
