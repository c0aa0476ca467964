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
