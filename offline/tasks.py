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
