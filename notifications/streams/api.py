"""POST /api/v1/stream-tickets/: a short-lived, single-use ticket for a WebSocket."""

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsAuthenticatedUser, scope_required
from fastpay.serializers import StrictSerializer
from notifications.streams.auth import EVENTS_SCOPE
from notifications.streams.models import StreamName
from notifications.streams.tickets import stream_ticket_issue

PATHS = {StreamName.EVENTS: "/ws/v1/events/", StreamName.STAFF: "/ws/v1/staff/"}


class StreamTicketCreateSerializer(StrictSerializer):
    stream = serializers.ChoiceField(choices=StreamName.choices, default=StreamName.EVENTS)


class StreamTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Put it in the query string: ?ticket=...")
    stream = serializers.ChoiceField(choices=StreamName.choices)
    url = serializers.CharField(help_text="The stream's path with the ticket")
    expires_at = serializers.DateTimeField()


class StreamTicketCreateApi(APIView):
    permission_classes = [IsAuthenticatedUser, scope_required(EVENTS_SCOPE)]

    @extend_schema(
        summary="Get a ticket to open a live stream (WebSocket)",
        description=(
            "Browsers cannot set headers on a WebSocket: open "
            "`/ws/v1/events/?ticket=...` (or `/ws/v1/staff/` for staff) with this ticket "
            f"within FASTPAY_STREAM_TICKET_TTL_S seconds ({settings.FASTPAY_STREAM_TICKET_TTL_S}"
            " by default). A ticket opens one connection once; add `&after=<event id>` to "
            "resume. See docs/streams.md."
        ),
        request=StreamTicketCreateSerializer,
        responses={201: StreamTicketSerializer},
        examples=[OpenApiExample("events", request_only=True, value={"stream": "events"})],
    )
    def post(self, request):
        data = StreamTicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stream = data.validated_data["stream"]
        with transaction.atomic():
            ticket, secret = stream_ticket_issue(user=request.user, stream=stream)
        body = {
            "ticket": secret,
            "stream": stream,
            "url": f"{PATHS[stream]}?ticket={secret}",
            "expires_at": ticket.expires_at,
        }
        return Response(StreamTicketSerializer(body).data, status=status.HTTP_201_CREATED)
