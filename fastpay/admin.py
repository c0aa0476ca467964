from django.contrib import admin

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from fastpay.api_keys import api_key_revoke
from fastpay.models import ApiKey, OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "topic", "aggregate_type", "aggregate_id", "dispatched_at"]
    list_filter = ["topic", "aggregate_type", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "aggregate_id", "topic"]
    date_hierarchy = "created_at"


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["secret_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected API keys", permissions=["view"])
    def revoke(self, request, queryset):
        if not request.user.is_superuser:
            self.message_user(request, "only admins revoke keys from the back office")
            return
        run_service_action(
            self,
            request,
            queryset,
            lambda key: api_key_revoke(user=key.user, key_id=key.pk),
            "Revoked",
        )
