"""Admin building blocks shared by every app's back office."""

from django.contrib import admin, messages

from fastpay.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: money rows and audit rows are never edited or deleted from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def run_service_action(modeladmin, request, queryset, service, verb: str) -> None:
    """Call `service(obj)` for each selected row; report successes and refusals."""
    done, refused = 0, []
    for obj in queryset:
        try:
            service(obj)
            done += 1
        except DomainError as exc:
            refused.append(f"{obj}: {exc.message}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} item(s).", messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, line, messages.WARNING)
