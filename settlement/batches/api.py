"""Redemptions to the chain over the API (docs/settlement.md): a wallet hands in its
redemption certificate (recipient: the redemption address) for the platform to settle
on-chain in its next committee batch, and follows it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.models import ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import error
from settlement.batches.intake import redemption_submit
from settlement.batches.models import ChainRedemption

TAGS = ["settlement"]


class ChainRedemptionCreateSerializer(serializers.Serializer):
    certificate = serializers.JSONField(
        help_text="The redemption certificate (order, sender's signature, votes)."
    )


class ChainRedemptionSerializer(serializers.ModelSerializer):
    chain_id = serializers.IntegerField(source="chain.chain_id")
    batch_id = serializers.IntegerField(source="batch.batch_id", allow_null=True, default=None)
    token = serializers.CharField(source="token_address")

    class Meta:
        model = ChainRedemption
        fields = [
            "id",
            "chain_id",
            "sender",
            "sequence",
            "epoch",
            "token",
            "amount_units",
            "state",
            "batch_id",
            "reason",
            "reason_detail",
            "settled_tx_hash",
            "created_at",
            "settled_at",
        ]
        read_only_fields = fields


REFUSED = {
    400: error(
        "Not a valid certificate, not a redemption, or a token the vault does not list.",
        ("invalid_certificate", "Not a valid certificate of a known committee.", "certificate"),
        (
            "not_a_redemption",
            "Only a certificate to the redemption address settles on-chain.",
            "certificate.order.recipient",
        ),
    ),
    409: error(
        "The epoch's settlement window closed, or another certificate holds the sequence.",
        (
            "settlement_window_closed",
            "epoch 1 settled on-chain until 2026-12-09 10:00:00 UTC",
            "certificate.order.epoch",
        ),
    ),
    503: error(
        "The chain or the committee cannot be reached now.",
        ("settlement_unavailable", "On-chain settlement is not available now."),
    ),
}


class ChainRedemptionListCreateApi(APIView):
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
        summary="Your redemptions to the chain, newest first",
        responses=ChainRedemptionSerializer(many=True),
    )
    def get(self, request):
        rows = ChainRedemption.objects.filter(user=request.user).select_related("chain", "batch")
        return paginated_response(self, request, rows, ChainRedemptionSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Hand in a redemption certificate for on-chain settlement",
        description="The certificate is checked (quorum, recipient = the redemption address, "
        "a token the vault lists, its epoch's settlement window open), confirmed at the "
        "committee and settled in the next committee batch to the sender's vault balance. "
        "Idempotent by nature: the same certificate answers 200 with the same redemption.",
        request=ChainRedemptionCreateSerializer,
        responses={201: ChainRedemptionSerializer, 200: ChainRedemptionSerializer, **REFUSED},
    )
    def post(self, request):
        data = ChainRedemptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item, created = redemption_submit(data.validated_data["certificate"])
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ChainRedemptionSerializer(item).data, status=code)


class ChainRedemptionDetailApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(
        tags=TAGS, summary="One redemption to the chain", responses=ChainRedemptionSerializer
    )
    def get(self, request, redemption_id: int):
        item = (
            ChainRedemption.objects.filter(pk=redemption_id, user=request.user)
            .select_related("chain", "batch")
            .first()
        )
        if item is None:
            raise NotFound("no such redemption", param="redemption_id")
        return Response(ChainRedemptionSerializer(item).data)
