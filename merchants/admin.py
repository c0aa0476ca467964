from django.contrib import admin

from merchants.models import Invoice, InvoicePolicy, InvoiceReceipt, PegStatus, RateSnapshot


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


@admin.register(InvoicePolicy)
class InvoicePolicyAdmin(admin.ModelAdmin):
    """A merchant's invoice defaults and exception policies (copied onto new invoices)."""

    list_display = ("merchant", "expiry_s", "partial", "over", "late", "slippage_bps")
    raw_id_fields = ("merchant",)


class InvoiceReceiptInline(admin.TabularInline):
    model = InvoiceReceipt
    fields = ("method", "reference", "amount", "payer", "late", "returned", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    """Read-only: invoices change only through merchants.invoices.services."""

    list_display = ("id", "merchant", "status", "exception", "token", "amount", "created_at")
    list_filter = ("status", "exception", "token")
    search_fields = ("id", "order_id", "merchant__username")
    date_hierarchy = "created_at"
    inlines = [InvoiceReceiptInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Invoice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
