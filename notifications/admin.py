"""Back office of events and webhooks: every event as each recipient got it, endpoints
(disabled ones flagged with why), deliveries with their attempt log, redelivery. Writes
call notifications.webhooks.services."""

from django.contrib import admin, messages

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from notifications.models import (
    DeliveryState,
    RecipientEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.webhooks import services


@admin.register(RecipientEvent)
class RecipientEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "audience", "user", "sequence", "event_id", "created_at"]
    list_filter = ["audience", "type"]
    search_fields = ["=event__id", "user__username", "type"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


class DisabledFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("enabled", "Enabled"), ("disabled", "Disabled"), ("failing", "Failing")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "enabled":
            return queryset.filter(enabled=True)
        if value == "disabled":
            return queryset.filter(enabled=False)
        if value == "failing":
            return queryset.filter(failing_since__isnull=False)
        return queryset


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "url",
        "user",
        "enabled",
        "failing_since",
        "disabled_reason",
        "created_at",
    ]
    list_filter = [DisabledFilter]
    search_fields = ["url", "user__username"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "disabled_at",
        "disabled_reason",
        "failing_since",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    fields = ["user", "url", "event_types", "description", *readonly_fields[1:]]
    actions = ["disable", "enable", "send_test_event", "redeliver_failed_last_3_days"]

    def has_add_permission(self, request, obj=None):
        return False  # the owner creates endpoints (the secret is shown to them once)

    def changelist_view(self, request, extra_context=None):
        disabled = WebhookEndpoint.objects.filter(enabled=False, disabled_reason__gt="").count()
        if disabled and request.method == "GET":
            self.message_user(
                request,
                f"{disabled} endpoint(s) were disabled automatically (410 Gone or failing "
                "for days): filter by status = Disabled.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        services.endpoint_update(
            user=None,
            endpoint_id=obj.pk,
            url=obj.url,
            event_types=obj.event_types,
            description=obj.description,
        )

    @admin.action(description="Disable the selected endpoints")
    def disable(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda e: services.endpoint_disable(
                endpoint_id=e.pk, reason=f"disabled by {request.user.username}"
            ),
            "Disabled",
        )

    @admin.action(description="Enable the selected endpoints")
    def enable(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda e: services.endpoint_update(user=None, endpoint_id=e.pk, enabled=True),
            "Enabled",
        )

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda e: services.endpoint_test(user=None, endpoint_id=e.pk),
            "Sent a test event to",
        )

    @admin.action(description="Redeliver what failed in the last 3 days")
    def redeliver_failed_last_3_days(self, request, queryset):
        from datetime import timedelta

        from django.utils import timezone

        since = timezone.now() - timedelta(days=3)
        run_service_action(
            self,
            request,
            queryset,
            lambda e: services.deliveries_redeliver(user=None, endpoint_id=e.pk, since=since),
            "Queued the failed deliveries of",
        )


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = [
        "attempted_at",
        "state",
        "interrupted_at",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Filter by state = failed and a date, select all: "redeliver everything failed
    since" is the redeliver action on that selection."""

    list_display = [
        "id",
        "endpoint",
        "type",
        "state",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["state", "endpoint__enabled"]
    search_fields = ["=recipient_event__event__id", "endpoint__url"]
    list_select_related = ["endpoint", "recipient_event"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.display(description="type")
    def type(self, obj):
        return obj.recipient_event.type

    @admin.action(description="Redeliver (same webhook-id)")
    def redeliver(self, request, queryset):
        ids = list(
            queryset.exclude(state=DeliveryState.PENDING)
            .filter(endpoint__enabled=True)
            .values_list("pk", flat=True)
        )
        count = services.deliveries_requeue(ids)
        self.message_user(request, f"Queued {count} delivery(ies) again.", messages.SUCCESS)
