"""GET/PATCH /api/v1/notification-preferences/: which notifications a user gets, and
how (email to the account's address, SMS to ``phone_number``)."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsAuthenticatedUser, UserCredentialsOnly
from fastpay.serializers import StrictSerializer
from notifications.preferences import PHONE_PATTERN
from notifications.services.preferences import preference_get, preference_update


class StrictBooleanField(serializers.BooleanField):
    """true or false, as JSON booleans: "yes", 1 or "on" are refused, not guessed."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid")


class PreferenceSerializer(serializers.Serializer):
    email_account = serializers.BooleanField(help_text="Email: account approved or suspended")
    email_payments = serializers.BooleanField(
        help_text="Email: a payment of yours flagged for review, approved or rejected"
    )
    email_webhooks = serializers.BooleanField(help_text="Email: a webhook endpoint disabled")
    sms_account = serializers.BooleanField()
    sms_payments = serializers.BooleanField()
    sms_webhooks = serializers.BooleanField()
    phone_number = serializers.CharField(help_text="E.164 (+41791234567), or empty")
    email = serializers.EmailField(
        source="user.email", read_only=True, help_text="Where email goes (your account's)"
    )


class PreferenceUpdateSerializer(StrictSerializer):
    email_account = StrictBooleanField(required=False)
    email_payments = StrictBooleanField(required=False)
    email_webhooks = StrictBooleanField(required=False)
    sms_account = StrictBooleanField(required=False)
    sms_payments = StrictBooleanField(required=False)
    sms_webhooks = StrictBooleanField(required=False)
    phone_number = serializers.RegexField(
        f"{PHONE_PATTERN}|^$",
        required=False,
        allow_blank=True,
        max_length=16,
        trim_whitespace=False,
        error_messages={"invalid": "an E.164 number: + then 7 to 15 digits, or empty"},
    )


class NotificationPreferenceApi(APIView):
    permission_classes = [IsAuthenticatedUser, UserCredentialsOnly]

    @extend_schema(summary="Your notification preferences", responses=PreferenceSerializer)
    def get(self, request):
        return Response(PreferenceSerializer(preference_get(user=request.user)).data)

    @extend_schema(
        summary="Change your notification preferences (only the fields given)",
        description="SMS needs a phone number: turning an SMS notification on without one, "
        "or clearing the number while one is on, is refused (`sms_needs_phone`).",
        request=PreferenceUpdateSerializer,
        responses=PreferenceSerializer,
        examples=[
            OpenApiExample(
                "SMS for payments",
                request_only=True,
                value={"sms_payments": True, "phone_number": "+41791234567"},
            )
        ],
    )
    def patch(self, request):
        data = PreferenceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = preference_update(user=request.user, changes=data.validated_data)
        return Response(PreferenceSerializer(preference).data)
