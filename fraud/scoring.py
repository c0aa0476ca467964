"""`assess`: the one entry point that scores a payment or an offline redemption.

It only reads; `fraud.services.assessments.assessment_record` stores the result with the
payment (or redemption) inside the caller's transaction.
"""

from typing import NamedTuple

from django.core.cache import cache
from django.utils import timezone

from fraud.errors import PaymentsPaused
from fraud.models import BreakerScope, BreakerState, Channel, CircuitBreaker
from fraud.rules import BLOCK, RULES, History, Hit, Subject
from fraud.thresholds import thresholds_load
from wallets.risk import RiskAssessment, RiskDecision


def assess(
    *,
    payer,
    payee,
    token,
    amount: int,
    latitude=None,
    longitude=None,
    channel: str = Channel.ONLINE,
    occurred_at=None,
    reference: str = "",
) -> RiskAssessment:
    """Score one payment (channel=online, before money moves) or one offline redemption
    (channel=offline, occurred_at = when the device made it).

    `amount` is in ledger units. Returns allow/review/block, a 0-100 score and structured
    reasons (rule, score, action, text, figures). An online payment in a scope whose circuit
    breaker is open raises PaymentsPaused; an offline redemption (already spent) is held
    for review instead.
    """
    subject = Subject(
        payer=payer,
        payee=payee,
        token=token,
        amount=amount,
        occurred_at=occurred_at or timezone.now(),
        latitude=latitude,
        longitude=longitude,
        channel=channel,
        reference=reference,
    )
    thresholds = thresholds_load()
    hits = _breaker_hits(subject)
    history = History(subject, thresholds)
    for name, rule in RULES:
        settings = thresholds[name]
        if settings.enabled:
            hit = rule(subject, history, settings.params)
            if hit is not None:
                hits.append(hit)
    return decide(hits, thresholds["scoring"].params)


def decide(hits: list[Hit], scoring: dict) -> RiskAssessment:
    """Combine hits as independent evidence (noisy-OR): 50 and 70 make 85, not 120; any
    rule whose action is block blocks whatever the score."""
    clear = 1.0
    for hit in hits:
        clear *= 1 - min(hit.score, 100) / 100
    score = round(100 * (1 - clear))
    if any(hit.action == BLOCK for hit in hits) or score >= scoring["block_at"]:
        decision = RiskDecision.BLOCK
    elif score >= scoring["review_at"]:
        decision = RiskDecision.REVIEW
    else:
        decision = RiskDecision.ALLOW
    reasons = [hit.as_reason() for hit in sorted(hits, key=lambda h: -h.score)]
    return RiskAssessment(decision, score, reasons)


OPEN_BREAKERS_KEY = "fraud:breakers:open"
OPEN_BREAKERS_SECONDS = 5


class OpenBreaker(NamedTuple):
    scope: str
    key: str


def breakers_open(*, token, payee) -> list[OpenBreaker]:
    """The open breakers that pause this token, this payee (vendor) or the platform.

    The list of open breakers is cached (shared through Redis when configured) and dropped
    by every trip and reset, at once and again on commit; a process that read the table
    while a trip was committing may miss it for at most OPEN_BREAKERS_SECONDS.
    """
    tripped = cache.get(OPEN_BREAKERS_KEY)
    if tripped is None:
        tripped = [
            OpenBreaker(scope, key)
            for scope, key in CircuitBreaker.objects.filter(state=BreakerState.OPEN)
            .order_by("scope", "key")
            .values_list("scope", "key")
        ]
        cache.set(OPEN_BREAKERS_KEY, tripped, OPEN_BREAKERS_SECONDS)
    wanted = {
        (BreakerScope.PLATFORM, "platform"),
        (BreakerScope.TOKEN, token.symbol),
        (BreakerScope.VENDOR, str(payee.pk)),
    }
    return [b for b in tripped if (b.scope, b.key) in wanted]


def breakers_forget() -> None:
    cache.delete(OPEN_BREAKERS_KEY)


def _breaker_hits(subject: Subject) -> list[Hit]:
    tripped = breakers_open(token=subject.token, payee=subject.payee)
    if not tripped:
        return []
    names = ", ".join(f"{b.scope} {b.key}" for b in tripped)
    if subject.channel == Channel.ONLINE:
        raise PaymentsPaused(
            f"payments are paused by the {names} circuit breaker",
            param="payee" if tripped[0].scope == BreakerScope.VENDOR else "token",
        )
    return [
        Hit(
            "circuit_breaker",
            60,
            f"redeemed while the {names} circuit breaker is open",
            {"breakers": [f"{b.scope}:{b.key}" for b in tripped]},
        )
    ]
