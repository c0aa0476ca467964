from celery import shared_task

from authorities.services.committee import committee_health_check


@shared_task
def committee_health_task() -> int:
    """Beat: probe every authority (lag measured on the platform's FastPay account);
    returns how many answered."""
    from authorities.gateway import CommitteeUnavailable, gateway

    try:
        address = gateway().platform_address
    except CommitteeUnavailable:
        address = None
    return sum(1 for m in committee_health_check(platform_address=address) if m.reachable)


@shared_task(bind=True, max_retries=None, acks_late=True)
def offline_fund_task(self, transfer_id: str) -> str:
    """Certify a FUND transfer (and any earlier pending one); retried with backoff while
    no quorum answers. Safe to run twice: a done transfer is left alone."""
    from authorities.gateway import CommitteeUnavailable
    from authorities.services.offline import offline_fund_process

    try:
        return offline_fund_process(transfer_id=transfer_id).state
    except CommitteeUnavailable as exc:
        if self.request.is_eager:
            return "pending"
        raise self.retry(exc=exc, countdown=min(300, 2 ** min(self.request.retries, 8))) from exc
