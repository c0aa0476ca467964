"""Withdrawals API (docs/withdrawals.md): parse, call a service or selector, render."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser, UserCredentialsOnly
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.idempotency import idempotent
from fastpay.models import ApiKeyScope
from fastpay.money import format_units
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY, error
from settlement import selectors
from settlement.api import serializers as s
from settlement.services.addresses import allowed_address_add, allowed_address_remove
from settlement.services.withdrawals import (
    WithdrawalDraft,
    withdrawal_cancel,
    withdrawal_request,
    withdrawal_revise,
)

TAGS = ["withdrawals"]
REFUSED = {
    402: error(
        "The available balance does not cover the amount and the fee.",
        ("insufficient_funds", "The balance does not cover this amount.", "amount"),
    ),
    403: error(
        "A control refused it: the daily limit, risk controls, a sanctioned address, a "
        "merchant's address not on its list or still cooling down, an account not approved.",
        ("daily_limit_exceeded", "This withdrawal would pass your daily limit.", "amount"),
        ("withdrawal_blocked", "The withdrawal was blocked by risk controls.", "amount"),
        (
            "destination_not_allowed",
            "Add this address to your withdrawal addresses first.",
            "destination",
        ),
    ),
    409: error(
        "The quoted fee changed (fee_changed), the Idempotency-Key was used for another "
        "request or is in progress, or a circuit breaker pauses payments (payments_paused).",
        ("fee_changed", "The fee is not the one quoted; get a new quote.", "fee"),
        ("idempotency_error", "This Idempotency-Key was already used with a different request."),
    ),
}
STATE_CONFLICT = error(
    "The withdrawal is not in a state that allows it (withdrawal_not_cancellable, "
    "invalid_state), or it changed since you saw it (stale_revision).",
    (
        "withdrawal_not_cancellable",
        "the withdrawal is cancelled: only one not yet paid can be cancelled",
        "state",
    ),
    (
        "stale_revision",
        "The withdrawal changed since you saw it; look at the new revision.",
        "revision",
    ),
)


def _own(request, withdrawal_id):
    withdrawal = selectors.withdrawal_get(user=request.user, withdrawal_id=withdrawal_id)
    if withdrawal is None:
        raise NotFound("no such withdrawal", param="withdrawal_id")
    return withdrawal


def _render(request, withdrawal_id, code=status.HTTP_200_OK) -> Response:
    return Response(s.WithdrawalSerializer(_own(request, withdrawal_id)).data, status=code)


class WithdrawalListCreateApi(APIView):
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
        summary="List your withdrawals, newest first",
        parameters=[s.WithdrawalFilterSerializer],
        responses=s.WithdrawalSerializer(many=True),
    )
    def get(self, request):
        filters = s.WithdrawalFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.withdrawal_list(user=request.user, filters=filters.validated_data)
        return paginated_response(self, request, rows, s.WithdrawalSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Withdraw to an on-chain address",
        description="Reserves amount + fee from your available balance at once (nothing is "
        "reserved when it is refused). Small amounts go straight to awaiting_payment; larger "
        "ones wait for staff approval (two reviewers above the four-eyes threshold) and a "
        "time-lock. Send an Idempotency-Key to retry safely: the same key answers with the "
        "same withdrawal (200).",
        request=s.WithdrawalCreateSerializer,
        responses={201: s.WithdrawalSerializer, 200: s.WithdrawalSerializer, **REFUSED},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "25 USDT",
                request_only=True,
                value={
                    "token": "USDT",
                    "amount": "25.00",
                    "destination": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                    "fee": "0.50",
                },
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = s.WithdrawalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        withdrawal, created = withdrawal_request(
            user=request.user,
            draft=WithdrawalDraft(
                token=v["token"],
                amount_units=v["amount_units"],
                destination=v["destination"],
                chain_id=v.get("chain_id"),
                fee_units=v.get("fee_units"),
                idempotency_key=request.headers.get("Idempotency-Key"),
            ),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return _render(request, withdrawal.pk, code)


class WithdrawalQuoteApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(
        tags=TAGS,
        summary="What a withdrawal would cost and wait for",
        description="The fee is flat per token, charged in the token on top of the amount "
        "(the platform pays the gas). Pass it back as `fee` to be sure it did not change.",
        parameters=[s.QuoteQuerySerializer],
        responses=s.QuoteSerializer,
    )
    def get(self, request):
        query = s.QuoteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        token = query.validated_data["token"]
        quote = selectors.withdrawal_quote(
            user=request.user, token=token, amount_units=query.validated_data["amount_units"]
        )
        decimals = token.ledger_decimals
        for name in ("amount", "fee", "total"):
            quote[name] = format_units(quote[f"{name}_units"], decimals)
        return Response(s.QuoteSerializer(quote).data)


class WithdrawalDetailApi(APIView):
    def get_permissions(self):
        needed = (
            ApiKeyScope.PAYMENTS_WRITE
            if self.request.method == "PATCH"
            else (ApiKeyScope.PAYMENTS_READ)
        )
        return [IsApprovedUser(), scope(needed)()]

    @extend_schema(tags=TAGS, summary="One of your withdrawals", responses=s.WithdrawalSerializer)
    def get(self, request, withdrawal_id):
        return _render(request, withdrawal_id)

    @extend_schema(
        tags=TAGS,
        summary="Change the amount or destination before approval",
        description="Bumps the revision: approvals given so far were for the old one. Send "
        "the `revision` you saw to be refused (stale_revision) if it changed meanwhile.",
        request=s.WithdrawalReviseSerializer,
        responses={
            200: s.WithdrawalSerializer,
            402: REFUSED[402],
            403: REFUSED[403],
            409: STATE_CONFLICT,
        },
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def patch(self, request, withdrawal_id):
        withdrawal = _own(request, withdrawal_id)
        data = s.WithdrawalReviseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        amount = v.get("amount")
        units = None
        if amount is not None:
            units = s.amount_to_units(amount, withdrawal.token)
        withdrawal_revise(
            user=request.user,
            withdrawal_id=withdrawal.pk,
            amount_units=units,
            destination=v.get("destination"),
            revision=v.get("revision"),
        )
        return _render(request, withdrawal.pk)


class WithdrawalCancelApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_WRITE)()]

    @extend_schema(
        tags=TAGS,
        summary="Cancel a withdrawal not yet paid",
        description="Until a transaction is signed for it (state in_progress): the reserved "
        "amount and fee go back to your available balance. Cancelling again is refused "
        "(withdrawal_not_cancellable).",
        request=None,
        responses={200: s.WithdrawalSerializer, 409: STATE_CONFLICT},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request, withdrawal_id):
        withdrawal = _own(request, withdrawal_id)
        withdrawal_cancel(user=request.user, withdrawal_id=withdrawal.pk)
        return _render(request, withdrawal.pk)


class AllowedAddressListCreateApi(APIView):
    pagination_class = CreatedCursorPagination
    # a stolen API key must not add a destination: log-in credentials only
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        tags=TAGS,
        summary="Your withdrawal addresses (merchants withdraw only to these)",
        responses=s.AllowedAddressSerializer(many=True),
    )
    def get(self, request):
        rows = selectors.allowed_address_list(user=request.user)
        return paginated_response(self, request, rows, s.AllowedAddressSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Add a withdrawal address (usable after its cool-down)",
        request=s.AllowedAddressCreateSerializer,
        responses={
            201: s.AllowedAddressSerializer,
            409: error(
                "The address is on your list already.",
                ("address_already_allowed", "This address is already on your list.", "address"),
            ),
        },
    )
    def post(self, request):
        data = s.AllowedAddressCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = allowed_address_add(user=request.user, **data.validated_data)
        return Response(s.AllowedAddressSerializer(entry).data, status=status.HTTP_201_CREATED)


class AllowedAddressRemoveApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        tags=TAGS,
        summary="Remove a withdrawal address",
        request=None,
        responses={200: s.AllowedAddressSerializer},
    )
    def delete(self, request, address_id):
        entry = allowed_address_remove(user=request.user, address_id=address_id)
        return Response(s.AllowedAddressSerializer(entry).data)
