"""API v1 views: parse, call a service or selector, render."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser, IsAuthenticatedUser, UserCredentialsOnly
from fastpay.api_auth import scope_required as scope
from fastpay.api_keys import api_key_create, api_key_revoke
from fastpay.errors import NotFound, first_field_error
from fastpay.idempotency import idempotent
from fastpay.models import ApiKey, ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, IdCursorPagination
from fastpay.throttling import ScopedRateThrottle
from wallets import selectors
from wallets.api import serializers as s
from wallets.models import Token
from wallets.services.payments import (
    PaymentItem,
    payment_create,
    payment_create_batch,
    payment_refund,
)
from wallets.services.users import user_signup

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retrying with the same key and body replays the first response; "
    "a different body with the same key is refused with 409 idempotency_error.",
)


def _item(data: dict, idempotency_key: str | None = None) -> PaymentItem:
    return PaymentItem(
        payee=data["payee"],
        token=data["token"],
        amount=data["amount_units"],
        description=data["description"],
        metadata=data["metadata"],
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        idempotency_key=data.get("idempotency_key", idempotency_key),
    )


def _paginate(view, request, queryset, serializer_class, paginator_class):
    paginator = paginator_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class SignupApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(request=s.SignupSerializer, responses={201: s.UserSerializer}, auth=[])
    def post(self, request):
        data = s.SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=s.UserSerializer)
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)


class TokenListApi(APIView):
    permission_classes = [IsAuthenticatedUser]
    pagination_class = None

    @extend_schema(responses=s.TokenSerializer(many=True))
    def get(self, request):
        return Response(s.TokenSerializer(Token.objects.filter(enabled=True), many=True).data)


class BalanceListApi(APIView):
    permission_classes = [IsAuthenticatedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(responses=s.BalanceSerializer(many=True))
    def get(self, request):
        rows = selectors.balance_list(user=request.user)
        return Response(s.BalanceSerializer(rows, many=True).data)


class PaymentListCreateApi(APIView):
    def get_permissions(self):
        needed = (
            ApiKeyScope.PAYMENTS_WRITE
            if self.request.method == "POST"
            else (ApiKeyScope.PAYMENTS_READ)
        )
        return [IsApprovedUser(), scope(needed)()]

    @extend_schema(
        parameters=[s.PaymentFilterSerializer],
        responses=s.PaymentSerializer(many=True),
    )
    def get(self, request):
        filters = s.PaymentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = selectors.payment_list(user=request.user, filters=filters.validated_data)
        return _paginate(self, request, payments, s.PaymentSerializer, CreatedCursorPagination)

    @extend_schema(
        request=s.PaymentCreateSerializer,
        responses={201: s.PaymentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
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
        request=s.PaymentBatchSerializer,
        responses={200: s.PaymentBatchResponseSerializer},
        parameters=[IDEMPOTENCY_HEADER],
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
    param, leaf = first_field_error(errors)
    return {
        "index": index,
        "status": 400,
        "replayed": False,
        "error": {"code": getattr(leaf, "code", "invalid"), "message": str(leaf), "param": param},
    }


class PaymentDetailApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_READ)()]

    @extend_schema(responses=s.PaymentSerializer)
    def get(self, request, payment_id):
        payment = selectors.payment_get(user=request.user, payment_id=payment_id)
        if payment is None:
            raise NotFound("no such payment", param="payment_id")
        return Response(s.PaymentSerializer(payment).data)


class PaymentRefundApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.PAYMENTS_WRITE)()]

    @extend_schema(
        request=s.RefundCreateSerializer,
        responses={201: s.RefundSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request, payment_id):
        payment = selectors.payment_get(user=request.user, payment_id=payment_id)
        if payment is None or payment.payee_id != request.user.pk:
            raise NotFound("no such payment", param="payment_id")
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
    permission_classes = [IsAuthenticatedUser, scope(ApiKeyScope.BALANCES_READ)]

    @extend_schema(
        parameters=[s.StatementFilterSerializer],
        responses=s.StatementLineSerializer(many=True),
    )
    def get(self, request):
        filters = s.StatementFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        lines = selectors.statement_list(user=request.user, filters=filters.validated_data)
        return _paginate(self, request, lines, s.StatementLineSerializer, IdCursorPagination)


class ApiKeyListCreateApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(responses=s.ApiKeySerializer(many=True))
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user)
        return _paginate(self, request, keys, s.ApiKeySerializer, CreatedCursorPagination)

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def post(self, request):
        data = s.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            key, secret = api_key_create(user=request.user, **data.validated_data)
        body = s.ApiKeySerializer(key).data | {"key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsApprovedUser, UserCredentialsOnly]

    @extend_schema(request=None, responses=s.ApiKeySerializer)
    def delete(self, request, key_id):
        key = api_key_revoke(user=request.user, key_id=key_id)
        return Response(s.ApiKeySerializer(key).data)
