"""Parse and render; no business rules here (they live in wallets/services)."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt

from fastpay.errors import DomainError
from fastpay.idempotency_keys import MAX_KEY_LENGTH, idempotency_key_validate
from fastpay.models import ApiKey, ApiKeyScope
from fastpay.money import AmountError, format_units, parse_units
from fastpay.schema import IDEMPOTENCY_KEY_SCHEMA
from fastpay.serializers import IdentifierField, StrictFilterSerializer, StrictSerializer
from fastpay_protocol import amounts
from wallets.models import AccountKind, EntryKind, Payment, PaymentState, Posting, Token, User
from wallets.services.payment_parts import shares_payload
from wallets.services.users import SIGNUP_ROLES
from wallets.splits import BPS_WHOLE

METADATA_MAX_KEYS = 20
METADATA_MAX_VALUE = 500
SPLIT_MAX_PARTS = 20


class AmountField(serializers.CharField):
    """A decimal string in token units ("12.50"), by fastpay_protocol.amounts' grammar.
    Numbers are refused: JSON numbers arrive as floats and floats are inexact. Not
    trimmed: " 12.50 " is refused like every other amount outside the grammar."""

    default_error_messages = {
        "not_a_string": 'send the amount as a decimal string, e.g. "12.50"',
        "invalid_amount": f"not a plain decimal amount: {amounts.GRAMMAR}",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", amounts.MAX_LENGTH)
        kwargs["trim_whitespace"] = False
        # "" reaches the grammar (invalid_amount) instead of DRF's "blank"
        kwargs["allow_blank"] = True
        # for the schema's `pattern`; the check below answers first, with our code
        kwargs.setdefault("validators", [RegexValidator(f"^{amounts.AMOUNT_RE.pattern}$")])
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if len(data) > amounts.MAX_LENGTH or amounts.AMOUNT_RE.fullmatch(data) is None:
            self.fail("invalid_amount")
        return super().to_internal_value(data)


def amount_to_units(amount: str, token: Token, field: str = "amount") -> int:
    try:
        return parse_units(amount, token.ledger_decimals)
    except AmountError as exc:
        raise serializers.ValidationError({field: [str(exc)]}, code="invalid_amount") from None


class TokenField(serializers.SlugRelatedField):
    """A token symbol, any case ("usdt" is USDT); surrounding whitespace is refused."""

    default_error_messages = {
        "does_not_exist": "unknown token {value!r}",
        "incorrect_type": 'send the token symbol as a string, e.g. "USDT"',
        "whitespace": "remove the surrounding whitespace",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="symbol", queryset=Token.objects.all(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("incorrect_type")
        if data != data.strip():
            self.fail("whitespace")
        data = data.upper()
        # A batch passes every token in its context: one query per request, not per item.
        known = self.context.get("tokens")
        if known is not None and data in known:
            return known[data]
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            messages = [str(detail) for detail in exc.detail]
            raise serializers.ValidationError(messages, code="unknown_token") from None


class TokenSymbolField(TokenField):
    """A filter's token: validated like a body's, given to selectors as its symbol."""

    def to_internal_value(self, data):
        return super().to_internal_value(data).symbol


@extend_schema_field(IDEMPOTENCY_KEY_SCHEMA)
class IdempotencyKeyField(serializers.Field):
    """A batch item's key: the same rule as the Idempotency-Key header."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text", f"1-{MAX_KEY_LENGTH} printable ASCII characters, no space at either end."
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return idempotency_key_validate(data, self.field_name)
        except DomainError as exc:
            raise serializers.ValidationError(exc.message, code=exc.code) from None

    def to_representation(self, value):
        return value


def _metadata(value: dict) -> dict:
    if len(value) > METADATA_MAX_KEYS:
        raise serializers.ValidationError(f"at most {METADATA_MAX_KEYS} keys")
    for key, item in value.items():
        if not isinstance(item, str | int | bool) or isinstance(item, float):
            raise serializers.ValidationError(f"{key}: values are strings, integers or booleans")
        if len(str(key)) > 40 or len(str(item)) > METADATA_MAX_VALUE:
            raise serializers.ValidationError(f"{key}: key or value too long")
    return value


class SignupSerializer(StrictSerializer):
    username = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{3,40}\Z",
        trim_whitespace=False,
        help_text="3-40 of A-Z a-z 0-9 _ . - ; unique ignoring case and look-alikes.",
    )
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    role = serializers.ChoiceField(choices=SIGNUP_ROLES)


class TokenObtainPairSerializer(StrictSerializer, jwt.TokenObtainPairSerializer):
    """POST /auth/token/: simplejwt's (same schema name), refusing unknown fields."""


