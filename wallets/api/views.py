"""API v1 views: parse, call a service or selector, render."""

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser, IsAuthenticatedUser, UserCredentialsOnly
from fastpay.api_auth import scope_required as scope
from fastpay.api_keys import api_key_create, api_key_revoke
from fastpay.errors import NotFound, error_body, first_field_error
from fastpay.idempotency import idempotent
from fastpay.models import ApiKey, ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, IdCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY, error
from fastpay.throttling import ScopedRateThrottle
from wallets import selectors
from wallets.api import serializers as s
from wallets.errors import NotPayee
from wallets.models import Token
from wallets.services.payment_parts import SplitRequest, payment_payee_ids
from wallets.services.payments import (
    PaymentItem,
    payment_create,
    payment_create_batch,
    payment_refund,
)
from wallets.services.users import user_signup

PAYMENT_EXAMPLE = OpenApiExample(
    "pay 12.50 USDT",
    request_only=True,
    value={
        "payee": "coffee_shop",
        "token": "USDT",
        "amount": "12.50",
        "description": "2 flat whites",
        "metadata": {"order": "A-1042"},
    },
)
PAYMENT_REFUSED = {
    402: error(
        "The balance does not cover the amount.",
        ("insufficient_funds", "The balance does not cover this amount.", "amount"),
    ),
    409: error(
        "The Idempotency-Key was used with a different request or its first request is "
        "still running (idempotency_error, idempotency_in_progress), or payments are paused "
        "by a circuit breaker (payments_paused).",
        ("idempotency_error", "This Idempotency-Key was already used with a different request."),
        ("payments_paused", "Payments are paused by a circuit breaker; try again later."),
    ),
}


SPLIT_EXAMPLE = OpenApiExample(
    "split 100 USDT: 10 to the courier, the rest 80/20",
    request_only=True,
    value={
        "splits": [
            {"payee": "courier", "amount": "10.00"},
            {"payee": "restaurant", "bps": 8000},
            {"payee": "marketplace", "bps": 2000},
        ],
        "token": "USDT",
        "amount": "100.00",
    },
)


def _item(data: dict, idempotency_key: str | None = None) -> PaymentItem:
    splits = [
        SplitRequest(payee=part["payee"], units=part.get("units"), bps=part.get("bps"))
        for part in data.get("splits", ())
    ]
    return PaymentItem(
        payee=data.get("payee", ""),
        splits=splits or None,
        token=data["token"],
        amount=data["amount_units"],
        description=data["description"],
        metadata=data["metadata"],
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        idempotency_key=data.get("idempotency_key", idempotency_key),
    )


class SignupApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(
        summary="Sign up",
        description="Creates a pending account: staff approve it before it moves money.",
        request=s.SignupSerializer,
        responses={
            201: s.UserSerializer,
            409: error(
                "The username is taken (ignoring case, or confusable with an existing one).",
                ("username_taken", "This username is taken.", "username"),
            ),
        },
        auth=[],
        examples=[
            OpenApiExample(
                "merchant",
                request_only=True,
                value={
                    "username": "coffee_shop",
                    "email": "owner@coffee.example",
                    "password": "correct horse battery",
                    "role": "merchant",
                },
            )
        ],
    )
    def post(self, request):
        data = s.SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(summary="Who am I", responses=s.UserSerializer)
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)


class TokenListApi(APIView):
    permission_classes = [IsAuthenticatedUser]
    pagination_class = None

    @extend_schema(summary="List the enabled tokens", responses=s.TokenSerializer(many=True))
    def get(self, request):
        return Response(s.TokenSerializer(Token.objects.filter(enabled=True), many=True).data)


