from django.contrib import admin

from merchants.models import PegStatus, RateSnapshot


@admin.register(RateSnapshot)
class RateSnapshotAdmin(admin.ModelAdmin):
    list_display = ("computed_at", "base", "quote", "rate", "source_names")
    list_filter = ("base", "quote")
    date_hierarchy = "computed_at"

    @admin.display(description="sources")
    def source_names(self, obj):
        return ", ".join(s["provider"] for s in obj.sources)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PegStatus)
class PegStatusAdmin(admin.ModelAdmin):
    list_display = ("token", "state", "rate", "deviation_bps", "checked_at", "reason")
    readonly_fields = (
        "token",
        "state",
        "rate",
        "deviation_bps",
        "checked_at",
        "changed_at",
        "reason",
    )

    def has_add_permission(self, request):
        return False
