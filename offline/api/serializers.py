from rest_framework import serializers

from fastpay.money import format_units
from fastpay.serializers import StrictFilterSerializer, StrictSerializer
from offline.models import OfflineTransfer, Redemption, RedemptionState, Voucher
from offline.services.redemptions import MAX_BATCH
from wallets.api.serializers import AmountField, TokenField


class VoucherRegisterSerializer(StrictSerializer):
    certificate = serializers.DictField(
        help_text="Certificate (docs/protocol.md) from your FastPay address to the fresh "
        "voucher address, certified and confirmed by the committee"
    )
    validity_s = serializers.IntegerField(
        min_value=1, help_text="Requested validity from now, seconds (capped by the platform)"
    )


class VoucherSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    not_before = serializers.SerializerMethodField()
    not_after = serializers.SerializerMethodField()
    issuer = serializers.SerializerMethodField()
    collateral_units = serializers.IntegerField(
        source="collateral",
        help_text="Your online balance held while the voucher is outstanding (ledger units)",
    )
    collateral_held_units = serializers.IntegerField(
        source="collateral_held", help_text="Of it, still held (0 once released)"
    )

    class Meta:
        model = Voucher
        fields = [
            "id",
            "address",
            "payer",
            "token",
            "amount",
            "amount_units",
            "sequence",
            "epoch",
            "not_before",
            "not_after",
            "ticket",
            "issuer",
            "state",
            "collateral_units",
            "collateral_held_units",
            "collateral_released_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_amount(self, voucher) -> str:
        return format_units(voucher.amount, voucher.token.ledger_decimals)

    def get_not_before(self, voucher) -> int:
        """Unix seconds (signed in the ticket)."""
        return int(voucher.not_before.timestamp())

    def get_not_after(self, voucher) -> int:
        """Unix seconds (signed in the ticket)."""
        return int(voucher.not_after.timestamp())

    def get_issuer(self, voucher) -> str | None:
        """The address whose signature the ticket is: terminals pin it."""
        return self.context.get("issuer")


class SyncItemSerializer(StrictSerializer):
    payment = serializers.CharField(max_length=4000, help_text="The payment string (FP...)")


class SyncSerializer(StrictSerializer):
    items = SyncItemSerializer(many=True, allow_empty=False, max_length=MAX_BATCH)


class RedemptionSerializer(serializers.ModelSerializer):
    voucher = serializers.CharField(source="voucher_address")
    amount_units = serializers.IntegerField(source="amount")

    class Meta:
        model = Redemption
        fields = [
            "id",
            "spend_id",
            "voucher",
            "amount_units",
            "state",
            "reason",
            "detail",
            "created_at",
            "settled_at",
        ]
        read_only_fields = fields


class RedemptionFilterSerializer(StrictFilterSerializer):
    state = serializers.ChoiceField(choices=RedemptionState.choices, required=False)


class SyncResultSerializer(serializers.Serializer):
    results = RedemptionSerializer(many=True)


class TerminalConfigSerializer(serializers.Serializer):
    committee = serializers.DictField(help_text="GET /committee of the authorities")
    previous_committees = serializers.ListField(
        child=serializers.DictField(),
        help_text="Committees of previous epochs whose vouchers are still accepted",
    )
    issuer = serializers.CharField(
        allow_null=True,
        help_text="The address that signs voucher tickets (null: no platform key configured)",
    )
    vendor = serializers.CharField(allow_null=True, help_text="Your FastPay address")
    grace_s = serializers.IntegerField(help_text="Sync within the window plus this to be paid")
    sweep_margin_s = serializers.IntegerField(
        help_text="Wallets sweep an unspent voucher only after not_after + grace_s + this"
    )
    now = serializers.IntegerField(
        help_text="The platform's clock, unix seconds (wallets judge deadlines by it)"
    )


class LinkSerializer(StrictSerializer):
    # \Z and no trimming: a trailing newline is refused, not matched by $ or trimmed away.
    address = serializers.RegexField(r"^0x[0-9a-fA-F]{40}\Z", trim_whitespace=False)
    signature = serializers.RegexField(
        r"^0x[0-9a-fA-F]{130}\Z",
        trim_whitespace=False,
        help_text='EIP-191 personal_sign of "FastPay: link <address> to user <username>"',
    )


class FundSerializer(StrictSerializer):
    token = TokenField()
    amount = AmountField()


class DefundSerializer(StrictSerializer):
    certificate = serializers.DictField(
        help_text="A certificate (docs/protocol.md) from your FastPay address to the platform's"
    )


class OfflineTransferSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")

    class Meta:
        model = OfflineTransfer
        fields = [
            "id",
            "direction",
            "token",
            "amount",
            "amount_units",
            "state",
            "sender",
            "recipient",
            "sequence",
            "epoch",
            "certificate",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_amount(self, transfer) -> str:
        return format_units(transfer.amount, transfer.token.ledger_decimals)


class FastPayAccountSerializer(serializers.Serializer):
    address = serializers.CharField()
    platform_address = serializers.CharField(allow_null=True)
    state = serializers.DictField(allow_null=True, help_text="The committee's view, if reachable")
