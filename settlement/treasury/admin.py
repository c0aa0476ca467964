"""Hot and cold wallets in the back office (docs/treasury.md):
the hot wallet's levels against its thresholds, the cold Safe's transactions with their
owners' signatures and the form that adds one, and the transfers of excess to cold.

Keys never come here: an owner signs the Safe transaction's hash on their own machine
(tools/safe_sign.py or ``cast wallet sign --no-hash``) and pastes the 65-byte signature.
Executing is the worker's job (it holds the hot wallet's key): "Execute now" queues it."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from fastpay.admin_mixins import ReadOnlyAdmin
from fastpay.errors import DomainError
from fastpay.money import format_amount
from settlement.treasury import services
from settlement.treasury.models import (
    ColdTransfer,
    HotWalletThreshold,
    SafeTransaction,
    SafeTxState,
)
from settlement.treasury.safe import ZERO_ADDRESS
from wallets.chain.models import Chain
from wallets.chain.rpc import RpcError

SIGN_PERMISSION = "settlement.change_safetransaction"


def _band(threshold: HotWalletThreshold) -> str:
    if threshold.level_units is None:
        return "unknown"
    if threshold.level_units < threshold.min_units:
        return "below minimum: refill"
    if threshold.level_units > threshold.max_units:
        return "above maximum: excess to cold"
    return "ok"


@admin.register(HotWalletThreshold)
class HotWalletThresholdAdmin(admin.ModelAdmin):
    list_display = [
        "token",
        "level_display",
        "band",
        "min_display",
        "target_display",
        "max_display",
        "enabled",
        "level_at",
    ]
    readonly_fields = ["level_units", "level_block", "level_at"]
    fields = ["token", "min_units", "target_units", "max_units", "enabled", *readonly_fields]
    actions = ["refill_propose"]

    @admin.display(description="hot level", ordering="level_units")
    def level_display(self, obj):
        if obj.level_units is None:
            return "-"
        return format_amount(obj.level_units, obj.token)

    @admin.display(description="band")
    def band(self, obj):
        return _band(obj)

    @admin.display(description="minimum")
    def min_display(self, obj):
        return format_amount(obj.min_units, obj.token)

    @admin.display(description="target")
    def target_display(self, obj):
        return format_amount(obj.target_units, obj.token)

    @admin.display(description="maximum")
    def max_display(self, obj):
        return format_amount(obj.max_units, obj.token)

    @admin.action(description="Propose a refill from the cold Safe (up to the target)")
    def refill_propose(self, request, queryset):
        for threshold in queryset.select_related("token"):
            chain = Chain.objects.filter(chain_id=threshold.token.chain_id).first()
            try:
                if chain is None:
                    raise DomainError(f"no chain {threshold.token.chain_id}")
                row, created = services.refill_request(
                    chain, threshold.token, proposed_by=request.user
                )
            except (DomainError, RpcError) as exc:
                self.message_user(request, f"{threshold.token}: {exc}", "warning")
                continue
            verb = "proposed" if created else "already open"
            self.message_user(request, f"{threshold.token}: refill {verb}: {row}", "success")


@admin.register(SafeTransaction)
class SafeTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "link",
        "kind",
        "token",
        "amount_display",
        "state",
        "signatures_display",
        "safe_address",
        "created_at",
    ]
    list_filter = ["state", "kind", "token"]
    search_fields = ["safe_tx_hash", "safe_address"]
    list_select_related = ["token", "chain"]

    @admin.display(description="Safe nonce", ordering="nonce")
    def link(self, obj):
        url = reverse("admin:settlement_safetransaction_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.nonce)

    @admin.display(description="amount")
    def amount_display(self, obj):
        return format_amount(obj.amount_units, obj.token) if obj.token_id else "-"

    @admin.display(description="signatures")
    def signatures_display(self, obj):
        return f"{obj.signatures.count()}/{obj.threshold}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The Safe transaction: what it does, its hash and how to sign it, the signatures
        so far, the "add signature" form and "execute now" (POST)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        row = get_object_or_404(
            SafeTransaction.objects.select_related("chain", "token", "exec_tx"), pk=object_id
        )
        if request.method == "POST":
            return self._post(request, row)
        hot = services.hot_of(row.chain)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Safe transaction #{row.nonce}",
            "opts": self.model._meta,
            "t": row,
            "amount": self.amount_display(row),
            "hot": hot.address if hot else "-",
            "signatures": list(row.signatures.select_related("added_by")),
            "zero": ZERO_ADDRESS,
            "may_sign": request.user.has_perm(SIGN_PERMISSION)
            and row.state in (SafeTxState.PROPOSED, SafeTxState.EXECUTABLE),
            "may_execute": request.user.has_perm(SIGN_PERMISSION)
            and row.state == SafeTxState.EXECUTABLE,
        }
        return TemplateResponse(request, "admin/settlement/safetransaction/sign.html", context)

    def _post(self, request, row):
        if not request.user.has_perm(SIGN_PERMISSION):
            raise PermissionDenied
        action = request.POST.get("action", "")
        try:
            if action == "sign":
                row = services.signature_add(
                    row.pk, request.POST.get("signature", ""), added_by=request.user
                )
                self.message_user(
                    request,
                    f"Signature added: {row.signatures.count()} of {row.threshold}"
                    + (
                        " (executable: the worker executes it)" if row.state == "executable" else ""
                    ),
                    "success",
                )
            elif action == "execute":
                if row.state != SafeTxState.EXECUTABLE:
                    raise DomainError("not executable yet: it needs the Safe's threshold")
                from settlement.treasury.tasks import safe_tx_execute_task

                safe_tx_execute_task.delay(row.pk)
                self.message_user(request, "Execution queued for the worker.", "success")
        except DomainError as exc:
            self.message_user(request, f"Refused ({exc.code}): {exc.message}", "error")
        url = reverse("admin:settlement_safetransaction_change", args=[row.pk])
        return HttpResponseRedirect(url)


@admin.register(ColdTransfer)
class ColdTransferAdmin(ReadOnlyAdmin):
    list_display = ["pk", "token", "amount_display", "to_address", "state", "tx", "created_at"]
    list_filter = ["state", "token"]

    @admin.display(description="amount")
    def amount_display(self, obj):
        return format_amount(obj.amount_units, obj.token)
