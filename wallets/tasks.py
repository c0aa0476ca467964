from celery import shared_task

from wallets.services.checks import ledger_check_run


@shared_task
def ledger_check_task() -> int:
    """Beat: verify the ledger; the drift count feeds the fastpay_ledger_drift gauge."""
    return ledger_check_run().drift_count