class BalanceListApi(APIView):
    permission_classes = [IsAuthenticatedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(summary="Your balances, per token", responses=s.BalanceSerializer(many=True))
    def get(self, request):
        rows = selectors.balance_list(user=request.user)
        return Response(s.BalanceSerializer(rows, many=True).data)


class PaymentListCreateApi(APIView):
    pagination_class = CreatedCursorPagination

    def get_permissions(self):
        needed = (
            ApiKeyScope.PAYMENTS_WRITE
            if self.request.method == "POST"
            else (ApiKeyScope.PAYMENTS_READ)
        )
        return [IsApprovedUser(), scope(needed)()]

    @extend_schema(
        summary="List your payments (sent and received), newest first",
        parameters=[s.PaymentFilterSerializer],
        responses=s.PaymentSerializer(many=True),
    )
    def get(self, request):
        filters = s.PaymentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = selectors.payment_list(user=request.user, filters=filters.validated_data)
        return paginated_response(self, request, payments, s.PaymentSerializer)

    @extend_schema(
        summary="Pay a user",
        description="Moves the amount from your available balance to the payee's (or to "
        "several payees: `splits`, all or nothing), or holds it for review (state flagged). "
        "A payee with a platform fee receives the amount less the fee (`fee`, credited to "
        "the platform in the same entry). Send an Idempotency-Key to retry safely.",
        request=s.PaymentCreateSerializer,
        responses={
            201: s.PaymentSerializer,
            400: error(
                "The parts do not share the amount (invalid_split), or the platform's fee "
                "is larger than the amount or part it is charged on (fee_exceeds_amount); "
                "nothing moved.",
                ("invalid_split", "the basis points add up to 9000, not 10000", "splits"),
                ("fee_exceeds_amount", "a fee of 500000 units exceeds ...", "amount"),
            ),
            **PAYMENT_REFUSED,
        },
        parameters=[IDEMPOTENCY_KEY],
        examples=[PAYMENT_EXAMPLE, SPLIT_EXAMPLE],
    )
    @idempotent
    def post(self, request):
        data = s.PaymentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = _item(data.validated_data, request.headers.get("Idempotency-Key"))
        payment = payment_create(payer=request.user, item=item)
        return Response(s.PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class PaymentBatchApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_WRITE)()]

    @extend_schema(
        summary="Pay many users in one request",
        description="Each item is a payment (same fields as POST /payments/, plus its own "
        "idempotency_key) and gets its own result: the status a single request would get "
        "and the payment or the error. The request succeeds (200) when items fail.",
        request=inline_serializer(
            "PaymentBatch", fields={"payments": s.BatchItemSerializer(many=True)}
        ),
        responses={200: s.PaymentBatchResponseSerializer, 409: PAYMENT_REFUSED[409]},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "two payouts",
                request_only=True,
                value={
                    "payments": [
                        {"payee": "alice", "token": "USDT", "amount": "5.00"},
                        {
                            "payee": "bob",
                            "token": "USDC",
                            "amount": "7.25",
                            "idempotency_key": "payout-2026-12-01-bob",
                        },
                    ]
                },
            )
        ],
    )
    @idempotent
    def post(self, request):
        batch = s.PaymentBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        raw_items = batch.validated_data["payments"]
        results: list[dict | None] = [None] * len(raw_items)
        # One serializer instance for every item: building a DRF serializer's fields costs
        # more than validating an item.
        parser = s.BatchItemSerializer(
            context={"tokens": {t.symbol: t for t in Token.objects.all()}}
        )
        items, positions = [], []
        for index, raw in enumerate(raw_items):
            try:
                items.append(_item(parser.run_validation(raw)))
                positions.append(index)
            except serializers.ValidationError as exc:
                results[index] = _item_error(index, exc.detail)
        outcomes = payment_create_batch(payer=request.user, items=items) if items else []
        renderer = s.PaymentSerializer()
        for index, outcome in zip(positions, outcomes, strict=True):
            if outcome.error is not None:
                results[index] = {
                    "index": index,
                    "status": outcome.error.status_code,
                    "replayed": False,
                    "error": outcome.error.as_dict(),
                }
            else:
                results[index] = {
                    "index": index,
                    "status": 200 if outcome.replayed else 201,
                    "replayed": outcome.replayed,
                    "payment": renderer.to_representation(outcome.payment),
                }
        failed = sum(1 for r in results if "error" in r)
        return Response({"succeeded": len(results) - failed, "failed": failed, "results": results})


