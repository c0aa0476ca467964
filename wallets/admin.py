"""The back office for users, tokens, the ledger and payments. Money fields are read-only;
every action calls a service."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from fastpay.money import format_amount
from wallets.chain import (
    admin_keys,  # noqa: F401  (registers the keys' admin)
    admin_reconcile,  # noqa: F401  (reconciliation runs)
    admin_sender,  # noqa: F401  (outgoing transactions, nonce cursors, sweeps)
    admin_watcher,  # noqa: F401  (chains, cursor, deposits)
)
from wallets.escrow import admin as escrow_admin  # noqa: F401  (escrow holds)
from wallets.models import (
    CLAIM_OPEN,
    Claim,
    JournalEntry,
    LedgerAccount,
    LedgerCheckRun,
    MerchantFee,
    Payment,
    Posting,
    Refund,
    Token,
    User,
)
from wallets.services.claims import claims_recover
from wallets.services.payments import payment_hold
from wallets.services.users import user_approve, user_suspend


@admin.register(User)
class FastPayUserAdmin(UserAdmin):
    list_display = ["username", "email", "role", "status", "is_staff", "date_joined"]
    list_filter = ["role", "status", "is_staff", "groups"]
    search_fields = ["username", "email"]
    readonly_fields = [
        "status",
        "status_changed_at",
        "next_payment_sequence",
        "last_login",
        "date_joined",
    ]
    fieldsets = [
        *UserAdmin.fieldsets,
        ("FastPay", {"fields": ["role", "status", "status_changed_at", "next_payment_sequence"]}),
    ]
    actions = ["approve", "suspend"]

    @admin.action(description="Approve selected users", permissions=["change"])
    def approve(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda u: user_approve(user_id=u.pk, by=request.user),
            "Approved",
        )

    @admin.action(description="Suspend selected users", permissions=["change"])
    def suspend(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda u: user_suspend(user_id=u.pk, by=request.user, reason="suspended in admin"),
            "Suspended",
        )


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = [
        "symbol",
        "name",
        "chain_id",
        "contract_address",
        "decimals",
        "ledger_decimals",
        "enabled",
    ]
    list_filter = ["enabled", "chain_id"]
    list_editable = ["enabled"]

    def get_readonly_fields(self, request, obj=None):
        # Changing decimals under existing balances would rescale every amount.
        return ["ledger_decimals"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False


class AmountMixin:
    @admin.display(description="amount")
    def amount_display(self, obj):
        return format_amount(obj.amount, obj.token)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "kind", "token", "balance_display", "updated_at"]
    list_filter = ["kind", "token"]
    search_fields = ["owner__username", "id"]
    list_select_related = ["owner", "token"]

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return format_amount(obj.balance, obj.token)


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["account", "token", "amount", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reference", "memo", "created_by", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["reference", "memo", "idempotency_key"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(AmountMixin, ReadOnlyAdmin):
    list_display = ["id", "entry", "account", "amount_display", "created_at"]
    list_filter = ["token", "account__kind", "entry__kind"]
    search_fields = ["entry__reference", "account__owner__username"]
    list_select_related = ["entry", "account__owner", "account__token", "token"]


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ["id", "amount", "reason", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(AmountMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "payer",
        "payee",
        "amount_display",
        "fee_display",
        "state",
        "risk_score",
        "sequence",
    ]
    list_filter = ["state", "token", "created_at"]
    search_fields = ["id", "payer__username", "payee__username", "description"]
    date_hierarchy = "created_at"
    list_select_related = ["payer", "payee", "token"]
    inlines = [RefundInline]
    # Approve/reject live in the fraud review queue only (four eyes, a required note, no
    # deciding your own payment): a shortcut here would bypass those rules.
    actions = ["hold"]

    def has_review_permission(self, request):
        return request.user.has_perm("wallets.review_payment")

    @admin.display(description="platform fee", ordering="fee")
    def fee_display(self, obj):
        return format_amount(obj.fee, obj.token)

    @admin.action(description="Hold selected payments for review", permissions=["review"])
    def hold(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda p: payment_hold(payment_id=p.pk, by=request.user, note="held in admin"),
            "Held",
        )


@admin.register(MerchantFee)
class MerchantFeeAdmin(admin.ModelAdmin):
    """A merchant's platform fee per token (docs/splits.md): max(minimum, ceil(amount *
    bps / 10000) + fixed), all in ledger units but bps. It applies to payments created
    after the change (a flagged payment keeps the fee fixed at its creation)."""

    list_display = ["merchant", "token", "bps", "fixed_display", "minimum_display", "updated_at"]
    list_filter = ["token"]
    search_fields = ["merchant__username"]
    raw_id_fields = ["merchant"]
    list_select_related = ["merchant", "token"]

    @admin.display(description="fixed", ordering="fixed")
    def fixed_display(self, obj):
        return format_amount(obj.fixed, obj.token)

    @admin.display(description="minimum", ordering="minimum")
    def minimum_display(self, obj):
        return format_amount(obj.minimum, obj.token)


@admin.register(LedgerCheckRun)
class LedgerCheckRunAdmin(ReadOnlyAdmin):
    list_display = ["ran_at", "drift_count"]


class ClaimOpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Closed (recovered or written off)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(CLAIM_OPEN)
        if self.value() == "no":
            return queryset.exclude(CLAIM_OPEN)
        return queryset


@admin.register(Claim)
class ClaimAdmin(AmountMixin, ReadOnlyAdmin):
    """What users owe the platform (e.g. offline covers): read-only; recovery is the
    hourly beat task, a defund, or the action below."""

    list_display = [
        "created_at",
        "user",
        "reference",
        "amount_display",
        "recovered_display",
        "written_off_display",
        "updated_at",
    ]
    list_filter = [ClaimOpenFilter, "token"]
    search_fields = ["user__username", "reference"]
    list_select_related = ["user", "token"]
    actions = ["recover"]

    @admin.display(description="recovered")
    def recovered_display(self, obj):
        return format_amount(obj.recovered, obj.token)

    @admin.display(description="written off")
    def written_off_display(self, obj):
        return format_amount(obj.written_off, obj.token)

    def has_recover_permission(self, request):
        return request.user.has_perm("wallets.adjust_balance")

    @admin.action(description="Recover from the users' balances now", permissions=["recover"])
    def recover(self, request, queryset):
        pairs = {(claim.user, claim.token) for claim in queryset.select_related("user", "token")}
        run_service_action(
            self,
            request,
            pairs,
            lambda pair: claims_recover(user=pair[0], token=pair[1]),
            "Tried",
        )
