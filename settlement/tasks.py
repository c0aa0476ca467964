from celery import shared_task


@shared_task
def withdrawals_pay_task() -> dict:
    """Beat: pay the approved withdrawals whose time-lock is over, as far as the hot wallet
    covers them (the rest wait: never failed for that). Safe to run twice at once: each
    payment is a locked compare-and-set on AWAITING_PAYMENT at the revision checked."""
    from settlement.services.paying import withdrawals_pay_due

    return withdrawals_pay_due()
