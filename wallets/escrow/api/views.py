from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.idempotency import idempotent
from fastpay.models import ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY
from wallets.api.serializers import amount_to_units
from wallets.escrow import services
from wallets.escrow.api import serializers as s
from wallets.escrow.models import Hold


def _permissions(request):
    needed = ApiKeyScope.PAYMENTS_WRITE if request.method == "POST" else ApiKeyScope.PAYMENTS_READ
    return [IsApprovedUser(), scope(needed)()]


def _mine(request, hold_id) -> Hold:
    hold = (
        Hold.objects.select_related("payer", "payee", "token")
        .filter(Q(payer=request.user) | Q(payee=request.user), pk=hold_id)
        .first()
    )
    if hold is None:
        raise NotFound("no such hold", param="hold_id")
    return hold


def _answer(hold: Hold, code=status.HTTP_200_OK) -> Response:
    hold = Hold.objects.select_related("payer", "payee", "token").get(pk=hold.pk)
    return Response(s.HoldSerializer(hold).data, status=code)


class HoldListCreateApi(APIView):
    pagination_class = CreatedCursorPagination

    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Your escrow holds (as payer or payee), newest first",
        responses=s.HoldSerializer(many=True),
    )
    def get(self, request):
        holds = Hold.objects.select_related("payer", "payee", "token").filter(
            Q(payer=request.user) | Q(payee=request.user)
        )
        return paginated_response(self, request, holds, s.HoldSerializer)

    @extend_schema(
        summary="Authorize: reserve money for a payee until a deadline",
        description="Moves the amount from your available balance into escrow. An "
        "authorization is captured or voided by the payee and expires at its deadline "
        "(money back); a marketplace hold is released by you (the buyer), or to the seller "
        "at the deadline unless you dispute it. Send an Idempotency-Key to retry safely.",
        request=s.HoldCreateSerializer,
        responses={201: s.HoldSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request):
        data = s.HoldCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        hold = services.hold_authorize(
            payer=request.user,
            payee=v["payee"],
            token=v["token"],
            amount=v["amount_units"],
            kind=v["kind"],
            expires_at=v["expires_at"],
            description=v["description"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return _answer(hold, status.HTTP_201_CREATED)


class HoldDetailApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(summary="An escrow hold of yours", responses=s.HoldSerializer)
    def get(self, request, hold_id):
        return Response(s.HoldSerializer(_mine(request, hold_id)).data)


class HoldCaptureApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Capture (post) a hold: all or part to the payee, the rest back",
        description="The payee captures an authorization; the buyer releases a marketplace "
        "hold. Once: the same capture again answers the hold, another is refused "
        "(409 hold_resolved).",
        request=s.HoldCaptureSerializer,
        responses=s.HoldSerializer,
    )
    def post(self, request, hold_id):
        hold = _mine(request, hold_id)
        data = s.HoldCaptureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data.get("amount")
        units = None if amount is None else amount_to_units(amount, hold.token)
        return _answer(services.hold_capture(hold_id=hold.pk, by=request.user, amount=units))


class HoldVoidApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Void a hold: all of it back to the payer",
        request=None,
        responses=s.HoldSerializer,
    )
    def post(self, request, hold_id):
        hold = _mine(request, hold_id)
        return _answer(services.hold_void(hold_id=hold.pk, by=request.user))


class HoldDisputeApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Dispute a marketplace hold (buyer): staff decide instead of the deadline",
        request=s.HoldDisputeSerializer,
        responses=s.HoldSerializer,
    )
    def post(self, request, hold_id):
        hold = _mine(request, hold_id)
        data = s.HoldDisputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(
            services.hold_dispute(
                hold_id=hold.pk, by=request.user, reason=data.validated_data["reason"]
            )
        )
