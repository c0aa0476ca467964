"""Beat task of on-chain settlement of redemptions (docs/settlement.md)."""

from celery import shared_task


@shared_task
def settlement_batches_task() -> dict:
    """Refuse, gather, sign, submit and read back committee batches (one bounded pass)."""
    from settlement.batches.services import batches_tick

    return batches_tick()
