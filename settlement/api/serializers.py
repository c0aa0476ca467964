"""Parse and render withdrawals; the rules live in settlement/services."""

from rest_framework import serializers

from fastpay.money import format_units
from fastpay.serializers import StrictFilterSerializer, StrictSerializer
from settlement.models import AllowedAddress, Withdrawal, WithdrawalState
from wallets.api.serializers import AmountField, TokenField, TokenSymbolField, amount_to_units


class WithdrawalCreateSerializer(StrictSerializer):
    token = TokenField(help_text="Token symbol, e.g. USDT.")
    amount = AmountField(
        help_text='Decimal string in token units sent to the destination, "25.00".'
    )
    destination = serializers.CharField(
        max_length=64, trim_whitespace=False, help_text="EIP-55 checksummed address (0x...)."
    )
    chain_id = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The chain you expect (refused if the token is on another one).",
    )
    fee = AmountField(
        required=False,
        help_text="The fee you were quoted (GET /withdrawals/quote/): refused with fee_changed "
        "if it is not the fee now.",
    )

    def validate(self, attrs):
        token = attrs["token"]
        attrs["amount_units"] = amount_to_units(attrs["amount"], token)
        if "fee" in attrs:
            attrs["fee_units"] = amount_to_units(attrs["fee"], token, "fee")
        return attrs


class WithdrawalReviseSerializer(StrictSerializer):
    amount = AmountField(required=False)
    destination = serializers.CharField(required=False, max_length=64, trim_whitespace=False)
    revision = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The revision you are changing (stale_revision if it moved meanwhile).",
    )


class WithdrawalFilterSerializer(StrictFilterSerializer):
    state = serializers.ChoiceField(choices=WithdrawalState.choices, required=False)
    token = TokenSymbolField(required=False)


class QuoteQuerySerializer(StrictSerializer):
    token = TokenField()
    amount = AmountField()

    def validate(self, attrs):
        attrs["amount_units"] = amount_to_units(attrs["amount"], attrs["token"])
        return attrs


class WithdrawalSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="token.symbol")
    chain_id = serializers.IntegerField(source="chain.chain_id")
    amount = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    approvals = serializers.SerializerMethodField()
    tx_hash = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "state",
            "token",
            "chain_id",
            "destination",
            "amount",
            "amount_units",
            "fee",
            "fee_units",
            "total",
            "revision",
            "required_approvals",
            "approvals",
            "unlock_at",
            "waiting_reason",
            "tx_hash",
            "amount_onchain",
            "reason",
            "note",
            "created_at",
            "approved_at",
            "paid_at",
            "closed_at",
        ]
        read_only_fields = fields

    def _units(self, w: Withdrawal, units: int) -> str:
        return format_units(units, w.token.ledger_decimals)

    def get_amount(self, w: Withdrawal) -> str:
        return self._units(w, w.amount_units)

    def get_fee(self, w: Withdrawal) -> str:
        return self._units(w, w.fee_units)

    def get_total(self, w: Withdrawal) -> str:
        return self._units(w, w.total_units)

    def get_approvals(self, w: Withdrawal) -> int:
        """Approvals of the current revision."""
        return sum(1 for a in w.approvals.all() if a.revision == w.revision)

    def get_tx_hash(self, w: Withdrawal) -> str | None:
        if w.tx is None:
            return None
        if w.tx.mined_hash:
            return w.tx.mined_hash
        attempts = sorted(w.tx.attempts.all(), key=lambda a: a.pk)
        return attempts[-1].tx_hash if attempts else None

    def get_reason(self, w: Withdrawal) -> str | None:
        return w.cancel_reason or w.failure_code or None


class QuoteSerializer(serializers.Serializer):
    token = serializers.CharField()
    chain_id = serializers.IntegerField()
    amount = serializers.CharField()
    amount_units = serializers.IntegerField()
    fee = serializers.CharField()
    fee_units = serializers.IntegerField()
    total = serializers.CharField()
    total_units = serializers.IntegerField()
    fee_policy = serializers.CharField(help_text="flat: the token's fixed fee, in the token")
    required_approvals = serializers.IntegerField()
    timelock_s = serializers.IntegerField()
    daily_limit_left_units = serializers.IntegerField()


class AllowedAddressCreateSerializer(StrictSerializer):
    address = serializers.CharField(max_length=64, trim_whitespace=False)
    chain_id = serializers.IntegerField(min_value=1)
    label = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)


class AllowedAddressSerializer(serializers.ModelSerializer):
    chain_id = serializers.IntegerField(source="chain.chain_id")

    class Meta:
        model = AllowedAddress
        fields = ["id", "chain_id", "address", "label", "usable_at", "created_at", "removed_at"]
        read_only_fields = fields
