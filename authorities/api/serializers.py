from rest_framework import serializers

from authorities.models import OfflineTransfer
from fastpay.money import format_units
from wallets.api.serializers import AmountField, TokenField


class LinkSerializer(serializers.Serializer):
    address = serializers.RegexField(r"^0x[0-9a-fA-F]{40}$")
    signature = serializers.RegexField(
        r"^0x[0-9a-fA-F]{130}$",
        help_text='EIP-191 personal_sign of "FastPay: link <address> to user <username>"',
    )


class FundSerializer(serializers.Serializer):
    token = TokenField()
    amount = AmountField()


class DefundSerializer(serializers.Serializer):
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
