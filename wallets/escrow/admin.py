"""Escrow holds in the back office: read-only rows; a disputed hold is decided on its own
page (release to the seller in full or in part, or refund the buyer), with a note."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from fastpay.admin_mixins import ReadOnlyAdmin
from fastpay.errors import DomainError
from fastpay.money import format_amount, parse_units
from fastpay_protocol.amounts import AmountError
from wallets.escrow.models import Hold, HoldState
from wallets.escrow.services import hold_decide

DECIDE_PERMISSION = "wallets.decide_hold"


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = [
        "short_id",
        "kind",
        "payer",
        "payee",
        "amount_display",
        "state",
        "expires_at",
        "decide_link",
    ]
    list_filter = ["state", "kind", "token"]
    search_fields = ["=id", "payer__username", "payee__username"]
    list_select_related = ["payer", "payee", "token"]
    ordering = ["-created_at"]

    @admin.display(description="id")
    def short_id(self, obj):
        url = reverse("admin:wallets_hold_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.pk)[:8])

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_amount(obj.amount, obj.token)

    @admin.display(description="decision")
    def decide_link(self, obj):
        if obj.state != HoldState.DISPUTED:
            return "-"
        url = reverse("admin:wallets_hold_decide", args=[obj.pk])
        return format_html('<a href="{}">decide</a>', url)

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<uuid:hold_id>/decide/", decide, name="wallets_hold_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request, hold_id):
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied
        hold = get_object_or_404(Hold.objects.select_related("payer", "payee", "token"), pk=hold_id)
        if request.method == "POST":
            try:
                units = parse_units(request.POST.get("release", ""), hold.token.ledger_decimals)
                note = request.POST.get("note", "").strip()
                if not note:
                    raise DomainError("a note is required to decide a dispute", param="note")
                hold = hold_decide(
                    hold_id=hold.pk, by=request.user, release_amount=units, note=note
                )
            except AmountError as exc:
                self.message_user(request, f"release: {exc}", messages.ERROR)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Hold {hold.pk} decided: {format_amount(hold.posted_amount, hold.token)} "
                    f"to {hold.payee.username}, the rest to {hold.payer.username}.",
                    messages.SUCCESS,
                )
                return redirect("admin:wallets_hold_change", hold.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Decide the disputed hold {hold.pk}",
            "opts": self.model._meta,
            "hold": hold,
            "amount": format_amount(hold.amount, hold.token),
            "disputed": hold.state == HoldState.DISPUTED,
        }
        return TemplateResponse(request, "admin/wallets/hold/decide.html", context)
