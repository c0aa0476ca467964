from celery import shared_task


@shared_task(bind=True, max_retries=None, acks_late=True)
def redemptions_settle_task(self) -> dict:
    """Settle PENDING redemptions in batches until none is left or a run makes no
    progress (authorities down: beat runs it again). Safe to run twice at once: each
    outcome is a compare-and-set on the PENDING state."""
    from offline.services.settlement import redemptions_settle

    total: dict[str, int] = {}
    while True:
        counts = redemptions_settle()
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if not counts["settled"] and not counts["flagged"]:
            return total


@shared_task
def vouchers_expire_task() -> int:
    """Beat: expire vouchers past their window and grace period, remind their payers."""
    from offline.services.vouchers import vouchers_expire

    return vouchers_expire()


def _fund(transfer_id: str) -> str:
    from authorities.gateway import CommitteeUnavailable
    from offline.services.transfers import offline_fund_process

    try:
        return offline_fund_process(transfer_id=transfer_id).state
    except CommitteeUnavailable:
        return "pending"  # the attempt and its backoff are on the row: the beat retries it


@shared_task(acks_late=True)
def offline_fund_task(transfer_id: str) -> str:
    """Certify a FUND transfer (and any earlier pending one) right after it is made. When
    no quorum answers, offline_transfers_retry_task tries again with backoff. Safe to run
    twice: a done transfer is left alone."""
    return _fund(transfer_id)


@shared_task(acks_late=True, name="authorities.tasks.offline_fund_task")
def offline_fund_task_legacy(transfer_id: str) -> str:
    """offline_fund_task under the name it had before it moved from authorities, so that
    messages queued under that name still run."""
    return _fund(transfer_id)


@shared_task
def offline_transfers_retry_task() -> dict:
    """Beat: retry the PENDING FUND transfers whose backoff is over; counts by state."""
    from offline.services.transfers import offline_transfers_retry

    return offline_transfers_retry()
