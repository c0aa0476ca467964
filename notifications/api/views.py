"""Events API and webhook endpoints: parse, call a selector or service, render."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsApprovedUser
from fastpay.api_auth import scope_required as scope
from fastpay.errors import DomainError
from fastpay.models import ApiKeyScope
from fastpay.pagination import IdCursorPagination, paginated_response
from fastpay.schema import error
from notifications import selectors
from notifications.api import serializers as s
from notifications.errors import EventNotFound
from notifications.models import WebhookDelivery
from notifications.webhooks import services

DISABLED = {
    409: error(
        "The endpoint is disabled: enable it first.",
        ("endpoint_disabled", "enable the endpoint first", "endpoint_id"),
    )
}


class EventListApi(APIView):
    pagination_class = IdCursorPagination

    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.EVENTS_READ)()]

    @extend_schema(
        summary="Your events, newest first",
        description="The events addressed to you (docs/events.md). `after=<event id>` gives "
        "those dispatched to you after that one: with `sequence` a client catches up "
        "after a gap.",
        parameters=[s.EventFilterSerializer],
        responses=s.EventSerializer(many=True),
    )
    def get(self, request):
        filters = s.EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        if "after" in data:
            data["after"] = selectors.event_get(user=request.user, event_id=data["after"])
            if data["after"] is None:
                raise DomainError("no such event of yours", param="after", code="unknown_event")
        events = selectors.event_list(user=request.user, filters=data)
        return paginated_response(self, request, events, s.EventSerializer)


class EventDetailApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.EVENTS_READ)()]

    @extend_schema(summary="One of your events", responses=s.EventSerializer)
    def get(self, request, event_id):
        event = selectors.event_get(user=request.user, event_id=event_id)
        if event is None:
            raise EventNotFound("no such event", param="event_id")
        return Response(s.EventSerializer(event).data)


class _WebhookApi(APIView):
    def get_permissions(self):
        return [IsApprovedUser(), scope(ApiKeyScope.WEBHOOKS_WRITE)()]


class WebhookEndpointListCreateApi(_WebhookApi):
    pagination_class = IdCursorPagination

    @extend_schema(summary="Your webhook endpoints", responses=s.EndpointSerializer(many=True))
    def get(self, request):
        rows = request.user.webhook_endpoints.order_by("-id")
        return paginated_response(self, request, rows, s.EndpointSerializer)

    @extend_schema(
        summary="Add a webhook endpoint (the secret is shown once)",
        request=s.EndpointCreateSerializer,
        responses={
            201: s.EndpointSecretSerializer,
            409: error(
                "You have the most endpoints allowed.",
                ("too_many_endpoints", "at most 16 webhook endpoints"),
            ),
        },
        examples=[
            OpenApiExample(
                "payments",
                request_only=True,
                value={
                    "url": "https://shop.example/hooks/fastpay",
                    "event_types": ["payment.succeeded", "payment.refunded"],
                    "description": "order fulfilment",
                },
            )
        ],
    )
    def post(self, request):
        data = s.EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(user=request.user, **data.validated_data)
        body = s.EndpointSerializer(endpoint).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(_WebhookApi):
    @extend_schema(summary="A webhook endpoint of yours", responses=s.EndpointSerializer)
    def get(self, request, endpoint_id):
        endpoint = services.endpoint_get(request.user, endpoint_id)
        return Response(s.EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Change a webhook endpoint",
        description="Enabling a disabled endpoint clears its failure history.",
        request=s.EndpointUpdateSerializer,
        responses=s.EndpointSerializer,
    )
    def patch(self, request, endpoint_id):
        data = s.EndpointUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            user=request.user, endpoint_id=endpoint_id, **data.validated_data
        )
        return Response(s.EndpointSerializer(endpoint).data)

    @extend_schema(summary="Remove a webhook endpoint", responses={204: None})
    def delete(self, request, endpoint_id):
        services.endpoint_delete(user=request.user, endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateApi(_WebhookApi):
    @extend_schema(
        summary="Rotate the signing secret (the new one is shown once)",
        description="The current secret keeps signing for `grace_s` seconds: deliveries "
        "carry both signatures meanwhile.",
        request=s.RotateSerializer,
        responses={200: s.EndpointSecretSerializer},
    )
    def post(self, request, endpoint_id):
        data = s.RotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.secret_rotate(
            user=request.user, endpoint_id=endpoint_id, grace_s=data.validated_data.get("grace_s")
        )
        return Response(s.EndpointSerializer(endpoint).data | {"secret": secret})


class WebhookTestApi(_WebhookApi):
    @extend_schema(
        summary="Send a test event to this endpoint",
        request=None,
        responses={202: s.TestSentSerializer, **DISABLED},
    )
    def post(self, request, endpoint_id):
        event_id = services.endpoint_test(user=request.user, endpoint_id=endpoint_id)
        return Response({"event": event_id}, status=status.HTTP_202_ACCEPTED)


class WebhookRedeliverApi(_WebhookApi):
    @extend_schema(
        summary="Send again: one delivery, one event, or everything failed since a time",
        description="Redeliveries carry the same webhook-id as the first attempt.",
        request=s.RedeliverSerializer,
        responses={202: s.RedeliveredSerializer, **DISABLED},
    )
    def post(self, request, endpoint_id):
        data = s.RedeliverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        queued = services.deliveries_redeliver(
            user=request.user,
            endpoint_id=endpoint_id,
            delivery_id=given.get("delivery"),
            event_id=given.get("event"),
            since=given.get("since"),
        )
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(_WebhookApi):
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="The endpoint's deliveries, newest first",
        parameters=[s.DeliveryFilterSerializer],
        responses=s.DeliverySerializer(many=True),
    )
    def get(self, request, endpoint_id):
        filters = s.DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        endpoint = services.endpoint_get(request.user, endpoint_id)
        rows = selectors.deliveries_of(endpoint=endpoint, filters=filters.validated_data)
        return paginated_response(self, request, rows, s.DeliverySerializer)


class WebhookDeliveryDetailApi(_WebhookApi):
    @extend_schema(
        summary="A delivery with every attempt (time, status, latency, response excerpt)",
        responses=s.DeliveryDetailSerializer,
    )
    def get(self, request, endpoint_id, delivery_id):
        endpoint = services.endpoint_get(request.user, endpoint_id)
        delivery = (
            WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id)
            .select_related("recipient_event")
            .prefetch_related("log")
            .first()
        )
        if delivery is None:
            raise EventNotFound("no such delivery", param="delivery_id")
        return Response(s.DeliveryDetailSerializer(delivery).data)
