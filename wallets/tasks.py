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


@shared_task
def chain_sender_follow_task() -> dict:
    """Beat: one pass of the outgoing-transaction sender over every enabled chain."""
    from wallets.chain.sender import chain_follow_all

    return chain_follow_all()


@shared_task
def chain_sweeps_task() -> dict:
    """Beat: sweep deposit addresses above their token's threshold to the hot wallet."""
    from wallets.chain.sweeps import sweeps_run_all

    return sweeps_run_all()


@shared_task
def chain_watch_task() -> dict:
    """Beat: a few seconds of the block watcher on every enabled chain (a chain whose
    lease `manage.py chain_watch` holds is skipped): deposits recorded and credited."""
    from wallets.chain.watcher import watch_chains

    return watch_chains(max_seconds=4)


@shared_task
def custody_reconcile_task() -> dict[str, str]:
    """Beat (daily): reconcile every enabled chain at its watcher's block; chain id ->
    the run's state (drift alerts from the service: event, ERROR log, metric)."""
    from wallets.chain.reconcile import reconcile_all

    return {str(run.chain.chain_id): run.state for run in reconcile_all()}


@shared_task
def chain_tx_replace_task(tx_id: int) -> str:
    """An operator's "replace with a fee bump" (admin): the worker signs and broadcasts the
    replacement. Returns what happened (a refusal's code: fee_above_cap, ...)."""
    from fastpay.errors import DomainError
    from wallets.chain.models import OutgoingTransaction
    from wallets.chain.rpc import RpcError
    from wallets.chain.sender import tx_replace

    tx = OutgoingTransaction.objects.filter(pk=tx_id).first()
    if tx is None:
        return "missing"
    try:
        tx_replace(tx)
    except DomainError as exc:
        return exc.code
    except RpcError:
        return "rpc_error"
    return "replaced"


@shared_task
def holds_expire_task() -> int:
    """Beat: escrow holds past their deadline (authorizations expire, marketplace holds
    not disputed are released to the seller)."""
    from wallets.escrow.services import holds_expire

    return holds_expire()
