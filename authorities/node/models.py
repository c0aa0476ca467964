"""The node's own state: accounts, balances, the votes it gave, the certificates it applied,
deposits it credited, its chain cursor, the settlement batches it signed, and the epoch
handovers it completed with the carried locks they brought.

Addresses are stored as lower-case 0x-hex text (one canonical form, no checksum cost on the
hot path); the API renders them checksummed. Amounts are integer ledger units (6 decimals).
"""

from django.db import models
from django.db.models import Q

#: explicit, so that importing these models in the platform process (tests, tools) does not
#: file them under the platform's "authorities" app, whose database has no such tables
APP_LABEL = "authority_node"


class Account(models.Model):
    """A FastPay account as this node sees it. Balances and the pending order change only
    under this row's lock (services.lock_accounts)."""

    address = models.CharField(max_length=42, unique=True)
    next_sequence = models.BigIntegerField(default=0)
    # The vote that locks next_sequence, if any (cleared when its certificate is applied).
    pending_vote = models.ForeignKey(
        "Vote", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.CheckConstraint(
                condition=Q(next_sequence__gte=0), name="node_account_sequence_gte_0"
            )
        ]

    def __str__(self) -> str:
        return self.address


class Balance(models.Model):
    """``units`` may go below zero: a certificate is final and is applied whatever this
    node's view of the balance (a node that missed a credit, a deposit or an incoming
    transfer, is negative until it arrives); votes still need ``units >= amount``."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balances")
    token = models.CharField(max_length=42)
    units = models.BigIntegerField(default=0)  # ledger units (6 decimals), signed

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(fields=["account", "token"], name="node_balance_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.token} {self.units}"


class Vote(models.Model):
    """Every vote this node gave: the order, the sender's signature and ours. One per
    (sender, sequence, epoch): a later epoch's vote at the same (sender, sequence) is only
    ever for the same payment re-signed (handoff.vote_decision: a re-epoched order); a
    byzantine test node marks its extra, conflicting ones."""

    sender = models.CharField(max_length=42)
    sequence = models.BigIntegerField()
    recipient = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    amount = models.BigIntegerField()  # ledger units
    epoch = models.BigIntegerField()
    order_signature = models.CharField(max_length=132)
    digest = models.CharField(max_length=66)  # EIP-712 Vote digest, 0x-hex
    signature = models.CharField(max_length=132)
    conflicting = models.BooleanField(default=False)  # AUTHORITY_BYZANTINE only
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "sequence", "epoch"],
                condition=Q(conflicting=False),
                name="node_vote_one_per_sequence_epoch",
            )
        ]

    def __str__(self) -> str:
        return f"vote {self.sender}#{self.sequence}"


class Certificate(models.Model):
    """A certificate this node applied (once: unique per (sender, sequence))."""

    sender = models.CharField(max_length=42)
    sequence = models.BigIntegerField()
    recipient = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    amount = models.BigIntegerField()  # ledger units
    epoch = models.BigIntegerField()
    order_signature = models.CharField(max_length=132)
    votes = models.JSONField()  # [{"authority": "0x…", "signature": "0x…"}, …]
    redemption = models.BooleanField(default=False)
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(fields=["sender", "sequence"], name="node_certificate_unique")
        ]

    def __str__(self) -> str:
        return f"certificate {self.sender}#{self.sequence}"


class Deposit(models.Model):
    """A FastPayRegistry deposit credited here, once per depositId."""

    deposit_id = models.BigIntegerField(unique=True)
    account = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    units = models.BigIntegerField()  # ledger units credited
    amount_onchain = models.CharField(max_length=78)  # base units, decimal text (> 64 bits)
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    tx_hash = models.CharField(max_length=66)
    log_index = models.IntegerField()
    credited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return f"deposit {self.deposit_id}"


class ChainBlock(models.Model):
    """Hashes of the blocks the deposit follower processed (recent ones), to detect a reorg
    deeper than the confirmation depth. The highest number is the follower's cursor."""

    number = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=66)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return f"block {self.number}"


class SignedBatch(models.Model):
    """A settlement Batch this node signed; each certificate is in one batch at most."""

    batch_id = models.BigIntegerField(unique=True)
    epoch = models.BigIntegerField()
    items_hash = models.CharField(max_length=66)
    signature = models.CharField(max_length=132)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return f"batch {self.batch_id}"


class BatchEntry(models.Model):
    batch = models.ForeignKey(SignedBatch, on_delete=models.PROTECT, related_name="entries")
    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="+")
    position = models.IntegerField()

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return f"batch {self.batch_id} #{self.position}"


class GenesisCredit(models.Model):
    """An initial balance from AUTHORITY_GENESIS_FILE (DEBUG only: tests, bench, demos),
    credited once per (address, token) however often the node restarts."""

    address = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    units = models.BigIntegerField()  # ledger units

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(fields=["address", "token"], name="node_genesis_unique")
        ]

    def __str__(self) -> str:
        return f"genesis {self.address}:{self.token}"


class CarriedLock(models.Model):
    """A vote of a member of an earlier epoch for (sender, sequence), read in a handover
    from a source's pending orders, with no certificate for that (sender, sequence) known
    here: in the new epoch this node votes at that (sender, sequence) only for the same
    payment (handoff.vote_decision). Ignored once ``next_sequence`` passes ``sequence``
    (a certificate for it was applied)."""

    sender = models.CharField(max_length=42)
    sequence = models.BigIntegerField()
    recipient = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    amount = models.BigIntegerField()  # ledger units
    epoch = models.BigIntegerField()
    order_signature = models.CharField(max_length=132)
    voter = models.CharField(max_length=42)  # the member whose vote it is
    vote_signature = models.CharField(max_length=132)
    source = models.CharField(max_length=42)  # the node that reported it
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "sequence", "recipient", "token", "amount", "epoch"],
                name="node_carried_lock_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="node_carried_amount_gt_0"),
        ]
        indexes = [models.Index(fields=["sender", "sequence"], name="node_carried_sender_seq")]

    def __str__(self) -> str:
        return f"carried {self.sender}#{self.sequence}"


class HandedOver(models.Model):
    """The handover of ``epoch`` is complete here: the frozen state of sources holding
    more than 2/3 of its stake was read, verified and merged. Until then this node casts
    no vote in ``epoch + 1`` (handover_pending)."""

    epoch = models.BigIntegerField(unique=True)
    sources = models.JSONField()  # lower-case addresses of the sources read
    certificates = models.IntegerField()  # certificates applied here during the handover
    carried = models.IntegerField()  # carried lock candidates stored
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return f"handed over {self.epoch}"
