"""/api/v1/offline/: link a FastPay address (account/), move money between online and
offline (fund/, defund/, transfers/), register vouchers (payers), sync redemptions
(vendors), configure a terminal."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from authorities.gateway import CommitteeUnavailable, gateway
from fastpay.api_auth import IsApprovedUser, UserCredentialsOnly
from fastpay.errors import DomainError
from fastpay.idempotency import idempotent
from fastpay.pagination import CreatedCursorPagination
from offline import committee as offline_committee
from offline import conf
from offline.api import serializers as s
from offline.errors import NoFastPayAccount
from offline.models import FastPayAccount, OfflineTransfer, Redemption, RedemptionState, Voucher
from offline.services.redemptions import redemptions_sync
from offline.services.transfers import fastpay_account_link, offline_defund, offline_fund
from offline.services.vouchers import voucher_register
from wallets.api.serializers import amount_to_units
from wallets.api.views import IDEMPOTENCY_HEADER


def _issuer() -> str | None:
    signer = offline_committee.issuer()
    return None if signer is None else signer.address


class VoucherListApi(APIView):
    # a voucher moves the payer's own money: their login, never a merchant's API key
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(request=s.VoucherRegisterSerializer, responses={201: s.VoucherSerializer})
    def post(self, request):
        data = s.VoucherRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        voucher = voucher_register(
            user=request.user,
            certificate=data.validated_data["certificate"],
            validity_s=data.validated_data["validity_s"],
        )
        body = s.VoucherSerializer(voucher, context={"issuer": _issuer()}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.VoucherSerializer(many=True))
    def get(self, request):
        vouchers = Voucher.objects.filter(user=request.user).select_related("token")
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(vouchers, request, view=self)
        context = {"issuer": _issuer()}
        return paginator.get_paginated_response(
            s.VoucherSerializer(page, many=True, context=context).data
        )


class RedemptionSyncApi(APIView):
    permission_classes = [IsApprovedUser]

    @extend_schema(request=s.SyncSerializer, responses={200: s.SyncResultSerializer})
    def post(self, request):
        data = s.SyncSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        texts = [item["payment"] for item in data.validated_data["items"]]
        redemptions = redemptions_sync(vendor=request.user, payments=texts)
        # read again: settlement may have run after commit (eager Celery, tests and dev)
        fresh = Redemption.objects.in_bulk([r.pk for r in redemptions])
        results = [s.RedemptionSerializer(fresh[r.pk]).data for r in redemptions]
        return Response({"results": results})


class RedemptionListApi(APIView):
    permission_classes = [IsApprovedUser]

    @extend_schema(
        parameters=[OpenApiParameter("state", enum=RedemptionState.values, required=False)],
        responses=s.RedemptionSerializer(many=True),
    )
    def get(self, request):
        redemptions = Redemption.objects.filter(vendor=request.user)
        state = request.query_params.get("state")
        if state:
            if state not in RedemptionState.values:
                raise DomainError("unknown state", param="state", code="invalid")
            redemptions = redemptions.filter(state=state)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(redemptions, request, view=self)
        return paginator.get_paginated_response(s.RedemptionSerializer(page, many=True).data)


class TerminalConfigApi(APIView):
    permission_classes = [IsApprovedUser]

    @extend_schema(responses=s.TerminalConfigSerializer)
    def get(self, request):
        account = FastPayAccount.objects.filter(user=request.user).first()
        return Response(
            {
                "committee": offline_committee.committee().to_json(),
                "previous_committees": [
                    c.to_json() for c in offline_committee.previous_committees()
                ],
                "issuer": _issuer(),
                "vendor": account.address if account else None,
                "grace_s": conf.grace_s(),
            }
        )


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
