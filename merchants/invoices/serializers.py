from decimal import Decimal

from rest_framework import serializers

from fastpay.money import format_units
from fastpay.serializers import IdentifierField, StrictFilterSerializer, StrictSerializer
from merchants.models import Invoice, InvoiceStatus
from wallets.api.serializers import AmountField, TokenField, _metadata, amount_to_units
from wallets.splits import BPS_WHOLE

MAX_SPLITS = 20


class InvoiceSplitPartSerializer(StrictSerializer):
    payee = IdentifierField(max_length=150, help_text="The part's payee (username).")
    amount = AmountField(required=False, help_text="A fixed part, in token units.")
    bps = serializers.IntegerField(
        required=False, min_value=1, max_value=BPS_WHOLE, help_text="A share of what is left."
    )

    def validate(self, attrs):
        if ("amount" in attrs) == ("bps" in attrs):
            raise serializers.ValidationError(
                {"amount": ["give either amount or bps"]}, code="invalid_split"
            )
        return attrs


class InvoiceCreateSerializer(StrictSerializer):
    token = TokenField(help_text="What the customer pays in: USDT or USDC.")
    amount = AmountField(help_text='Decimal string, in the token or in `currency`, e.g. "12.50".')
    currency = IdentifierField(
        max_length=8,
        required=False,
        default="",
        allow_blank=True,
        help_text="A fiat code (USD, EUR...) to price in: converted at a rate locked for the "
        "invoice's life. Empty: `amount` is in the token.",
    )
    expiry_seconds = serializers.IntegerField(
        required=False, min_value=60, max_value=30 * 86400, help_text="Default 900 (15 min)."
    )
    monitoring_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=30 * 86400,
        help_text="How long after expiry a late payment is still taken (by the late policy).",
    )
    confirmations = serializers.IntegerField(
        required=False, min_value=0, max_value=200, help_text="On-chain depth before final."
    )
    order_id = serializers.CharField(max_length=128, required=False, default="", allow_blank=True)
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    metadata = serializers.DictField(required=False, default=dict, validators=[_metadata])
    redirect_url = serializers.URLField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        help_text="Where the checkout page sends the customer once the invoice is settled.",
    )
    customer = IdentifierField(
        max_length=150,
        required=False,
        default="",
        allow_blank=True,
        help_text="The buyer's username when known: credited with any difference.",
    )
    splits = InvoiceSplitPartSerializer(many=True, required=False, default=list)

    def validate_redirect_url(self, value):
        if value and not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError("an http(s) URL", code="invalid")
        return value

    def validate_splits(self, value):
        if len(value) > MAX_SPLITS:
            raise serializers.ValidationError(f"at most {MAX_SPLITS} parts", code="invalid_split")
        return value

    def validate(self, attrs):
        token = attrs["token"]
        if attrs["currency"]:
            attrs["fiat_amount"] = Decimal(attrs["amount"])
            attrs["amount_units"] = None
        else:
            attrs["fiat_amount"] = None
            attrs["amount_units"] = amount_to_units(attrs["amount"], token)
        parts = []
        for i, part in enumerate(attrs["splits"]):
            if "amount" in part:
                units = amount_to_units(part["amount"], token, field=f"splits[{i}].amount")
                parts.append({"payee": part["payee"], "units": units})
            else:
                parts.append({"payee": part["payee"], "bps": part["bps"]})
        attrs["split_parts"] = parts
        return attrs


class InvoicePaySerializer(StrictSerializer):
    """Paying from your FastPay balance: no fields (the amount is what is due)."""


class InvoiceFilterSerializer(StrictFilterSerializer):
    status = serializers.ChoiceField(choices=InvoiceStatus.choices, required=False)
    order_id = serializers.CharField(max_length=128, required=False)


def _units(invoice, units: int) -> str:
    return format_units(units, invoice.token.ledger_decimals)


class InvoiceSerializer(serializers.ModelSerializer):
    merchant = serializers.CharField(source="merchant.username")
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    due = serializers.SerializerMethodField()
    received_units = serializers.IntegerField(source="received")
    pending_units = serializers.IntegerField(source="pending")
    settled_units = serializers.IntegerField(source="settled_amount")
    fee = serializers.SerializerMethodField()
    fee_units = serializers.IntegerField(source="fee")
    returned_units = serializers.IntegerField(source="returned")
    refund_due_units = serializers.IntegerField(source="refund_due")
    address = serializers.SerializerMethodField()
    payment_uri = serializers.SerializerMethodField()
    checkout_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "merchant",
            "status",
            "exception",
            "token",
            "amount",
            "amount_units",
            "due",
            "currency",
            "fiat_amount",
            "rate",
            "rate_sources",
            "rate_at",
            "received_units",
            "pending_units",
            "settled_units",
            "fee",
            "fee_units",
            "returned_units",
            "refund_due_units",
            "splits",
            "parts",
            "partial_policy",
            "partial_tolerance_bps",
            "over_policy",
            "over_tolerance_bps",
            "late_policy",
            "slippage_bps",
            "confirmations",
            "expires_at",
            "monitoring_until",
            "order_id",
            "description",
            "metadata",
            "redirect_url",
            "address",
            "payment_uri",
            "checkout_url",
            "created_at",
            "settled_at",
            "closed_reason",
        ]

    def get_amount(self, invoice) -> str:
        return _units(invoice, invoice.amount)

    def get_due(self, invoice) -> str:
        return _units(invoice, invoice.due)

    def get_fee(self, invoice) -> str:
        return _units(invoice, invoice.fee)

    def get_address(self, invoice) -> str | None:
        return invoice.address.address if invoice.address_id else None

    def get_payment_uri(self, invoice) -> str | None:
        """EIP-681: an ERC-20 transfer of what is due to the invoice's address."""
        from wallets.chain.addresses import eip681_uri

        if not invoice.address_id or invoice.due <= 0:
            return None
        return eip681_uri(invoice.token, invoice.address.address, invoice.due)

    def get_checkout_url(self, invoice) -> str:
        request = self.context.get("request")
        path = f"/checkout/{invoice.pk}/"
        return request.build_absolute_uri(path) if request is not None else path
