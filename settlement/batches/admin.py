"""Admin of on-chain settlement of redemptions: batches with their items inline (the
contract's reason for every skipped one), redemptions filterable by state and reason.
Read-only: states move only through settlement.batches.services."""

from django.contrib import admin

from fastpay.admin_mixins import ReadOnlyAdmin
from settlement.batches.models import ChainRedemption, SettlementBatch


class ChainRedemptionInline(admin.TabularInline):
    model = ChainRedemption
    fields = [
        "position",
        "sender",
        "sequence",
        "epoch",
        "amount_units",
        "state",
        "reason",
        "reason_detail",
    ]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "batch_id",
        "epoch",
        "state",
        "items_count",
        "settled_count",
        "skipped_count",
        "submissions",
        "settled_tx_hash",
        "created_at",
        "settled_at",
    ]
    list_filter = ["state", "chain", "epoch"]
    search_fields = ["=batch_id", "settled_tx_hash", "items_hash"]
    readonly_fields = [f.name for f in SettlementBatch._meta.fields]
    inlines = [ChainRedemptionInline]


@admin.register(ChainRedemption)
class ChainRedemptionAdmin(ReadOnlyAdmin):
    list_display = [
        "sender",
        "sequence",
        "epoch",
        "token_address",
        "amount_units",
        "state",
        "reason",
        "batch",
        "settled_tx_hash",
        "created_at",
    ]
    list_filter = ["state", "reason", "chain", "epoch"]
    search_fields = ["sender", "settled_tx_hash", "user__username"]
    readonly_fields = [f.name for f in ChainRedemption._meta.fields]
    raw_id_fields = ["user", "batch"]
