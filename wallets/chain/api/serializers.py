"""Deposit addresses: parse (strictly: unknown fields, strings for numbers and surrounding
spaces are refused) and render; the rules live in wallets/chain/addresses.py."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fastpay.serializers import IdentifierField, StrictSerializer
from wallets.api.serializers import AmountField
from wallets.chain import addresses
from wallets.chain.models import DepositAddress

#: chain ids are stored as PostgreSQL bigint: anything larger is no chain, refused as input
MAX_CHAIN_ID = 2**63 - 1


class ChainIdField(serializers.IntegerField):
    """A JSON integer (not "56", not 56.0, not true), 1 to 2^63-1."""

    default_error_messages = {"not_an_integer": "send the chain id as a JSON integer, e.g. 56"}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_CHAIN_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class SymbolField(IdentifierField):
    """A token symbol: a JSON string only (DRF would take 56 for "56")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DepositAddressCreateSerializer(StrictSerializer):
    chain_id = ChainIdField(required=False, help_text="EIP-155 chain id, e.g. 56 (BSC).")
    token = SymbolField(required=False, help_text='A token symbol, e.g. "USDT": its chain.')

    def validate(self, attrs):
        if "chain_id" not in attrs and "token" not in attrs:
            raise serializers.ValidationError(
                {"chain_id": ["give chain_id or token"]}, code="required"
            )
        return attrs


class DepositQrQuerySerializer(StrictSerializer):
    token = SymbolField(help_text='The token to pay in, e.g. "USDT".')
    amount = AmountField(required=False, help_text='Optional amount in token units, "12.50".')


class DepositTokenSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    contract_address = serializers.CharField()
    decimals = serializers.IntegerField(help_text="On-chain decimals of the token.")
    eip681_uri = serializers.CharField(help_text="EIP-681 payment request (no amount).")
    confirmations = serializers.IntegerField(
        help_text="Blocks a deposit waits before it is credited (larger amounts may wait longer)."
    )


class DepositAddressSerializer(serializers.ModelSerializer):
    chain_id = serializers.IntegerField(source="chain.chain_id")
    tokens = serializers.SerializerMethodField()

    class Meta:
        model = DepositAddress
        fields = ["id", "chain_id", "address", "created_at", "tokens"]
        read_only_fields = fields

    @extend_schema_field(DepositTokenSerializer(many=True))
    def get_tokens(self, row: DepositAddress) -> list[dict]:
        # a list page renders many addresses of few chains: one token query per chain
        cache = self.context.setdefault("chain_tokens", {})
        if row.chain_id not in cache:
            cache[row.chain_id] = [
                (token, addresses.confirmations_for(token, row.chain))
                for token in addresses.deposit_tokens(row.chain)
            ]
        return [
            {
                "symbol": token.symbol,
                "contract_address": token.contract_address,
                "decimals": token.decimals,
                "eip681_uri": addresses.eip681_uri(token, row.address),
                "confirmations": confirmations,
            }
            for token, confirmations in cache[row.chain_id]
        ]
