from celery import shared_task


@shared_task
def rates_refresh_task() -> int:
    """Beat: keep the configured pairs' rates warm in the cache (docs/rates.md)."""
    from merchants.rates.lookup import rates_refresh_all

    return rates_refresh_all()


@shared_task
def peg_check_task() -> dict:
    """Beat: the stablecoin peg monitor (pauses fiat pricing off the peg)."""
    from merchants.rates.peg import peg_check

    return peg_check()


@shared_task
def invoices_expire_task() -> int:
    """Beat: new invoices past their expiry become expired; what a partly paid one holds
    is settled within its tolerance or returned by its policy (docs/invoices.md)."""
    from merchants.invoices.services import invoices_expire

    return invoices_expire()