class TokenRefreshSerializer(StrictSerializer, jwt.TokenRefreshSerializer):
    """POST /auth/token/refresh/: simplejwt's (same schema name), refusing unknown fields."""


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "status", "date_joined"]
        read_only_fields = fields


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = Token
        fields = [
            "symbol",
            "name",
            "chain_id",
            "contract_address",
            "decimals",
            "ledger_decimals",
            "enabled",
        ]
        read_only_fields = fields


class BalanceSerializer(serializers.Serializer):
    token = serializers.CharField(source="token.symbol")
    available = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField()
    available_units = serializers.IntegerField(source="available")
    held_units = serializers.IntegerField(source="held")

    def get_available(self, row) -> str:
        return format_units(row["available"], row["token"].ledger_decimals)

    def get_held(self, row) -> str:
        return format_units(row["held"], row["token"].ledger_decimals)


class BpsField(serializers.IntegerField):
    """Basis points: a JSON integer from 1 to 10000 (not "2500", not 25.0, not true)."""

    default_error_messages = {
        "not_an_integer": "send basis points as a JSON integer, e.g. 2500",
        "invalid_split": f"basis points are between 1 and {BPS_WHOLE}",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        if not 1 <= data <= BPS_WHOLE:
            self.fail("invalid_split")
        return data


class SplitPartSerializer(StrictSerializer):
    payee = IdentifierField(max_length=150, help_text="This part's payee (username, any case).")
    amount = AmountField(
        required=False, help_text='A fixed part of the amount, in token units ("2.50").'
    )
    bps = BpsField(
        required=False,
        help_text="Or a share, in basis points, of what the fixed parts leave (1-10000).",
    )

    def validate(self, attrs):
        if ("amount" in attrs) == ("bps" in attrs):
            raise serializers.ValidationError(
                "a part has either an amount or bps, not both", code="invalid_split"
            )
        return attrs


class PaymentCreateSerializer(StrictSerializer):
    payee = IdentifierField(
        max_length=150,
        required=False,
        help_text="The payee's username (any case); or `splits` instead.",
    )
    splits = serializers.ListField(
        child=SplitPartSerializer(),
        required=False,
        min_length=1,
        max_length=SPLIT_MAX_PARTS,
        help_text="Instead of `payee`: the payees sharing the amount, each with a fixed "
        "`amount` or `bps` (basis points of what the fixed parts leave; together 10000). "
        "Exact in ledger units; the rounding remainder goes to the largest remainders, "
        "ties to the part listed first (docs/splits.md).",
    )
    token = TokenField(help_text="Token symbol, e.g. USDT.")
    amount = AmountField(help_text='Decimal string in token units, e.g. "12.50".')
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    metadata = serializers.DictField(required=False, default=dict, validators=[_metadata])
    latitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        required=False,
        min_value=Decimal(-90),
        max_value=Decimal(90),
    )
    longitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        required=False,
        min_value=Decimal(-180),
        max_value=Decimal(180),
    )

    def validate(self, attrs):
        if ("latitude" in attrs) != ("longitude" in attrs):
            missing = "longitude" if "latitude" in attrs else "latitude"
            raise serializers.ValidationError(
                {missing: ["latitude and longitude go together"]}, code="required"
            )
        attrs["amount_units"] = amount_to_units(attrs["amount"], attrs["token"])
        if ("payee" in attrs) == ("splits" in attrs):
            if "payee" in attrs:
                raise serializers.ValidationError(
                    {"splits": ["send either payee or splits, not both"]}, code="invalid_split"
                )
            raise serializers.ValidationError(
                {"payee": ["a payee (or splits) is required"]}, code="required"
            )
        for i, part in enumerate(attrs.get("splits", ())):
            if "amount" in part:
                field = f"splits[{i}].amount"
                part["units"] = amount_to_units(part["amount"], attrs["token"], field)
        return attrs


class BatchItemSerializer(PaymentCreateSerializer):
    idempotency_key = IdempotencyKeyField(
        required=False,
        help_text=f"Makes retrying this item safe: 1-{MAX_KEY_LENGTH} printable ASCII "
        "characters, no space at either end.",
    )


class PaymentBatchSerializer(StrictSerializer):
    payments = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=settings.FASTPAY_BATCH_MAX_ITEMS,
        help_text="Up to 500 payment objects (same fields as a single payment).",
    )


class PaymentPartSerializer(serializers.Serializer):
    """One part of a split payment (rendered from Payment.splits)."""

    payee = serializers.CharField()
    payee_id = serializers.IntegerField()
    bps = serializers.IntegerField(allow_null=True, help_text="null: a fixed part.")
    gross_units = serializers.IntegerField(help_text="This part of the amount (ledger units).")
    fee_units = serializers.IntegerField(help_text="The platform's fee on it (ledger units).")
    units = serializers.IntegerField(help_text="Credited to the payee: gross - fee.")
    amount = serializers.CharField(help_text="`units` as a decimal string.")
    refunded_units = serializers.IntegerField()


