"""API v1: the caller's deposit addresses (docs/api.md "Deposit addresses")."""

import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.models import ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import error
from wallets.api.serializers import amount_to_units
from wallets.chain import addresses
from wallets.chain.api import serializers as s

# An id in the path beyond bigint is no row (PostgreSQL would refuse the comparison).
MAX_ID = 2**63 - 1

UNAVAILABLE = error(
    "The platform's deposit keys are not set up yet (deposits_unavailable): retry later.",
    ("deposits_unavailable", "Deposits are not available yet; try again later.", None),
)


def _address_or_404(request, address_id: int):
    row = None
    if address_id <= MAX_ID:
        row = addresses.deposit_address_get(user=request.user, address_id=address_id)
    if row is None:
        raise NotFound("no such deposit address", param="address_id")
    return row


class DepositAddressListCreateApi(APIView):
    pagination_class = CreatedCursorPagination
    # Creating an address moves no money and is idempotent by nature (one per user and
    # chain): the read scope of balances covers it, as it covers seeing where to pay in.
    permission_classes = [IsApprovedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(
        summary="List your deposit addresses, newest first",
        responses=s.DepositAddressSerializer(many=True),
    )
    def get(self, request):
        rows = addresses.deposit_address_list(user=request.user)
        return paginated_response(self, request, rows, s.DepositAddressSerializer)

    @extend_schema(
        summary="Get your deposit address on a chain (created the first time)",
        description="Send a chain_id or a token symbol (its chain). One address per user "
        "and chain: 201 when this request created it, 200 with the same address after. "
        "Tokens sent to it are credited after their confirmations (docs/deposits.md).",
        request=s.DepositAddressCreateSerializer,
        responses={
            201: s.DepositAddressSerializer,
            200: s.DepositAddressSerializer,
            400: error(
                "Bad input, an unknown or disabled chain (unknown_chain) or token (unknown_token).",
                ("unknown_chain", "no enabled chain with chain id 1", "chain_id"),
                ("unknown_token", "no deposit token 'DOGE'", "token"),
            ),
            503: UNAVAILABLE,
        },
        examples=[
            OpenApiExample("on BSC", request_only=True, value={"chain_id": 56}),
            OpenApiExample("for USDT", request_only=True, value={"token": "USDT"}),
        ],
    )
    def post(self, request):
        data = s.DepositAddressCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chain_id, symbol = data.validated_data.get("chain_id"), data.validated_data.get("token")
        if symbol is not None:
            _, chain = addresses.token_chain_get(symbol=symbol, chain_id=chain_id)
        else:
            chain = addresses.chain_get(chain_id=chain_id)
        row, created = addresses.deposit_address_get_or_create(user=request.user, chain=chain)
        return Response(
            s.DepositAddressSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DepositAddressDetailApi(APIView):
    permission_classes = [IsApprovedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(summary="One of your deposit addresses", responses=s.DepositAddressSerializer)
    def get(self, request, address_id):
        return Response(s.DepositAddressSerializer(_address_or_404(request, address_id)).data)


class DepositAddressQrApi(APIView):
    permission_classes = [IsApprovedUser, scope(ApiKeyScope.BALANCES_READ)]

    def perform_content_negotiation(self, request, force=False):
        # The answer is a PNG (rendered below, not by a renderer); an error is JSON even
        # to a client that sent "Accept: image/png" (DRF would answer 406 instead).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="A QR code (PNG) of the EIP-681 payment request to your deposit address",
        description="The QR encodes ethereum:<token contract>@<chain id>/transfer?address="
        "<your address>[&uint256=<amount in the token's base units>]; the same URI is in "
        "the X-Payment-URI header.",
        parameters=[s.DepositQrQuerySerializer],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG image"),
            400: error(
                "Bad input, or a token that this address's chain does not have.",
                ("unknown_token", "USDT is not a token of chain 1", "token"),
                ("invalid_amount", "not a plain decimal amount", "amount"),
            ),
        },
    )
    def get(self, request, address_id):
        row = _address_or_404(request, address_id)
        query = s.DepositQrQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        token, _ = addresses.token_chain_get(
            symbol=query.validated_data["token"], chain_id=row.chain.chain_id
        )
        units = None
        if "amount" in query.validated_data:
            units = amount_to_units(query.validated_data["amount"], token)
            if units <= 0:
                raise serializers.ValidationError(
                    {"amount": ["the amount must be positive"]}, code="invalid_amount"
                )
        uri = addresses.eip681_uri(token, row.address, units)
        response = HttpResponse(_qr_png(uri), content_type="image/png")
        response["X-Payment-URI"] = uri
        response["Cache-Control"] = "private, max-age=300"
        return response


def _qr_png(text: str) -> bytes:
    import qrcode
    from qrcode.image.pure import PyPNGImage

    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, image_factory=PyPNGImage, border=4
    )
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()
