"""Merchant payouts in the back office (docs/withdrawals.md, "Merchant payouts"): the
schedules, the payout queue (its ledger lines inline; cancel a pending one with a note:
its money goes back) and the batches with their transaction."""

from django.contrib import admin, messages

from fastpay.admin_mixins import ReadOnlyAdmin
from fastpay.errors import DomainError
from fastpay.money import format_amount
from settlement.payouts.models import Payout, PayoutBatch, PayoutLine, PayoutSchedule
from settlement.payouts.selectors import payouts_platform_fees
from settlement.payouts.services import payout_cancel_by_staff


@admin.register(PayoutSchedule)
class PayoutScheduleAdmin(admin.ModelAdmin):
    list_display = ["user", "token", "interval", "destination", "minimum_units", "enabled"]
    list_filter = ["interval", "enabled", "token"]
    search_fields = ["user__username", "destination__address"]
    raw_id_fields = ["user", "destination"]


class PayoutLineInline(admin.TabularInline):
    model = PayoutLine
    fields = ["posting", "entry_kind", "entry_reference", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="kind")
    def entry_kind(self, line):
        return line.posting.entry.kind

    @admin.display(description="reference")
    def entry_reference(self, line):
        return line.posting.entry.reference


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "amount_display",
        "fee_display",
        "state",
        "waiting_reason",
        "destination",
        "batch",
        "created_at",
    ]
    list_filter = ["state", "token", "waiting_reason"]
    search_fields = ["id", "user__username", "destination"]
    readonly_fields = [f.name for f in Payout._meta.fields] + ["platform_fees_display"]
    inlines = [PayoutLineInline]
    actions = ["cancel_pending"]

    @admin.display(description="amount sent", ordering="amount_units")
    def amount_display(self, payout):
        return format_amount(payout.amount_units, payout.token)

    @admin.display(description="fee")
    def fee_display(self, payout):
        return format_amount(payout.fee_units, payout.token)

    @admin.display(description="platform fees on the money paid out")
    def platform_fees_display(self, payout):
        return format_amount(payouts_platform_fees([payout]).get(payout.pk, 0), payout.token)

    @admin.action(description="Cancel the selected pending payouts (money back)")
    def cancel_pending(self, request, queryset):
        note = request.POST.get("note") or "cancelled by staff from the payout queue"
        done = 0
        for payout in queryset:
            try:
                payout_cancel_by_staff(payout_id=payout.pk, staff=request.user, note=note)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{payout}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"Cancelled {done} payout(s).", messages.SUCCESS)


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "token", "contract_address", "tx", "tx_state", "size", "created_at"]
    list_filter = ["token"]
    readonly_fields = [f.name for f in PayoutBatch._meta.fields]

    @admin.display(description="transaction state")
    def tx_state(self, batch):
        return batch.tx.state

    @admin.display(description="payouts")
    def size(self, batch):
        return batch.payouts.count()
