from rest_framework import serializers

from fastpay.serializers import StrictFilterSerializer, StrictSerializer
from notifications.catalogue import CATALOGUE, WEBHOOK_TYPES
from notifications.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.render import event_json


class EventFilterSerializer(StrictFilterSerializer):
    type = serializers.ChoiceField(choices=sorted(CATALOGUE), required=False)
    after = serializers.UUIDField(
        required=False, help_text="An event id: only the events dispatched to you after it"
    )
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class EventSerializer(serializers.Serializer):
    """The public event, as webhooks and streams send it (notifications.render)."""

    id = serializers.UUIDField(help_text="Stable: the same for every recipient and retry")
    type = serializers.CharField(help_text="A catalogue type (docs/events.md)")
    version = serializers.IntegerField(help_text="The payload schema's version")
    created = serializers.DateTimeField(help_text="When the change happened (RFC 3339, UTC)")
    sequence = serializers.IntegerField(
        help_text="Your stream's number for it: 1, 2, 3 ... with no gap"
    )
    data = serializers.DictField(help_text="The payload (docs/events.md)")

    def to_representation(self, instance):
        return event_json(instance)


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2048)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *WEBHOOK_TYPES]),
        min_length=1,
        max_length=len(WEBHOOK_TYPES) + 1,
        help_text='Catalogue types to receive, or ["*"] for all',
    )
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointUpdateSerializer(EndpointCreateSerializer):
    url = serializers.URLField(max_length=2048, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *WEBHOOK_TYPES]),
        min_length=1,
        max_length=len(WEBHOOK_TYPES) + 1,
        required=False,
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class EndpointSerializer(serializers.ModelSerializer):
    secret_rotation_ends_at = serializers.DateTimeField(
        source="previous_secret_expires_at",
        allow_null=True,
        help_text="Until then the previous secret signs too (a second signature)",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "secret_rotation_ends_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="whsec_...: shown this once")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class RotateSerializer(StrictSerializer):
    grace_s = serializers.IntegerField(
        min_value=0,
        max_value=7 * 86400,
        required=False,
        help_text="Seconds the current secret keeps signing (default "
        "FASTPAY_WEBHOOKS_ROTATION_GRACE_S); 0 ends it now",
    )


class RedeliverSerializer(StrictSerializer):
    delivery = serializers.IntegerField(min_value=1, required=False)
    event = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(
        required=False, help_text="Every delivery that failed, created since then"
    )

    def validate(self, attrs):
        given = [name for name in ("delivery", "event", "since") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"delivery": ["give exactly one of delivery, event or since"]},
                code="one_of",
            )
        return attrs


class DeliveryFilterSerializer(StrictFilterSerializer):
    state = serializers.ChoiceField(choices=DeliveryState.choices, required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "attempted_at",
            "state",
            "finished_at",
            "interrupted_at",
            "status_code",
            "latency_ms",
            "error",
            "response_excerpt",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.UUIDField(source="recipient_event.event_id")
    type = serializers.CharField(source="recipient_event.type")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    log = AttemptSerializer(many=True, help_text="Every attempt, newest first")

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "log"]
        read_only_fields = fields


class TestSentSerializer(serializers.Serializer):
    event = serializers.UUIDField(help_text="The test event's id (its webhook-id)")


class RedeliveredSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Deliveries queued again")
