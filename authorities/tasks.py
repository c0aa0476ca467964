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


@shared_task
def committee_schedule_task() -> dict:
    """Beat (every FASTPAY_COMMITTEE_POLL_S): read the epoch schedule again (the chain, or
    the committee file when its mtime changed) and bring the registry's members in line
    with every known epoch; returns the epochs and the active one."""
    from authorities.gateway import CommitteeUnavailable, gateway
    from authorities.services.committee import committee_sync_schedule

    try:
        gw = gateway()
    except CommitteeUnavailable as exc:  # no committee configured
        return {"skipped": str(exc)}
    gw.refresh(force=True)
    committee_sync_schedule(schedule=gw.schedule)
    return {"epochs": [i.epoch for i in gw.schedule.epochs], "active": gw.epoch()}


@shared_task
def committee_catch_up_task() -> dict:
    """Beat: bring lagging authorities to the committee's state on every account the
    platform knows (the platform's own first); records each member's remaining lag."""
    from authorities.gateway import CommitteeUnavailable
    from authorities.services.committee import committee_catch_up

    try:
        return committee_catch_up()
    except CommitteeUnavailable as exc:  # no committee configured
        return {"skipped": str(exc)}


@shared_task(bind=True, max_retries=None, acks_late=True)
def evidence_submit_task(self, evidence_id: int) -> str:
    """Submit equivocation evidence to AuthorityManager; retried with backoff while the
    chain is unreachable. Idempotent: evidence submitted (or being submitted) is left."""
    from authorities.chain import ChainUnavailable
    from authorities.services.evidence import evidence_submit

    try:
        return evidence_submit(evidence_id=evidence_id).status
    except ChainUnavailable as exc:
        if self.request.is_eager:
            return "new"  # the evidence-submit beat retries it
        raise self.retry(exc=exc, countdown=min(600, 2 ** min(self.request.retries, 9))) from exc


@shared_task
def evidence_submit_pending_task() -> int:
    """Beat: with FASTPAY_SLASHING_AUTO, submit evidence still NEW (the chain was down, or a
    task was lost); returns how many were submitted now."""
    from django.conf import settings

    from authorities.chain import ChainUnavailable
    from authorities.models import EvidenceStatus
    from authorities.services.evidence import evidence_pending, evidence_submit

    if not settings.FASTPAY_SLASHING_AUTO:
        return 0
    done = 0
    for evidence_id in evidence_pending():
        try:
            status = evidence_submit(evidence_id=evidence_id).status
        except ChainUnavailable:
            break
        done += status == EvidenceStatus.SUBMITTED
    return done
