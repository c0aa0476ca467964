"""The withdrawal queue (docs/withdrawals.md, "Back office"): every money field is read-only;
approve, reject and cancel go through the services, each with the revision the reviewer
saw (a withdrawal changed meanwhile is refused: stale_revision) and a note."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from fastpay.admin_mixins import ReadOnlyAdmin
from fastpay.errors import DomainError
from fastpay.money import format_amount
from settlement.models import (
    AllowedAddress,
    Withdrawal,
    WithdrawalApproval,
    WithdrawalDayUsage,
    WithdrawalLimit,
    WithdrawalPolicy,
    WithdrawalState,
)
from settlement.services.lifecycle import APPROVE_PERMISSION
from settlement.services.reviews import (
    withdrawal_approve,
    withdrawal_cancel_by_staff,
    withdrawal_reject,
)


class WithdrawalApprovalInline(admin.TabularInline):
    model = WithdrawalApproval
    fields = ["revision", "staff", "note", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdmin):
    list_display = [
        "short_id",
        "user",
        "amount_display",
        "destination",
        "state",
        "revision",
        "approvals_display",
        "unlock_at",
        "waiting_reason",
        "created_at",
    ]
    list_filter = ["state", "token", "waiting_reason", "required_approvals"]
    search_fields = ["=id", "user__username", "destination"]
    search_help_text = "Withdrawal id (exact), username, or destination"
    list_select_related = ["user", "token"]
    ordering = ["-created_at"]
    inlines = [WithdrawalApprovalInline]

    @admin.display(description="id")
    def short_id(self, obj):
        url = reverse("admin:settlement_withdrawal_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.pk)[:8])

    @admin.display(description="amount", ordering="amount_units")
    def amount_display(self, obj):
        return format_amount(obj.amount_units, obj.token)

    @admin.display(description="approvals")
    def approvals_display(self, obj):
        done = sum(1 for a in obj.approvals.all() if a.revision == obj.revision)
        return f"{done}/{obj.required_approvals}"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("approvals")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The withdrawal's page: details, approvals, and the decision form (POST)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        withdrawal = get_object_or_404(
            Withdrawal.objects.select_related("user", "token", "chain", "tx"), pk=object_id
        )
        if request.method == "POST":
            return self._decide(request, withdrawal)
        approvals = list(withdrawal.approvals.select_related("staff").order_by("created_at"))
        may_decide = request.user.has_perm(APPROVE_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Withdrawal {withdrawal.pk}",
            "opts": self.model._meta,
            "w": withdrawal,
            "amount": format_amount(withdrawal.amount_units, withdrawal.token),
            "fee": format_amount(withdrawal.fee_units, withdrawal.token),
            "approvals": approvals,
            "current": [a for a in approvals if a.revision == withdrawal.revision],
            "requester": request.user.pk == withdrawal.user_id,
            "already_approved": any(
                a.staff_id == request.user.pk and a.revision == withdrawal.revision
                for a in approvals
            ),
            "can_approve": may_decide and withdrawal.state == WithdrawalState.AWAITING_APPROVAL,
            "can_cancel": may_decide
            and withdrawal.state
            in (WithdrawalState.AWAITING_APPROVAL, WithdrawalState.AWAITING_PAYMENT),
        }
        return TemplateResponse(request, "admin/settlement/withdrawal/decide.html", context)

    def _decide(self, request, withdrawal):
        action = request.POST.get("action", "")
        note = request.POST.get("note", "")
        try:
            revision = int(request.POST.get("revision", "0"))
            if action == "approve":
                withdrawal = withdrawal_approve(
                    withdrawal_id=withdrawal.pk, staff=request.user, revision=revision, note=note
                )
            elif action in ("reject", "cancel"):
                if revision != withdrawal.revision:
                    self.message_user(
                        request,
                        f"The withdrawal changed (revision {withdrawal.revision}, you saw "
                        f"{revision}): look again.",
                        messages.ERROR,
                    )
                    return HttpResponseRedirect(request.path)
                decide = withdrawal_reject if action == "reject" else withdrawal_cancel_by_staff
                withdrawal = decide(withdrawal_id=withdrawal.pk, staff=request.user, note=note)
            else:
                self.message_user(request, f"unknown action {action!r}", messages.ERROR)
                return HttpResponseRedirect(request.path)
        except ValueError:
            self.message_user(request, "the revision is a number", messages.ERROR)
            return HttpResponseRedirect(request.path)
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        self.message_user(
            request,
            f"Withdrawal {withdrawal.pk}: {withdrawal.get_state_display()}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:settlement_withdrawal_changelist"))


@admin.register(WithdrawalPolicy)
class WithdrawalPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "token",
        "enabled",
        "fee_units",
        "daily_limit_units",
        "approval_above_units",
        "four_eyes_above_units",
        "timelock_above_units",
        "timelock_s",
    ]


@admin.register(WithdrawalLimit)
class WithdrawalLimitAdmin(admin.ModelAdmin):
    list_display = ["user", "token", "daily_limit_units", "updated_at"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]


@admin.register(WithdrawalDayUsage)
class WithdrawalDayUsageAdmin(ReadOnlyAdmin):
    list_display = ["user", "token", "day", "used_units", "limit_units"]
    list_filter = ["day", "token"]
    search_fields = ["user__username"]


@admin.register(AllowedAddress)
class AllowedAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "user", "chain", "label", "usable_at", "removed_at"]
    search_fields = ["address", "user__username"]
    list_filter = ["chain"]


from settlement.batches import admin as _batches_admin  # noqa: E402, F401  (on-chain settlement)
from settlement.payouts import admin as _payouts_admin  # noqa: E402, F401  (merchant payouts)
from settlement.treasury import admin as _treasury_admin  # noqa: E402, F401  (hot and cold wallets)
