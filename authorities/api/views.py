"""/api/v1/offline/: link a FastPay address, move money between online and offline."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from authorities.api import serializers as s
from authorities.gateway import CommitteeUnavailable, gateway
from authorities.models import FastPayAccount, OfflineTransfer
from authorities.services.offline import (
    NoFastPayAccount,
    fastpay_account_link,
    offline_defund,
    offline_fund,
)
from fastpay.api_auth import IsApprovedUser, UserCredentialsOnly
from fastpay.idempotency import idempotent
from fastpay.pagination import CreatedCursorPagination
from wallets.api.serializers import amount_to_units
from wallets.api.views import IDEMPOTENCY_HEADER


class OfflineAccountApi(APIView):
    # Offline money is the user's own: their login, never a merchant's API key.
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(responses=s.FastPayAccountSerializer)
    def get(self, request):
        account = FastPayAccount.objects.filter(user=request.user).first()
        if account is None:
            raise NoFastPayAccount()
        try:
            client = gateway()
            state, platform = client.account_state(account.address), client.platform_address
        except CommitteeUnavailable:
            state, platform = None, None
        return Response({"address": account.address, "platform_address": platform, "state": state})

    @extend_schema(request=s.LinkSerializer, responses={200: s.FastPayAccountSerializer})
    def post(self, request):
        data = s.LinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = fastpay_account_link(
            user=request.user,
            address=data.validated_data["address"],
            signature=bytes.fromhex(data.validated_data["signature"][2:]),
        )
        return Response({"address": account.address, "platform_address": None, "state": None})


class OfflineFundApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        request=s.FundSerializer,
        responses={202: s.OfflineTransferSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request):
        data = s.FundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["token"]
        transfer = offline_fund(
            user=request.user,
            token=token,
            amount=amount_to_units(data.validated_data["amount"], token),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(s.OfflineTransferSerializer(transfer).data, status=status.HTTP_202_ACCEPTED)


class OfflineDefundApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        request=s.DefundSerializer,
        responses={201: s.OfflineTransferSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request):
        data = s.DefundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transfer = offline_defund(user=request.user, certificate=data.validated_data["certificate"])
        return Response(s.OfflineTransferSerializer(transfer).data, status=status.HTTP_201_CREATED)


class OfflineTransferListApi(APIView):
    permission_classes = [IsApprovedUser]

    @extend_schema(responses=s.OfflineTransferSerializer(many=True))
    def get(self, request):
        transfers = OfflineTransfer.objects.filter(user=request.user).select_related("token")
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(transfers, request, view=self)
        return paginator.get_paginated_response(s.OfflineTransferSerializer(page, many=True).data)
