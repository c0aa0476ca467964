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
