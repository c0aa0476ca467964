from celery import shared_task


@shared_task
def payouts_schedules_task() -> dict:
    """Beat: one payout per merchant schedule due (idempotent per period)."""
    from settlement.payouts.services import schedules_run

    return schedules_run()


@shared_task
def payouts_pay_task() -> dict:
    """Beat: the pending payouts, one batch transaction per (chain, token)."""
    from settlement.payouts.services import payouts_pay_due

    return payouts_pay_due()
