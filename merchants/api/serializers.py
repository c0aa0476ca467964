from rest_framework import serializers

from fastpay.serializers import IdentifierField, StrictFilterSerializer


class RateQuerySerializer(StrictFilterSerializer):
    base = IdentifierField(max_length=16, help_text="A token: USDT, USDC.")
    quote = IdentifierField(max_length=16, help_text="A fiat currency (USD, EUR) or a token.")


class RateSourceSerializer(serializers.Serializer):
    provider = serializers.CharField()
    rate = serializers.CharField(help_text="Decimal text.")
    at = serializers.IntegerField(help_text="Unix seconds the provider's price is from.")


class RateDroppedSerializer(serializers.Serializer):
    provider = serializers.CharField()
    reason = serializers.CharField()


class RateSerializer(serializers.Serializer):
    base = serializers.CharField()
    quote = serializers.CharField()
    rate = serializers.CharField(help_text="1 base = rate quote, decimal text (never a float).")
    sources = RateSourceSerializer(many=True)
    dropped = RateDroppedSerializer(many=True)
    computed_at = serializers.IntegerField(help_text="Unix seconds.")
