"""Back office for offline money: FastPay accounts, online/offline transfers, vouchers,
redemptions (by state and reason, release or reject flagged ones), double-spend
evidence, and per-user limits (editable)."""

from django.contrib import admin, messages

from authorities.gateway import CommitteeUnavailable
from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from offline.models import (
    DoubleSpend,
    FastPayAccount,
    OfflineLimit,
    OfflineTransfer,
    PlatformAccount,
    Redemption,
    RedemptionState,
    Voucher,
)
from offline.services.cover import COVERABLE, redemption_cover
from offline.services.fund_void import offline_fund_void
from offline.services.platform_accounts import platform_account_check, platform_account_resume
from offline.services.redemptions import redemption_reject, redemption_release
from offline.services.settlement import redemptions_retry_now
from offline.services.transfers import offline_transfers_retry_now
from offline.services.vouchers import offline_unsuspend


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "address",
        "token",
        "amount",
        "not_after",
        "state",
        "collateral_held",
        "collateral_released_at",
    ]
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
    actions = ["retry_now", "void_by_replacement"]

    @admin.action(
        description="Retry certification now (pending FUND transfers; failed and stuck again)",
        permissions=["view"],
    )
    def retry_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        counts = offline_transfers_retry_now(ids=ids)
        settled = not counts["pending"] and not counts["failed"] and not counts["stuck"]
        self.message_user(
            request,
            f"{len(ids)} transfer(s): {counts['done']} done, {counts['pending']} still pending "
            f"(see last error), {counts['failed']} failed, {counts['stuck']} stuck.",
            messages.SUCCESS if settled else messages.WARNING,
        )

    def has_void_permission(self, request):
        return request.user.has_perm("offline.void_fund")

    @admin.action(
        description="Void by replacement (stuck FUND: money back to the user's balance)",
        permissions=["void"],
    )
    def void_by_replacement(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda t: offline_fund_void(transfer_id=t.pk, by=request.user),
            "Voided",
        )


@admin.register(PlatformAccount)
class PlatformAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "index",
        "address",
        "next_sequence",
        "committee_sequence",
        "checked_at",
        "funding_paused_at",
        "paused_reason",
    ]
    actions = ["check_sequence", "resume_funding"]

    @admin.action(description="Compare the sequence with the committee's now", permissions=["view"])
    def check_sequence(self, request, queryset):
        for account in queryset:
            try:
                checked = platform_account_check(account_id=account.pk)
            except CommitteeUnavailable as exc:
                self.message_user(request, f"{account}: {exc}", messages.ERROR)
                continue
            state = f"PAUSED: {checked.paused_reason}" if checked.funding_paused_at else "in line"
            self.message_user(request, f"{checked}: {state}")

    def has_resume_permission(self, request):
        return request.user.has_perm("offline.void_fund")

    @admin.action(
        description="Resume funding at the committee's sequence (after the lost FUNDs are "
        "accounted for)",
        permissions=["resume"],
    )
    def resume_funding(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda a: platform_account_resume(
                account_id=a.pk, next_sequence=max(a.next_sequence, a.committee_sequence or 0)
            ),
            "Resumed",
        )
