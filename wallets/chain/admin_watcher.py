"""The watcher's back office: chains, confirmation tiers and token policies, the
watcher's cursor (lag, last error), deposits (read-only, with their confirmations)."""

from django.contrib import admin
from django.db.models import OuterRef, Subquery

from fastpay.admin_mixins import ReadOnlyAdmin
from fastpay.money import format_amount
from wallets.chain.models import (
    Chain,
    ChainBlock,
    ConfirmationTier,
    Deposit,
    DepositAddress,
    TokenPolicy,
    WatcherCursor,
)


@admin.register(ConfirmationTier)
class ConfirmationTierAdmin(admin.ModelAdmin):
    """Per token (a tier belongs to a token, and the token to its chain)."""

    list_display = ["token", "min_units", "confirmations"]
    list_filter = ["token"]


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = [
        "chain_id",
        "name",
        "enabled",
        "finality",
        "confirmations",
        "max_log_range",
        "block_window",
        "watcher_lag",
    ]
    list_filter = ["enabled", "finality"]
    search_fields = ["name", "chain_id"]

    @admin.display(description="lag (blocks)")
    def watcher_lag(self, obj):
        cursor = WatcherCursor.objects.filter(chain=obj).first()
        return "-" if cursor is None else cursor.lag


@admin.register(TokenPolicy)
class TokenPolicyAdmin(admin.ModelAdmin):
    list_display = ["token", "min_deposit_units", "sweep_threshold_units"]


@admin.register(WatcherCursor)
class WatcherCursorAdmin(ReadOnlyAdmin):
    list_display = [
        "chain",
        "block_number",
        "head_number",
        "lag",
        "finalized_number",
        "head_seen_at",
        "lease_owner",
        "lease_until",
        "rpc_errors",
        "last_error_short",
    ]
    readonly_fields = [f.name for f in WatcherCursor._meta.fields] + ["lag"]

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return obj.last_error[:120]


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "chain",
        "token",
        "address",
        "user",
        "amount",
        "state",
        "confirmations",
        "confirmations_required",
        "block_number",
        "tx_hash",
        "seen_at",
        "confirmed_at",
    ]
    list_filter = ["state", "chain", "token"]
    search_fields = ["tx_hash", "address__address", "address__user__username", "from_address"]
    list_select_related = ["chain", "token", "address", "address__user"]
    readonly_fields = [f.name for f in Deposit._meta.fields] + ["confirmations"]
    ordering = ["-block_number", "-log_index"]

    @admin.display(description="user")
    def user(self, obj):
        return obj.address.user

    @admin.display(description="amount")
    def amount(self, obj):
        return format_amount(obj.amount_units, obj.token)

    def get_queryset(self, request):
        head = WatcherCursor.objects.filter(chain=OuterRef("chain")).values("head_number")[:1]
        return super().get_queryset(request).annotate(head_number=Subquery(head))

    @admin.display(description="confirmations")
    def confirmations(self, obj):
        head = getattr(obj, "head_number", None)
        if head is None or obj.state not in ("seen", "confirmed", "dust"):
            return 0
        return max(0, head - obj.block_number + 1)


@admin.register(ChainBlock)
class ChainBlockAdmin(ReadOnlyAdmin):
    list_display = ["chain", "number", "hash", "parent_hash", "timestamp"]
    list_filter = ["chain"]
    search_fields = ["hash"]
    ordering = ["-number"]


class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "chain", "user", "purpose", "index", "created_at"]
    list_filter = ["chain", "purpose"]
    search_fields = ["address", "user__username", "reference"]
    list_select_related = ["chain", "user"]


# the keys' admin (admin_keys.py) may register DepositAddress too: one is enough
if not admin.site.is_registered(DepositAddress):
    admin.site.register(DepositAddress, DepositAddressAdmin)
