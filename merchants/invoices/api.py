"""/api/v1/invoices/: create (Idempotency-Key), list, detail, cancel, pay from a balance."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import NotFound
from fastpay.idempotency import idempotency_header_key, idempotent
from fastpay.models import ApiKeyScope
from fastpay.pagination import CreatedCursorPagination, paginated_response
from fastpay.schema import IDEMPOTENCY_KEY
from merchants.invoices import serializers as s
from merchants.invoices import services
from merchants.models import Invoice


def _permissions(request):
    needed = ApiKeyScope.PAYMENTS_WRITE if request.method == "POST" else ApiKeyScope.PAYMENTS_READ
    return [IsApprovedUser(), scope(needed)()]


def _visible(request):
    """A merchant sees its invoices; a customer the ones named for them or paid by them."""
    user = request.user
    return (
        Invoice.objects.select_related("merchant", "token", "address")
        .filter(Q(merchant=user) | Q(customer=user) | Q(receipts__payer=user))
        .distinct()
    )


def _one(request, invoice_id) -> Invoice:
    invoice = _visible(request).filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound("no such invoice", param="invoice_id")
    return invoice


def _answer(request, invoice_id, code=status.HTTP_200_OK) -> Response:
    invoice = Invoice.objects.select_related("merchant", "token", "address").get(pk=invoice_id)
    return Response(s.InvoiceSerializer(invoice, context={"request": request}).data, status=code)


class InvoiceListCreateApi(APIView):
    pagination_class = CreatedCursorPagination

    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Your invoices (as merchant or customer), newest first",
        parameters=[s.InvoiceFilterSerializer],
        responses=s.InvoiceSerializer(many=True),
    )
    def get(self, request):
        query = s.InvoiceFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        invoices = _visible(request)
        if "status" in query.validated_data:
            invoices = invoices.filter(status=query.validated_data["status"])
        if "order_id" in query.validated_data:
            invoices = invoices.filter(order_id=query.validated_data["order_id"])
        return paginated_response(
            self, request, invoices, s.InvoiceSerializer, context={"request": request}
        )

    @extend_schema(
        summary="Create an invoice (merchants and vendors)",
        description="An amount in a token, or in a fiat currency converted at a rate locked "
        "for the invoice's life (503 peg_paused while the token is off its peg, 503 "
        "rates_unavailable without a trustworthy rate). Payable on-chain to its own address, "
        "from a FastPay balance, or with an offline voucher; see docs/invoices.md for the "
        "statuses and the policies. Send an Idempotency-Key to retry safely.",
        request=s.InvoiceCreateSerializer,
        responses={201: s.InvoiceSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent(atomic=False)  # may ask the rate providers; the invoice row carries the key
    def post(self, request):
        data = s.InvoiceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        draft = services.InvoiceDraft(
            token=v["token"],
            amount=v["amount_units"],
            currency=v["currency"],
            fiat_amount=v["fiat_amount"],
            expiry_s=v.get("expiry_seconds"),
            monitoring_s=v.get("monitoring_seconds"),
            confirmations=v.get("confirmations"),
            order_id=v["order_id"],
            description=v["description"],
            metadata=v["metadata"],
            redirect_url=v["redirect_url"],
            customer=v["customer"],
            splits=v["split_parts"],
        )
        invoice, created = services.invoice_create(
            merchant=request.user, draft=draft, idempotency_key=idempotency_header_key(request)
        )
        return _answer(request, invoice.pk, status.HTTP_201_CREATED if created else 200)


class InvoiceDetailApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(summary="An invoice of yours", responses=s.InvoiceSerializer)
    def get(self, request, invoice_id):
        return _answer(request, _one(request, invoice_id).pk)


class InvoiceCancelApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Cancel a new invoice that received nothing (it becomes invalid)",
        request=None,
        responses=s.InvoiceSerializer,
    )
    def post(self, request, invoice_id):
        invoice = services.invoice_cancel(invoice_id=invoice_id, merchant=request.user)
        return _answer(request, invoice.pk)


class InvoicePayApi(APIView):
    def get_permissions(self):
        return _permissions(self.request)

    @extend_schema(
        summary="Pay an invoice from your FastPay balance, in one step",
        description="Pays what is due from your available balance; the invoice settles at "
        "once. 409 invoice_paid, invoice_expired, invoice_invalid, rate_moved; 402-like "
        "insufficient_funds. Send an Idempotency-Key to retry safely.",
        request=None,
        responses=s.InvoiceSerializer,
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request, invoice_id):
        invoice = services.invoice_pay_from_balance(
            invoice_id=invoice_id,
            payer=request.user,
            idempotency_key=idempotency_header_key(request),
        )
        return _answer(request, invoice.pk)
