from django.apps import AppConfig


class OfflineConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "offline"
    verbose_name = "Offline vouchers"

    def ready(self) -> None:
        from authorities.services.committee import catch_up_source
        from offline.chain_holdings import fastpay_side_holdings
        from wallets.chain.reconcile import holdings_register

        catch_up_source(catch_up_addresses)
        holdings_register(fastpay_side_holdings)  # the vault's share in custody reconciliation


def catch_up_addresses():
    """The offline app's FastPay accounts for the committee's periodic catch-up: linked
    accounts (users and vendors), then the accounts of vouchers still active."""
    from offline.models import FastPayAccount, Voucher, VoucherState

    yield from FastPayAccount.objects.order_by("pk").values_list("address", flat=True)
    yield from (
        Voucher.objects.filter(state=VoucherState.ACTIVE)
        .order_by("created_at")
        .values_list("address", flat=True)
    )
