"""Back office for offline money: FastPay accounts, online/offline transfers, vouchers,
redemptions (by state and reason, release or reject flagged ones), double-spend
evidence, and per-user limits (editable)."""

from django.contrib import admin, messages

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from offline.models import (
    DoubleSpend,
    FastPayAccount,
    OfflineLimit,
    OfflineTransfer,
    Redemption,
    RedemptionState,
    Voucher,
)
from offline.services.cover import COVERABLE, redemption_cover
from offline.services.redemptions import redemption_reject, redemption_release
from offline.services.settlement import redemptions_retry_now
from offline.services.transfers import offline_transfers_retry_now
from offline.services.vouchers import offline_unsuspend


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "address", "token", "amount", "not_after", "state"]
    list_filter = ["state", "token"]
    search_fields = ["address", "payer", "user__username"]
    date_hierarchy = "created_at"


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "vendor",
        "voucher_address",
        "amount",
        "state",
        "reason",
        "attempts",
        "next_attempt_at",
        "last_error",
        "settled_at",
    ]
    list_filter = ["state", "reason"]
    search_fields = ["spend_id", "voucher_address", "vendor__username"]
    date_hierarchy = "created_at"
    actions = ["retry_settlement", "release", "reject", "cover"]

    def has_decide_permission(self, request):
        return request.user.has_perm("offline.decide_redemption")

    @admin.action(
        description="Retry settlement now (pending ones, and those settlement gave up on)",
        permissions=["decide"],
    )
    def retry_settlement(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = redemptions_retry_now(ids=ids)
        settled = Redemption.objects.filter(pk__in=ids, state=RedemptionState.SETTLED).count()
        self.message_user(
            request,
            f"Settlement retried for {count} of {len(ids)} redemption(s); "
            f"{settled} of the selection settled now.",
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(description="Release flagged redemptions to settlement", permissions=["decide"])
    def release(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.filter(state=RedemptionState.FLAGGED),
            lambda r: redemption_release(redemption=r, by=request.user),
            "Released",
        )

    @admin.action(description="Reject flagged redemptions", permissions=["decide"])
    def reject(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.filter(state=RedemptionState.FLAGGED),
            lambda r: redemption_reject(redemption=r, by=request.user),
            "Rejected",
        )

    @admin.action(
        description="Cover the vendor (voucher taken back early or spent twice): pay it, "
        "claim from the payer",
        permissions=["decide"],
    )
    def cover(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.filter(state=RedemptionState.FLAGGED, reason__in=COVERABLE),
            lambda r: redemption_cover(redemption=r, by=request.user),
            "Covered",
        )


@admin.register(DoubleSpend)
class DoubleSpendAdmin(ReadOnlyAdmin):
    """Both voucher-key signatures for sequence 0: the rejected spend and the one that
    holds the voucher (``conflicting_with``)."""

    list_display = [
        "created_at",
        "voucher_address",
        "vendor",
        "amount",
        "state",
        "reason",
        "first_spend",
    ]
    search_fields = ["voucher_address", "vendor__username"]
    readonly_fields = ["first_spend_signature"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(conflicting_with__isnull=False)  # covered or not
            .select_related("conflicting_with", "vendor")
        )

    @admin.display(description="redemption holding the voucher")
    def first_spend(self, obj):
        return obj.conflicting_with_id

    @admin.display(description="first spend's signature")
    def first_spend_signature(self, obj):
        return obj.conflicting_with.signature if obj.conflicting_with else ""


@admin.register(OfflineLimit)
class OfflineLimitAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "max_outstanding",
        "max_per_voucher",
        "max_vouchers_per_day",
        "suspended_at",
        "suspended_reason",
    ]
    list_filter = [("suspended_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username"]
    readonly_fields = ["suspended_at", "suspended_reason"]
    actions = ["unsuspend"]

    @admin.action(description="Lift the offline suspension")
    def unsuspend(self, request, queryset):
        run_service_action(
            self, request, queryset, lambda limit: offline_unsuspend(limit=limit), "Lifted"
        )


@admin.register(FastPayAccount)
class FastPayAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "address", "linked_at"]
    search_fields = ["user__username", "address"]


@admin.register(OfflineTransfer)
class OfflineTransferAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "direction",
        "token",
        "amount",
        "state",
        "sequence",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["direction", "state", "token"]
    search_fields = ["id", "user__username", "sender", "recipient"]
    actions = ["retry_now"]

    @admin.action(
        description="Retry certification now (pending FUND transfers, and failed ones again)",
        permissions=["view"],
    )
    def retry_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        counts = offline_transfers_retry_now(ids=ids)
        settled = not counts["pending"] and not counts["failed"]
        self.message_user(
            request,
            f"{len(ids)} transfer(s): {counts['done']} done, {counts['pending']} still pending "
            f"(see last error), {counts['failed']} failed.",
            messages.SUCCESS if settled else messages.WARNING,
        )
