"""Custody reconciliation in the back office: runs with their lines inline, read-only
(a run is evidence; ``manage.py reconcile`` or the daily beat task makes one)."""

from django.contrib import admin

from fastpay.admin_mixins import ReadOnlyAdmin
from wallets.chain.models import ReconciliationLine, ReconciliationRun


class ReconciliationLineInline(admin.TabularInline):
    model = ReconciliationLine
    extra = 0
    can_delete = False
    fields = [
        "token",
        "kind",
        "address",
        "onchain_units",
        "ledger_units",
        "difference_units",
        "explained",
        "note",
    ]
    readonly_fields = fields
    ordering = ["explained", "token", "kind", "address"]  # drift first

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "chain", "block_number", "state", "drift_units", "finished_at"]
    list_filter = ["state", "chain"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "chain",
        "block_number",
        "block_hash",
        "state",
        "drift_units",
        "error",
        "started_at",
        "finished_at",
    ]
    inlines = [ReconciliationLineInline]
    list_select_related = ["chain"]
