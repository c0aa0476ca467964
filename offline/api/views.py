"""/api/v1/offline/: link a FastPay address (account/), move money between online and
offline (fund/, defund/, transfers/), register vouchers (payers), sync redemptions
(vendors), configure a terminal."""

import time

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser, UserCredentialsOnly
from fastpay.idempotency import idempotent
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY, error
from offline import committee as offline_committee
from offline import conf
from offline.api import serializers as s
from offline.models import FastPayAccount, OfflineTransfer, Redemption, Voucher
from offline.services.redemptions import redemptions_sync
from offline.services.transfers import (
    fastpay_account_get,
    fastpay_account_link,
    offline_defund,
    offline_fund,
)
from offline.services.vouchers import voucher_register
from wallets.api.serializers import amount_to_units

UNAVAILABLE = error(
    "Temporary: no committee configured or no quorum answered (committee_unavailable), or "
    "no platform key (offline_unavailable). Nothing was applied; retry later.",
    ("committee_unavailable", "no quorum: 2 of 4 authorities answered", None),
)


def _issuer() -> str | None:
    signer = offline_committee.issuer()
    return None if signer is None else signer.address


class VoucherListApi(APIView):
    pagination_class = CreatedCursorPagination
    # a voucher moves the payer's own money: their login, never a merchant's API key
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        summary="Register a voucher your device certified",
        description="Checks the certificate and your offline limits, holds the voucher's "
        "collateral from your online balance; returns the ticket the platform signed, which "
        "terminals require.",
        request=s.VoucherRegisterSerializer,
        responses={
            201: s.VoucherSerializer,
            402: error(
                "Your online balance does not cover the voucher's collateral (held while "
                "it is outstanding: docs/offline.md, Limits).",
                (
                    "collateral_insufficient",
                    "this voucher holds 5000000 units of your online balance as collateral "
                    "while it is outstanding; 2000000 available",
                    "certificate",
                ),
            ),
            403: error(
                "Offline payments are suspended for you, or the credentials may not do this.",
                ("offline_suspended", "Offline payments are suspended for this account.", None),
            ),
            409: error(
                "The voucher address is not fresh, is registered with another certificate, "
                "a limit is reached (limit_per_voucher, limit_outstanding, limit_per_day), "
                "or the committee epoch ends too soon for the voucher to settle in it "
                "(epoch_ending).",
                ("voucher_not_fresh", "The voucher address is not a fresh, funded account.", None),
                ("limit_per_day", "this voucher would exceed your daily offline limit", None),
            ),
            503: UNAVAILABLE,
        },
    )
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

    @extend_schema(summary="List your vouchers", responses=s.VoucherSerializer(many=True))
    def get(self, request):
        vouchers = Voucher.objects.filter(user=request.user).select_related("token")
        context = {"issuer": _issuer()}
        return paginated_response(self, request, vouchers, s.VoucherSerializer, context)


class RedemptionSyncApi(APIView):
    permission_classes = [IsApprovedUser]

    @extend_schema(
        summary="Sync the offline payments a terminal accepted (vendors)",
        description="Up to 1,000 payment strings; idempotent per spend. Each gets a "
        "redemption with its state and reason.",
        request=s.SyncSerializer,
        responses={
            200: s.SyncResultSerializer,
            403: error(
                "Only vendors and merchants redeem, or the credentials may not do this.",
                ("not_a_vendor", "Only vendors and merchants redeem offline payments.", None),
            ),
            503: UNAVAILABLE,
        },
        examples=[
            OpenApiExample(
                "one payment", request_only=True, value={"items": [{"payment": "FP1..."}]}
            )
        ],
    )
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
    pagination_class = CreatedCursorPagination
    permission_classes = [IsApprovedUser]

    @extend_schema(
        summary="Your redemptions and their fate (vendors)",
        parameters=[s.RedemptionFilterSerializer],
        responses=s.RedemptionSerializer(many=True),
    )
    def get(self, request):
        filters = s.RedemptionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        redemptions = Redemption.objects.filter(vendor=request.user)
        if "state" in filters.validated_data:
            redemptions = redemptions.filter(state=filters.validated_data["state"])
        return paginated_response(self, request, redemptions, s.RedemptionSerializer)


class TerminalConfigApi(APIView):
    """Terminals and wallets read it: the committees, the ticket issuer, the grace period
    and the platform's clock (a wallet sweeps by the platform's deadline, not its own)."""

    permission_classes = [IsApprovedUser]

    @extend_schema(
        summary="What a terminal or wallet caches: the committees, the issuer, the grace",
        responses={200: s.TerminalConfigSerializer, 503: UNAVAILABLE},
    )
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
                "sweep_margin_s": conf.sweep_margin_s(),
                "now": int(time.time()),
            }
        )


class OfflineAccountApi(APIView):
    # Offline money is the user's own: their login, never a merchant's API key.
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        summary="Your FastPay address, the platform's, and the committee's view",
        responses={
            200: s.FastPayAccountSerializer,
            400: error(
                "No FastPay address is linked yet (or invalid input).",
                ("no_fastpay_account", "Link a FastPay address first.", None),
            ),
        },
    )
    def get(self, request):
        return Response(fastpay_account_get(user=request.user))

    @extend_schema(
        summary="Link your FastPay address",
        description='signature: EIP-191 personal_sign by the address of "FastPay: link '
        '<address> to user <username>".',
        request=s.LinkSerializer,
        responses={
            200: s.FastPayAccountSerializer,
            409: error(
                "The address is linked to another user.",
                ("address_taken", "This FastPay address is linked to another user.", "address"),
            ),
        },
    )
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
        summary="Move online money to your FastPay account",
        description="Debits your available balance at once; the committee certifies the "
        "transfer in the background (state pending, then done).",
        request=s.FundSerializer,
        responses={
            202: s.OfflineTransferSerializer,
            402: error(
                "The balance does not cover the amount.",
                ("insufficient_funds", "The balance does not cover this amount.", "amount"),
            ),
            503: UNAVAILABLE,
        },
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample("fund", request_only=True, value={"token": "USDT", "amount": "50.00"})
        ],
    )
    # the committee is called during the request: no transaction around it; the use case
    # is idempotent under the key by itself (OfflineTransfer's unique key / certificate)
    @idempotent(atomic=False)
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
        summary="Move FastPay money back online",
        description="A certificate (docs/protocol.md) from your FastPay address to the "
        "platform's; credited once.",
        request=s.DefundSerializer,
        responses={201: s.OfflineTransferSerializer, 503: UNAVAILABLE},
        parameters=[IDEMPOTENCY_KEY],
    )
    # the committee is called during the request: no transaction around it; the use case
    # is idempotent under the key by itself (OfflineTransfer's unique key / certificate)
    @idempotent(atomic=False)
    def post(self, request):
        data = s.DefundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transfer = offline_defund(user=request.user, certificate=data.validated_data["certificate"])
        return Response(s.OfflineTransferSerializer(transfer).data, status=status.HTTP_201_CREATED)


class OfflineTransferListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = [IsApprovedUser]

    @extend_schema(
        summary="Your fund and defund transfers", responses=s.OfflineTransferSerializer(many=True)
    )
    def get(self, request):
        transfers = OfflineTransfer.objects.filter(user=request.user).select_related("token")
        return paginated_response(self, request, transfers, s.OfflineTransferSerializer)