class PaymentSerializer(serializers.ModelSerializer):
    payer = serializers.CharField(source="payer.username")
    payee = serializers.CharField(
        source="payee.username", help_text="The payee (a split payment's first part's)."
    )
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    fee = serializers.SerializerMethodField(
        help_text="The platform's fee, credited to FEES: the payees received amount - fee."
    )
    fee_units = serializers.IntegerField(source="fee")
    splits = serializers.SerializerMethodField()
    refunded = serializers.SerializerMethodField()
    refunded_units = serializers.IntegerField(source="refunded_amount")

    class Meta:
        model = Payment
        fields = [
            "id",
            "payer",
            "payee",
            "token",
            "amount",
            "amount_units",
            "fee",
            "fee_units",
            "splits",
            "refunded",
            "refunded_units",
            "state",
            "sequence",
            "description",
            "metadata",
            "latitude",
            "longitude",
            "failure_code",
            "risk_score",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_amount(self, payment) -> str:
        return format_units(payment.amount, payment.token.ledger_decimals)

    def get_fee(self, payment) -> str:
        return format_units(payment.fee, payment.token.ledger_decimals)

    @extend_schema_field(PaymentPartSerializer(many=True))
    def get_splits(self, payment) -> list[dict]:
        return shares_payload(payment)

    def get_refunded(self, payment) -> str:
        return format_units(payment.refunded_amount, payment.token.ledger_decimals)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True)


class PaymentBatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="The HTTP status this item alone would get.")
    replayed = serializers.BooleanField()
    payment = PaymentSerializer(required=False)
    error = ErrorSerializer(required=False)


class PaymentBatchResponseSerializer(serializers.Serializer):
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = PaymentBatchResultSerializer(many=True)


class PaymentFilterSerializer(StrictFilterSerializer):
    state = serializers.ChoiceField(choices=PaymentState.choices, required=False)
    token = TokenSymbolField(required=False)
    role = serializers.ChoiceField(choices=["payer", "payee"], required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class RefundCreateSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Omit for a full refund of what is left.")
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class RefundSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    payment = serializers.UUIDField(source="payment_id")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_amount(self, refund) -> str:
        return format_units(refund.amount, refund.payment.token.ledger_decimals)


class StatementLineListSerializer(serializers.ListSerializer):
    """Looks up the fees of a whole page at once: ``context["fees_for"]`` (the selector
    ``posting_fees``) maps the page's postings to their fees in two queries."""

    def to_representation(self, data):
        lines = list(data.all() if hasattr(data, "all") else data)
        fees_for = self.context.get("fees_for")
        self.child.fees = fees_for(lines) if fees_for else {}
        return super().to_representation(lines)


class StatementLineSerializer(serializers.ModelSerializer):
    entry = serializers.IntegerField(source="entry_id")
    kind = serializers.CharField(source="entry.kind")
    reference = serializers.CharField(source="entry.reference")
    memo = serializers.CharField(source="entry.memo")
    token = serializers.CharField(source="token.symbol")
    account = serializers.CharField(source="account.kind")
    amount = serializers.SerializerMethodField()
    amount_units = serializers.IntegerField(source="amount")
    fee = serializers.SerializerMethodField()
    fee_units = serializers.SerializerMethodField(
        help_text="The platform's fee in this line's entry, as it concerns you: on a payment "
        "you received, the fee taken from your part; on one you sent, the payment's fee "
        "(it came out of your amount); on other entries with a fee (withdrawals, "
        "invoices), the entry's fee. null: the entry has no fee."
    )

    fees: dict[int, int] = {}

    class Meta:
        model = Posting
        list_serializer_class = StatementLineListSerializer
        fields = [
            "id",
            "entry",
            "kind",
            "reference",
            "memo",
            "token",
            "account",
            "amount",
            "amount_units",
            "fee",
            "fee_units",
            "created_at",
        ]
        read_only_fields = fields

    def get_amount(self, posting) -> str:
        return format_units(posting.amount, posting.token.ledger_decimals)

    def get_fee_units(self, posting) -> int | None:
        return self.fees.get(posting.pk)

    def get_fee(self, posting) -> str | None:
        units = self.fees.get(posting.pk)
        return None if units is None else format_units(units, posting.token.ledger_decimals)


class StatementFilterSerializer(StrictFilterSerializer):
    token = TokenSymbolField(required=False)
    account = serializers.ChoiceField(
        choices=[AccountKind.AVAILABLE, AccountKind.HELD], required=False
    )
    kind = serializers.ChoiceField(choices=EntryKind.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class ApiKeyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=64)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices), min_length=1
    )


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret: shown once, store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