def _item_error(index: int, errors: dict) -> dict:
    """The error a single payment with this item's body would get (same envelope, same
    codes, same clipping), with the item's index."""
    param, leaf = first_field_error(errors)
    body = error_body(getattr(leaf, "code", None) or "invalid", str(leaf), param)
    return {"index": index, "status": 400, "replayed": False, "error": body["error"]}


class PaymentDetailApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(summary="A payment you sent or received", responses=s.PaymentSerializer)
    def get(self, request, payment_id):
        payment = selectors.payment_get(user=request.user, payment_id=payment_id)
        if payment is None:
            raise NotFound("no such payment", param="payment_id")
        return Response(s.PaymentSerializer(payment).data)


class PaymentRefundApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_WRITE)()]

    @extend_schema(
        summary="Refund a payment you received, in full or in part",
        request=s.RefundCreateSerializer,
        responses={
            201: s.RefundSerializer,
            402: PAYMENT_REFUSED[402],
            403: error(
                "Only the payee refunds (not_payee), an account not approved, an API key "
                "without payments:write.",
                ("not_payee", "Only the payee can refund a payment.", "payment_id"),
            ),
            409: error(
                "The payment cannot be refunded in its state, or the Idempotency-Key was "
                "used with a different request or is still in progress (idempotency_error, "
                "idempotency_in_progress).",
                ("invalid_state", "a flagged payment cannot be refunded", None),
                (
                    "idempotency_error",
                    "This Idempotency-Key was already used with a different request.",
                ),
            ),
        },
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "partial refund",
                request_only=True,
                value={"amount": "2.50", "reason": "one coffee was cold"},
            )
        ],
    )
    @idempotent
    def post(self, request, payment_id):
        payment = selectors.payment_get(user=request.user, payment_id=payment_id)
        if payment is None:
            raise NotFound("no such payment", param="payment_id")
        if request.user.pk not in payment_payee_ids(payment):
            # the payer sees the payment, so a 404 would be a lie: refunds are the payee's
            raise NotPayee(param="payment_id")
        data = s.RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data.get("amount")
        units = s.amount_to_units(amount, payment.token) if amount is not None else None
        refund = payment_refund(
            payment_id=payment.pk,
            by=request.user,
            amount=units,
            reason=data.validated_data["reason"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(s.RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class StatementApi(APIView):
    pagination_class = IdCursorPagination
    permission_classes = [IsAuthenticatedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(
        summary="Your statement: every posting on your accounts, newest first",
        parameters=[s.StatementFilterSerializer],
        responses=s.StatementLineSerializer(many=True),
    )
    def get(self, request):
        filters = s.StatementFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        lines = selectors.statement_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            self,
            request,
            lines,
            s.StatementLineSerializer,
            context={"fees_for": selectors.posting_fees},
        )


class ApiKeyListCreateApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(summary="List your API keys", responses=s.ApiKeySerializer(many=True))
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user)
        return paginated_response(self, request, keys, s.ApiKeySerializer)

    @extend_schema(
        summary="Create an API key (the secret is shown once)",
        request=s.ApiKeyCreateSerializer,
        responses={201: s.ApiKeyCreatedSerializer},
        examples=[
            OpenApiExample(
                "a till",
                request_only=True,
                value={"name": "till 1", "scopes": ["payments:read", "payments:write"]},
            )
        ],
    )
    def post(self, request):
        data = s.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            key, secret = api_key_create(user=request.user, **data.validated_data)
        body = s.ApiKeySerializer(key).data | {"key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(
        summary="Revoke an API key (again is a no-op)",
        description="Answers 200 with the key, revoked_at set; revoking it again returns the same.",
        request=None,
        responses={200: s.ApiKeySerializer},
    )
    def delete(self, request, key_id):
        key = api_key_revoke(user=request.user, key_id=key_id)
        return Response(s.ApiKeySerializer(key).data)
