"""The stablecoin peg monitor: USDT and USDC against USD.

``peg_check`` (a beat task every minute) prices each token of FASTPAY_PEGGED in USD. Off
by more than FASTPAY_PEG_PAUSE_BPS: the token's PegStatus turns PAUSED, an ERROR is logged
and a staff event ``rates.peg_paused`` is written; fiat pricing with it stops
(``fiat_pricing_check`` raises PegPaused) until it is back within FASTPAY_PEG_RESUME_BPS
(smaller: no flapping around the limit), then ``rates.peg_resumed``. No rate at all (every
provider down) changes nothing but the reason: fiat lookups fail on their own then.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.locks import for_update
from merchants.errors import PegPaused, RatesUnavailableError
from merchants.models import PegState, PegStatus
from merchants.rates.aggregate import deviation_bps
from merchants.rates.lookup import rate_refresh

logger = logging.getLogger(__name__)


def peg_check() -> dict[str, str]:
    """Check every pegged token now; {token: state}."""
    states = {}
    for token in settings.FASTPAY_PEGGED:
        try:
            rate = rate_refresh(token, "USD").rate
        except RatesUnavailableError as exc:
            states[token] = _unpriced(token, exc.message)
            continue
        states[token] = peg_record(token, rate)
    return states


def peg_record(token: str, rate: Decimal) -> str:
    """Record one observation of ``token`` in USD and switch the state if it crossed a
    threshold (one transaction; the row is locked so two checks cannot both switch)."""
    off = int(deviation_bps(rate, Decimal(1)))
    now = timezone.now()
    with transaction.atomic():
        PegStatus.objects.get_or_create(token=token)
        status = for_update(PegStatus.objects.filter(token=token)).get()
        before = status.state
        if before == PegState.OK and off > settings.FASTPAY_PEG_PAUSE_BPS:
            status.state, status.changed_at = PegState.PAUSED, now
            status.reason = f"{token} at {rate} USD: {off} bps off its peg"
        elif before == PegState.PAUSED and off <= settings.FASTPAY_PEG_RESUME_BPS:
            status.state, status.changed_at = PegState.OK, now
            status.reason = f"{token} back at {rate} USD ({off} bps)"
        status.rate, status.deviation_bps, status.checked_at = str(rate), off, now
        status.save()
        if status.state != before:
            paused = status.state == PegState.PAUSED
            event_record(
                topic="rates.peg_paused" if paused else "rates.peg_resumed",
                aggregate_type="peg",
                aggregate_id=token,
                payload={
                    "token": token,
                    "rate": str(rate),
                    "deviation_bps": off,
                    "pause_bps": settings.FASTPAY_PEG_PAUSE_BPS,
                    "resume_bps": settings.FASTPAY_PEG_RESUME_BPS,
                    "state": status.state,
                },
            )
    if status.state != before:
        (logger.error if status.state == PegState.PAUSED else logger.warning)(
            "peg: %s", status.reason
        )
    return status.state


def _unpriced(token: str, why: str) -> str:
    with transaction.atomic():
        status, _ = PegStatus.objects.get_or_create(token=token)
        PegStatus.objects.filter(pk=status.pk).update(
            reason=f"not priced at {timezone.now():%Y-%m-%d %H:%M:%S}: {why}"[:255]
        )
    return status.state


def fiat_pricing_check(token: str) -> None:
    """Raise PegPaused while ``token`` is off its peg (fiat invoices, fiat quotes)."""
    status = PegStatus.objects.filter(token=token.upper(), state=PegState.PAUSED).first()
    if status is not None:
        raise PegPaused(
            f"pricing in fiat with {status.token} is paused: {status.reason}", param="token"
        )
