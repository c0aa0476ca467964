"""Merchant payouts over the API (docs/withdrawals.md, "Merchant payouts"): ask for one now,
list them, one in detail, and its statement (the ledger entries it paid out) as CSV."""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.idempotency import idempotent
from fastpay.models import ApiKeyScope
from fastpay.money import format_units
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY, error
from fastpay.serializers import StrictFilterSerializer, StrictSerializer
from settlement.payouts.models import Payout, PayoutState
from settlement.payouts.selectors import payout_lines_with_fees, payouts_platform_fees
from settlement.payouts.services import payout_create
from wallets.api.serializers import TokenField, TokenSymbolField

TAGS = ["payouts"]


class PayoutCreateSerializer(StrictSerializer):
    token = TokenField(help_text="Token symbol, e.g. USDT: its whole available balance.")
    destination = serializers.CharField(
        required=False,
        max_length=64,
        trim_whitespace=False,
        help_text="One of your withdrawal addresses (EIP-55); default: your schedule's.",
    )


class PayoutFilterSerializer(StrictFilterSerializer):
    state = serializers.ChoiceField(choices=PayoutState.choices, required=False)
    token = TokenSymbolField(required=False)


class PayoutListSerializer(serializers.ListSerializer):
    """The platform fees of a whole page in three queries (payouts_platform_fees)."""

    def to_representation(self, data):
        payouts = list(data.all() if hasattr(data, "all") else data)
        self.child.platform_fees = payouts_platform_fees(payouts)
        return super().to_representation(payouts)


class PayoutSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="token.symbol")
    chain_id = serializers.IntegerField(source="chain.chain_id")
    gross = serializers.SerializerMethodField(help_text="Sum of the entries paid out.")
    fee = serializers.SerializerMethodField(help_text="The withdrawal fee on this payout.")
    amount = serializers.SerializerMethodField(help_text="Sent to the destination.")
    platform_fees = serializers.SerializerMethodField(
        help_text="The platform's fees on the payments and invoices this payout pays out, "
        "charged when they were received (the entries are already net of them)."
    )
    platform_fees_units = serializers.SerializerMethodField()
    entries = serializers.IntegerField(source="lines.count", help_text="Ledger entries paid out.")
    tx_hash = serializers.SerializerMethodField()
    scheduled = serializers.SerializerMethodField()

    class Meta:
        model = Payout
        fields = [
            "id",
            "token",
            "chain_id",
            "destination",
            "gross",
            "fee",
            "amount",
            "gross_units",
            "fee_units",
            "amount_units",
            "platform_fees",
            "platform_fees_units",
            "entries",
            "state",
            "scheduled",
            "period",
            "waiting_reason",
            "failure_code",
            "note",
            "tx_hash",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields
        list_serializer_class = PayoutListSerializer

    def _units(self, obj, value) -> str:
        return format_units(value, obj.token.ledger_decimals)

    def get_gross(self, obj) -> str:
        return self._units(obj, obj.gross_units)

    def get_fee(self, obj) -> str:
        return self._units(obj, obj.fee_units)

    def get_amount(self, obj) -> str:
        return self._units(obj, obj.amount_units)

    def get_platform_fees_units(self, obj) -> int:
        known = getattr(self, "platform_fees", None)
        if known is None or obj.pk not in known:
            known = self.platform_fees = {**(known or {}), **payouts_platform_fees([obj])}
        return known.get(obj.pk, 0)

    def get_platform_fees(self, obj) -> str:
        return self._units(obj, self.get_platform_fees_units(obj))

    def get_scheduled(self, obj) -> bool:
        return obj.schedule_id is not None and not obj.period.startswith("demand:")

    def get_tx_hash(self, obj) -> str | None:
        if obj.batch_id is None:
            return None
        tx = obj.batch.tx
        return tx.mined_hash or tx.attempts.order_by("-id").values_list("tx_hash", flat=True)[0]


REFUSED = {
    400: error(
        "Nothing to pay out, below the minimum, no destination, or a bad address.",
        ("nothing_to_pay_out", "The available balance of this token is zero.", "token"),
        ("payout_below_minimum", "The available balance is below the minimum.", "token"),
        ("invalid_checksum", "The address's EIP-55 checksum is wrong.", "destination"),
    ),
    403: error(
        "Not a merchant, or the destination is not on your list (or still cooling down).",
        ("payouts_merchants_only", "Payouts are for merchant accounts.", None),
        (
            "destination_not_allowed",
            "Add this address to your withdrawal addresses first.",
            "destination",
        ),
    ),
}


def _rows():
    return Payout.objects.select_related("token", "chain", "batch__tx")


def _own(request, payout_id) -> Payout:
    payout = _rows().filter(user=request.user, pk=payout_id).first()
    if payout is None:
        raise NotFound("no such payout", param="payout_id")
    return payout


class PayoutListCreateApi(APIView):
    pagination_class = CreatedCursorPagination

    def get_permissions(self):
        needed = (
            ApiKeyScope.PAYMENTS_WRITE
            if self.request.method == "POST"
            else (ApiKeyScope.PAYMENTS_READ)
        )
        return [IsApprovedUser(), scope(needed)()]

    @extend_schema(
        tags=TAGS,
        summary="List your payouts, newest first",
        parameters=[PayoutFilterSerializer],
        responses=PayoutSerializer(many=True),
    )
    def get(self, request):
        filters = PayoutFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = _rows().filter(user=request.user)
        if filters.validated_data.get("state"):
            rows = rows.filter(state=filters.validated_data["state"])
        if filters.validated_data.get("token"):
            rows = rows.filter(token__symbol=filters.validated_data["token"])
        return paginated_response(self, request, rows, PayoutSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Pay out your available balance of a token now",
        description="Reserves the whole available balance at once and lists the ledger "
        "entries it pays out (GET .../statement.csv). It goes out with the next batch. "
        "Send an Idempotency-Key to retry safely: the same key answers with the same "
        "payout (200).",
        request=PayoutCreateSerializer,
        responses={201: PayoutSerializer, 200: PayoutSerializer, **REFUSED},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request):
        data = PayoutCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout, created = payout_create(
            user=request.user,
            token=data.validated_data["token"],
            destination=data.validated_data.get("destination"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(PayoutSerializer(_own(request, payout.pk)).data, status=code)


class PayoutDetailApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(tags=TAGS, summary="One of your payouts", responses=PayoutSerializer)
    def get(self, request, payout_id):
        return Response(PayoutSerializer(_own(request, payout_id)).data)


STATEMENT_HEADER = [
    "posting_id",
    "entry_id",
    "created_at",
    "kind",
    "reference",
    "memo",
    "amount",
    "amount_units",
    "platform_fee_units",
]


def statement_rows(payout: Payout) -> list[list]:
    """One row per posting paid out (with the platform's fee charged on it, if any:
    the amount is already net of it), then the total, the fee and the payout."""
    decimals = payout.token.ledger_decimals
    rows = [
        [
            line.posting_id,
            line.posting.entry_id,
            line.posting.created_at.isoformat(),
            line.posting.entry.kind,
            line.posting.entry.reference,
            line.posting.entry.memo,
            format_units(line.amount, decimals),
            line.amount,
            "" if platform_fee is None else platform_fee,
        ]
        for line, platform_fee in payout_lines_with_fees(payout)
    ]
    rows.append(
        [
            "",
            "",
            "",
            "total",
            "",
            "",
            format_units(payout.gross_units, decimals),
            payout.gross_units,
            "",
        ]
    )
    rows.append(
        [
            "",
            "",
            "",
            "fee",
            "",
            "",
            format_units(-payout.fee_units, decimals),
            -payout.fee_units,
            "",
        ]
    )
    rows.append(
        [
            "",
            "",
            "",
            "payout",
            str(payout.pk),
            payout.state,
            format_units(payout.amount_units, decimals),
            payout.amount_units,
            "",
        ]
    )
    return rows


class PayoutStatementApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(
        tags=TAGS,
        summary="The ledger entries a payout paid out, as CSV",
        description="One row per posting of your available balance the payout covers (your "
        "payments, refunds, withdrawals, a failed payout's money back ...; "
        "`platform_fee_units`: the platform's fee charged on that money when it was "
        "received, already deducted), then the total (equals the payout's gross), the fee "
        "(negative) and the amount sent.",
        responses={200: OpenApiResponse(OpenApiTypes.STR, description="text/csv")},
    )
    def get(self, request, payout_id):
        payout = _own(request, payout_id)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(STATEMENT_HEADER)
        writer.writerows(statement_rows(payout))
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="payout-{payout.pk}.csv"'
        return response
