"""The chain side of the wallets app: chains, HD keys and deposit addresses, the block
watcher's memory, deposits, the one outgoing-transaction sender, sweeps and custody
reconciliation (docs/deposits.md). Registered under the ``wallets`` app (imported by
wallets/models.py).

On-chain amounts (base units of a uint256) do not fit in 64 bits for 18-decimal tokens:
they are kept as decimal digit strings (``amount_onchain``, checked by a constraint);
ledger units are BigIntegers as everywhere else (docs/architecture.md "Money").
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

#: a non-negative uint256 in decimal digits
UINT_TEXT = r"^[0-9]{1,78}$"
ADDRESS_TEXT = r"^0x[0-9a-fA-F]{40}$"
HASH_TEXT = r"^0x[0-9a-f]{64}$"


def _uint(name: str, field: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__regex": UINT_TEXT}), name=name)


class Finality(models.TextChoices):
    DEPTH = "depth", "Confirmations (depth below the head)"
    FINALIZED = "finalized", "The chain's finalized block (depth as a floor)"


class Chain(models.Model):
    """An EVM chain the platform watches and sends on. ``rpc_urls`` are tried in order
    (the next on an error or timeout); ``confirmations`` is the default depth at which a
    deposit is credited (ConfirmationTier raises it per token and amount)."""

    chain_id = models.PositiveBigIntegerField(unique=True)
    name = models.CharField(max_length=64)
    rpc_urls = models.JSONField(default=list, help_text="JSON-RPC URLs, in fallback order.")
    poa = models.BooleanField(default=False, help_text="Proof-of-authority extraData (BSC).")
    finality = models.CharField(max_length=16, choices=Finality.choices, default=Finality.DEPTH)
    confirmations = models.PositiveIntegerField(default=12)
    max_log_range = models.PositiveIntegerField(
        default=5000, help_text="The largest eth_getLogs block range the providers allow."
    )
    block_window = models.PositiveIntegerField(
        default=512, help_text="Blocks whose hashes are remembered (reorgs up to this deep)."
    )
    poll_interval_ms = models.PositiveIntegerField(default=1000)
    native_symbol = models.CharField(max_length=16, default="ETH")
    max_fee_per_gas_wei = models.PositiveBigIntegerField(
        default=200 * 10**9, help_text="Fee cap of every transaction sent (wei per gas)."
    )
    max_priority_fee_wei = models.PositiveBigIntegerField(default=2 * 10**9)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["chain_id"]
        constraints = [
            models.CheckConstraint(condition=Q(chain_id__gt=0), name="chain_id_positive"),
            models.CheckConstraint(
                condition=Q(confirmations__gte=1), name="chain_confirmations_at_least_one"
            ),
            models.CheckConstraint(
                condition=Q(max_log_range__gte=1), name="chain_log_range_positive"
            ),
            models.CheckConstraint(
                condition=Q(block_window__gt=F("confirmations")),
                name="chain_window_deeper_than_confirmations",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.chain_id})"


class ConfirmationTier(models.Model):
    """Deposits of ``token`` of at least ``min_units`` wait ``confirmations`` blocks (the
    tier with the largest ``min_units`` not above the amount; else the chain's default)."""

    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    min_units = models.BigIntegerField()
    confirmations = models.PositiveIntegerField()

    class Meta:
        ordering = ["token", "min_units"]
        constraints = [
            models.UniqueConstraint(fields=["token", "min_units"], name="tier_unique_min"),
            models.CheckConstraint(condition=Q(min_units__gte=0), name="tier_min_non_negative"),
            models.CheckConstraint(
                condition=Q(confirmations__gte=1), name="tier_confirmations_at_least_one"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token_id} >= {self.min_units}: {self.confirmations} blocks"


class TokenPolicy(models.Model):
    """Per-token custody settings: deposits below ``min_deposit_units`` are recorded as
    DUST and not credited; a deposit address holding at least ``sweep_threshold_units``
    is swept to the hot wallet (0: never)."""

    token = models.OneToOneField("wallets.Token", on_delete=models.PROTECT, related_name="policy")
    min_deposit_units = models.BigIntegerField(default=1)
    sweep_threshold_units = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "token policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_deposit_units__gte=1), name="policy_min_deposit_positive"
            ),
            models.CheckConstraint(
                condition=Q(sweep_threshold_units__gte=0), name="policy_sweep_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"policy of token {self.token_id}"


class HDAccount(models.Model):
    """A BIP-44 account of the platform's seed (m/44'/60'/``account_index``'). The web tier
    holds only ``xpub`` (the account's extended public key) and derives addresses
    m/.../0/i from it; private keys are derived from the sealed seed where a transaction
    is signed. ``seed_fingerprint`` names the seed it came from (a wrong seed file is
    refused)."""

    name = models.CharField(max_length=32, unique=True)
    account_index = models.PositiveIntegerField(unique=True)
    xpub = models.CharField(max_length=128)
    seed_fingerprint = models.CharField(max_length=16)
    next_index = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "HD account"

    def __str__(self) -> str:
        return f"{self.name} m/44'/60'/{self.account_index}'"


class DepositPurpose(models.TextChoices):
    USER = "user", "A user's deposit address"
    INVOICE = "invoice", "An invoice's address"


class DepositAddress(models.Model):
    """An address m/44'/60'/account'/0/``index``; an index is never reused."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="deposit_addresses")
    account = models.ForeignKey(HDAccount, on_delete=models.PROTECT, related_name="addresses")
    index = models.PositiveBigIntegerField()
    address = models.CharField(max_length=42, help_text="EIP-55 checksummed.")
    purpose = models.CharField(
        max_length=16, choices=DepositPurpose.choices, default=DepositPurpose.USER
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deposit_addresses",
    )
    reference = models.CharField(max_length=64, blank=True, help_text="e.g. invoice:<id>")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deposit addresses"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "index"], name="deposit_index_once"),
            models.UniqueConstraint(fields=["chain", "address"], name="deposit_address_once"),
            models.UniqueConstraint(
                fields=["chain", "user"],
                condition=Q(purpose="user"),
                name="deposit_one_per_user_chain",
            ),
            models.CheckConstraint(
                condition=Q(purpose="invoice") | Q(user__isnull=False),
                name="deposit_user_address_has_user",
            ),
            models.CheckConstraint(
                condition=Q(address__regex=ADDRESS_TEXT), name="deposit_address_format"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class AddressRole(models.TextChoices):
    HOT = "hot", "Hot wallet (pays withdrawals, receives sweeps)"
    GAS_STATION = "gas_station", "Gas station (tops up deposit addresses)"
    COLD = "cold", "Cold storage (a Safe multisig)"
    SETTLER = "settler", "Settler (submits committee batches)"


class PlatformAddress(models.Model):
    """An address the platform itself holds on a chain: derived from the seed (account,
    index) or external (the cold Safe). Counted in custody reconciliation."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="platform_addresses")
    role = models.CharField(max_length=16, choices=AddressRole.choices)
    address = models.CharField(max_length=42)
    account = models.ForeignKey(
        HDAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    index = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "platform addresses"
        constraints = [
            models.UniqueConstraint(fields=["chain", "role"], name="platform_address_one_role"),
            models.CheckConstraint(
                condition=Q(address__regex=ADDRESS_TEXT), name="platform_address_format"
            ),
            models.CheckConstraint(
                condition=Q(account__isnull=True, index__isnull=True)
                | Q(account__isnull=False, index__isnull=False),
                name="platform_address_derived_or_external",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.address}"


# ------------------------------------------------------------------ the watcher


class WatcherCursor(models.Model):
    """How far the watcher got on a chain: every block up to ``block_number`` (hash
    ``block_hash``) has had its logs read and recorded. One watcher at a time advances it:
    the lease (``lease_owner`` until ``lease_until``) is taken in a short transaction."""

    chain = models.OneToOneField(Chain, on_delete=models.PROTECT, related_name="cursor")
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    head_number = models.BigIntegerField(default=0)
    head_seen_at = models.DateTimeField(null=True, blank=True)
    finalized_number = models.BigIntegerField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    rpc_errors = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} at {self.block_number}"

    @property
    def lag(self) -> int:
        return max(0, self.head_number - self.block_number)


class ChainBlock(models.Model):
    """A block the watcher processed, remembered for ``Chain.block_window`` blocks so a
    reorg is seen (parent-hash mismatch) and walked back to the fork point."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="+")
    number = models.BigIntegerField()
    hash = models.CharField(max_length=66)
    parent_hash = models.CharField(max_length=66)
    timestamp = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "number"], name="block_one_per_height"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.hash}"


class DepositState(models.TextChoices):
    SEEN = "seen", "Seen (waiting for confirmations)"
    CONFIRMED = "confirmed", "Confirmed and credited"
    DUST = "dust", "Below the dust limit (recorded, not credited)"
    ORPHANED = "orphaned", "Orphaned by a reorg before it was credited"
    REVERSED = "reversed", "Credited, then reversed by a reorg deeper than the depth"


#: states of a deposit whose block is still taken as canonical
LIVE_DEPOSIT_STATES = (DepositState.SEEN, DepositState.CONFIRMED, DepositState.DUST)


class Deposit(models.Model):
    """One ERC-20 Transfer log to a deposit address, in one block. Credited once (entry)
    at the required depth; a log re-included in another block (or under a new hash) is a
    new Deposit once the old one is ORPHANED or REVERSED."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="deposits")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="deposits")
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    from_address = models.CharField(max_length=42)
    amount_onchain = models.CharField(max_length=78, help_text="Token base units (uint256).")
    amount_units = models.BigIntegerField(help_text="Ledger units credited (rounded down).")
    dust_onchain = models.CharField(
        max_length=78, default="0", help_text="Base units below one ledger unit (not credited)."
    )
    state = models.CharField(
        max_length=16, choices=DepositState.choices, default=DepositState.SEEN, db_index=True
    )
    confirmations_required = models.PositiveIntegerField()
    entry = models.OneToOneField(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_entry = models.OneToOneField(
        "wallets.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seen_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    orphaned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-block_number", "-log_index"]
        indexes = [
            models.Index(fields=["chain", "state", "block_number"], name="deposit_pending"),
            models.Index(fields=["address", "-block_number"], name="deposit_by_address"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "tx_hash", "log_index", "block_hash"], name="deposit_once_a_block"
            ),
            models.UniqueConstraint(
                fields=["chain", "tx_hash", "log_index"],
                condition=Q(state__in=LIVE_DEPOSIT_STATES),
                name="deposit_one_live_per_log",
            ),
            _uint("deposit_amount_uint", "amount_onchain"),
            _uint("deposit_dust_uint", "dust_onchain"),
            models.CheckConstraint(
                condition=Q(amount_units__gte=0), name="deposit_units_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=(DepositState.CONFIRMED, DepositState.REVERSED))
                | Q(entry__isnull=False),
                name="deposit_credited_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(state=DepositState.REVERSED) | Q(reversal_entry__isnull=False),
                name="deposit_reversed_has_reversal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tx_hash}:{self.log_index} {self.state}"


# ------------------------------------------------------------------ the sender


class NonceCursor(models.Model):
    """The next nonce of a sending address on a chain, allocated under this row's lock."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=42)
    next_nonce = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "address"], name="nonce_one_per_address"),
        ]

    def __str__(self) -> str:
        return f"{self.address} next {self.next_nonce}"


class TxPurpose(models.TextChoices):
    GAS_TOPUP = "gas_topup", "Gas top-up of a deposit address"
    SWEEP = "sweep", "Sweep to the hot wallet"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    PAYOUT = "payout", "Merchant payout"
    REFILL = "refill", "Hot wallet refill or cold transfer"
    SETTLEMENT = "settlement", "Committee settlement batch"
    OTHER = "other", "Other"


class TxState(models.TextChoices):
    SIGNED = "signed", "Signed and stored (broadcast pending)"
    BROADCAST = "broadcast", "Broadcast (waiting to be mined)"
    MINED = "mined", "Mined (waiting for the required depth)"
    CONFIRMED = "confirmed", "Confirmed at depth (succeeded)"
    FAILED = "failed", "Mined and reverted, or refused for good"
    DROPPED = "dropped", "Its nonce was used by a transaction we did not send"


class OutgoingTransaction(models.Model):
    """One transaction the platform sends: one (chain, sender, nonce). Its signed versions
    (the first and any fee-bumped replacement) are TxAttempts; exactly one of them is
    mined. Stored signed before broadcast (a crash in between rebroadcasts the same raw
    transaction: same hash, nothing sent twice)."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="+")
    from_address = models.CharField(max_length=42)
    nonce = models.PositiveBigIntegerField()
    to_address = models.CharField(max_length=42)
    value_wei = models.CharField(max_length=78, default="0")
    data = models.TextField(default="0x", help_text="Call data, 0x-hex.")
    gas_limit = models.PositiveBigIntegerField()
    signer = models.CharField(
        max_length=64, help_text="Which key signs: an HD path, or key:<name> for a sealed key."
    )
    purpose = models.CharField(max_length=16, choices=TxPurpose.choices)
    reference = models.CharField(max_length=64, db_index=True)
    idempotency_key = models.CharField(max_length=128, unique=True)
    state = models.CharField(
        max_length=16, choices=TxState.choices, default=TxState.SIGNED, db_index=True
    )
    confirmations_required = models.PositiveIntegerField(default=1)
    bump_count = models.PositiveSmallIntegerField(default=0)
    mined_hash = models.CharField(max_length=66, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    fee_wei = models.CharField(max_length=78, blank=True, help_text="gas_used x price paid.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_broadcast_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "from_address", "nonce"], name="outgoing_one_per_nonce"
            ),
            _uint("outgoing_value_uint", "value_wei"),
            models.CheckConstraint(
                condition=Q(fee_wei="") | Q(fee_wei__regex=UINT_TEXT), name="outgoing_fee_uint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.from_address}#{self.nonce} {self.state}"


class TxAttempt(models.Model):
    """One signed version of an OutgoingTransaction (same nonce, its own fees and hash)."""

    tx = models.ForeignKey(OutgoingTransaction, on_delete=models.PROTECT, related_name="attempts")
    raw = models.TextField(help_text="The signed raw transaction, 0x-hex.")
    tx_hash = models.CharField(max_length=66, unique=True)
    max_fee_per_gas_wei = models.PositiveBigIntegerField(null=True, blank=True)
    max_priority_fee_wei = models.PositiveBigIntegerField(null=True, blank=True)
    gas_price_wei = models.PositiveBigIntegerField(null=True, blank=True, help_text="Legacy.")
    created_at = models.DateTimeField(auto_now_add=True)
    broadcast_at = models.DateTimeField(null=True, blank=True)
    broadcast_error = models.TextField(blank=True)

    class Meta:
        ordering = ["tx", "id"]

    def __str__(self) -> str:
        return self.tx_hash


class SweepState(models.TextChoices):
    TOPPING_UP = "topping_up", "Gas top-up sent"
    SWEEPING = "sweeping", "Sweep sent"
    DONE = "done", "Swept"
    FAILED = "failed", "Failed"


class Sweep(models.Model):
    """Moving a deposit address's tokens to the hot wallet: a gas top-up from the gas
    station if needed, then the ERC-20 transfer signed by the deposit address's key."""

    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="sweeps")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    amount_onchain = models.CharField(max_length=78)
    state = models.CharField(max_length=16, choices=SweepState.choices, db_index=True)
    topup = models.OneToOneField(
        OutgoingTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    transfer = models.OneToOneField(
        OutgoingTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["address", "token"],
                condition=Q(state__in=("topping_up", "sweeping")),
                name="sweep_one_in_flight",
            ),
            _uint("sweep_amount_uint", "amount_onchain"),
        ]

    def __str__(self) -> str:
        return f"sweep {self.pk} {self.state}"


# ------------------------------------------------------------------ reconciliation


class ReconciliationState(models.TextChoices):
    CLEAN = "clean", "Clean"
    EXPLAINED = "explained", "Differences, all explained"
    DRIFT = "drift", "Unexplained difference"
    ERROR = "error", "Could not run"


class ReconciliationRun(models.Model):
    """The ledger's CUSTODY against on-chain balances, per token, at one block."""

    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="+")
    block_number = models.BigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    state = models.CharField(max_length=16, choices=ReconciliationState.choices)
    drift_units = models.BigIntegerField(default=0, help_text="Unexplained, all tokens.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} at {self.block_number}: {self.state}"


class ReconciliationLine(models.Model):
    """One row of a run: what the ledger says and what the chain holds for one token at
    one place (an address, or a named total), and why they differ."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="lines")
    token = models.ForeignKey("wallets.Token", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, help_text="e.g. deposit_address, hot, vault, total")
    address = models.CharField(max_length=42, blank=True)
    onchain_units = models.BigIntegerField(default=0)
    ledger_units = models.BigIntegerField(default=0)
    difference_units = models.BigIntegerField(default=0)
    explained = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["run", "token", "kind", "address"]

    def __str__(self) -> str:
        return f"{self.kind} {self.address} {self.difference_units:+d}"
