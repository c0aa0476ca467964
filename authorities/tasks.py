from celery import shared_task
from django.conf import settings

from authorities.services.committee import committee_health_check


@shared_task
def committee_health_task() -> int:
    """Beat: probe every authority; returns how many answered."""
    address = getattr(settings, "FASTPAY_PLATFORM_ADDRESS", None)
    return sum(1 for m in committee_health_check(platform_address=address) if m.reachable)
