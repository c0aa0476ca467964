"""The sender's back office: outgoing transactions with their attempts inline (read-only:
signed bytes are never edited), nonce cursors, sweeps. Actions call services:
"rebroadcast" sends the stored latest attempt again (no signing: safe from the web tier);
"replace with a fee bump" queues the worker task that signs the replacement (keys are
opened by worker and command processes only; without a broker the task runs in place)."""

from django.contrib import admin
from django.db import transaction

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from wallets.chain.models import NonceCursor, OutgoingTransaction, Sweep, TxAttempt, TxState
from wallets.chain.rpc import RpcError
from wallets.chain.sender import attempt_status, tx_rebroadcast
from wallets.chain.sender_errors import SenderError, TxNotReplaceable


def _rebroadcast(tx: OutgoingTransaction) -> None:
    try:
        tx_rebroadcast(tx)
    except RpcError as exc:
        raise SenderError(f"the chain cannot be reached now: {exc}") from None


def _replace_requested(tx: OutgoingTransaction) -> None:
    if tx.state not in (TxState.SIGNED, TxState.BROADCAST):
        raise TxNotReplaceable(f"{tx} is {tx.state}: only a transaction not mined is replaced")
    from wallets.tasks import chain_tx_replace_task

    transaction.on_commit(lambda: chain_tx_replace_task.delay(tx.pk))


class TxAttemptInline(admin.TabularInline):
    model = TxAttempt
    extra = 0
    can_delete = False
    fields = [
        "tx_hash",
        "status",
        "max_fee_per_gas_wei",
        "max_priority_fee_wei",
        "gas_price_wei",
        "created_at",
        "broadcast_at",
        "broadcast_error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status(self, attempt):
        return attempt_status(attempt.tx, attempt)


@admin.register(OutgoingTransaction)
class OutgoingTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "chain",
        "purpose",
        "state",
        "from_address",
        "nonce",
        "to_address",
        "reference",
        "bump_count",
        "fee_wei",
        "created_at",
    ]
    list_filter = ["state", "purpose", "chain"]
    search_fields = ["from_address", "to_address", "reference", "mined_hash", "attempts__tx_hash"]
    readonly_fields = [f.name for f in OutgoingTransaction._meta.fields]
    inlines = [TxAttemptInline]
    actions = ["rebroadcast", "replace_with_fee_bump"]
    ordering = ["-created_at"]

    @admin.action(description="Rebroadcast (the latest signed attempt, same hash)")
    def rebroadcast(self, request, queryset):
        run_service_action(self, request, queryset, _rebroadcast, "Rebroadcast")

    @admin.action(description="Replace with a fee bump (+12.5%%, signed by the worker)")
    def replace_with_fee_bump(self, request, queryset):
        run_service_action(self, request, queryset, _replace_requested, "Queued a replacement of")


@admin.register(NonceCursor)
class NonceCursorAdmin(ReadOnlyAdmin):
    list_display = ["chain", "address", "next_nonce", "in_flight"]
    list_filter = ["chain"]
    search_fields = ["address"]

    @admin.display(description="in flight")
    def in_flight(self, cursor):
        return OutgoingTransaction.objects.filter(
            chain=cursor.chain_id,
            from_address=cursor.address,
            state__in=(TxState.SIGNED, TxState.BROADCAST, TxState.MINED),
        ).count()


@admin.register(Sweep)
class SweepAdmin(ReadOnlyAdmin):
    list_display = ["id", "address", "token", "amount_onchain", "state", "created_at", "error"]
    list_filter = ["state", "token"]
    search_fields = ["address__address"]
    readonly_fields = [f.name for f in Sweep._meta.fields]
    raw_id_fields = ["address", "topup", "transfer"]
