from celery import shared_task


@shared_task
def treasury_tick_task() -> dict:
    """Beat: hot wallet levels recorded; refills proposed below the minimum, the excess
    above the maximum sent to the cold Safe, signed Safe transactions executed."""
    from settlement.treasury.services import treasury_tick

    return treasury_tick()


@shared_task
def safe_tx_execute_task(safe_tx_id: int) -> str:
    """The admin's "execute now" (run by the worker, which holds the hot wallet's key)."""
    from settlement.treasury.services import safe_tx_execute

    return safe_tx_execute(safe_tx_id).state
