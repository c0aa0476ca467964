from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "merchants"
    verbose_name = "Merchant commerce (rates, invoices)"

    def ready(self):
        from merchants.invoices import checks
        from wallets import extensions

        extensions.ledger_check_register(checks.invoice_account_check)
