from celery import shared_task

from wallets.services.checks import ledger_check_run
from wallets.services.claims import claims_recover_all


@shared_task
def ledger_check_task() -> int:
    """Beat: verify the ledger; the drift count feeds the fastpay_ledger_drift gauge."""
    return ledger_check_run().drift_count


@shared_task
def claims_recover_task() -> int:
    """Beat: recover open claims (e.g. offline covers) from their debtors' balances."""
    return claims_recover_all()
