from rest_framework import serializers

from fastpay.money import format_units
from fastpay.serializers import IdentifierField, StrictSerializer
from wallets.api.serializers import AmountField, TokenField, amount_to_units
from wallets.escrow.models import Hold, HoldKind


class HoldCreateSerializer(StrictSerializer):
    payee = IdentifierField(
        max_length=150, help_text="The payee's (merchant's, seller's) username."
    )
    token = TokenField(help_text="Token symbol, e.g. USDT.")
    amount = AmountField(help_text='Decimal string in token units, e.g. "12.50".')
    kind = serializers.ChoiceField(choices=HoldKind.choices)
    expires_at = serializers.DateTimeField(
        help_text="The deadline: an authorization expires (money back), a marketplace hold "
        "is released to the seller unless disputed. At most 90 days ahead."
    )
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )

    def validate(self, attrs):
        attrs["amount_units"] = amount_to_units(attrs["amount"], attrs["token"])
        return attrs


class HoldCaptureSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Part of the hold; default all of it.")


class HoldDisputeSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=255)


class HoldSerializer(serializers.ModelSerializer):
    payer = serializers.CharField(source="payer.username")
    payee = serializers.CharField(source="payee.username")
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    posted_amount = serializers.SerializerMethodField()
    posted_amount_units = serializers.IntegerField(source="posted_amount")

    class Meta:
        model = Hold
        fields = [
            "id",
            "kind",
            "payer",
            "payee",
            "token",
            "amount",
            "amount_units",
            "posted_amount",
            "posted_amount_units",
            "state",
            "expires_at",
            "description",
            "dispute_reason",
            "decision_note",
            "created_at",
            "resolved_at",
        ]

    def get_amount(self, hold) -> str:
        return format_units(hold.amount, hold.token.ledger_decimals)

    def get_posted_amount(self, hold) -> str:
        return format_units(hold.posted_amount, hold.token.ledger_decimals)
