"""`assess`: the one entry point that scores a payment or an offline redemption.

`assess_many` scores a batch (one payer's batch request) with one read of the payer's
history, each item seeing the ones before it. They only read;
`fraud.services.assessments.payments_assessments_record` stores the results with the
payments (or redemption) inside the caller's transaction.
"""

from collections.abc import Sequence
from typing import NamedTuple

from django.core.cache import cache
from django.utils import timezone

from fraud.errors import PaymentsPaused
from fraud.models import BreakerScope, BreakerState, Channel, CircuitBreaker
from fraud.rules import BLOCK, RULES, History, Hit, PayerPast, Profiles, Subject
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
    for review instead. A batch of one of `assess_many`.
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
    (result,) = assess_many([subject])
    if isinstance(result, PaymentsPaused):
        raise result
    return result


def assess_many(subjects: Sequence[Subject]) -> list[RiskAssessment | PaymentsPaused]:
    """Score a batch of subjects in order, as if each were assessed alone just after the
    ones before it had been written: a result per subject, a refused one (online, breaker
    open) as its PaymentsPaused error, which is not counted for the next ones.

    The payer's history is read once per batch (per payer and instant, `PayerPast`; the
    window rows of every payer of one instant in one query, e.g. a vendor's offline sync),
    the risk profiles of every payer and payee in one query, the thresholds and the open
    breakers once. Subjects of one payer with the same `occurred_at` see each other: item k
    counts items 0..k-1 in its windows, known payees, last location and activity.
    """
    if not subjects:
        return []
    thresholds = thresholds_load()
    tripped = _open_breakers()
    profiles = Profiles({s.payer.pk for s in subjects} | {s.payee.pk for s in subjects})
    payees: dict[tuple, set] = {}
    for s in subjects:
        payees.setdefault((s.payer.pk, s.occurred_at), set()).add(s.payee.pk)
    pasts: dict[tuple, PayerPast] = {}
    for s in subjects:
        key = (s.payer.pk, s.occurred_at)
        if key not in pasts:
            pasts[key] = PayerPast(s.payer, s.occurred_at, thresholds, payees[key])
    by_instant: dict = {}
    for past in pasts.values():  # many payers at one instant share their history reads
        by_instant.setdefault(past.at, []).append(past)
    for group in by_instant.values():
        for past in group:
            past.neighbours = group
    enabled = [(rule, thresholds[name].params) for name, rule in RULES if thresholds[name].enabled]
    scoring = thresholds["scoring"].params
    results: list[RiskAssessment | PaymentsPaused] = []
    for subject in subjects:
        try:
            hits = _breaker_hits(subject, tripped)
        except PaymentsPaused as exc:
            results.append(exc)
            continue
        past = pasts[(subject.payer.pk, subject.occurred_at)]
        history = History(subject, thresholds, past=past, profiles=profiles)
        for rule, params in enabled:
            hit = rule(subject, history, params)
            if hit is not None:
                hits.append(hit)
        risk = decide(hits, scoring)
        past.add(subject, failed=risk.decision == RiskDecision.BLOCK)
        results.append(risk)
    return results


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
    reason: str = ""  # why it tripped (CircuitBreaker.trip_reason)


def _open_breakers() -> list[OpenBreaker]:
    """Every open breaker (cached, see `breakers_open`)."""
    tripped = cache.get(OPEN_BREAKERS_KEY)
    if tripped is None:
        tripped = [
            OpenBreaker(scope, key, reason)
            for scope, key, reason in CircuitBreaker.objects.filter(state=BreakerState.OPEN)
            .order_by("scope", "key")
            .values_list("scope", "key", "trip_reason")
        ]
        cache.set(OPEN_BREAKERS_KEY, tripped, OPEN_BREAKERS_SECONDS)
    return tripped


def _in_scope(tripped: list[OpenBreaker], *, token, payee, payer=None) -> list[OpenBreaker]:
    if not tripped:
        return []
    wanted = {
        (BreakerScope.PLATFORM, "platform"),
        (BreakerScope.TOKEN, token.symbol),
        (BreakerScope.VENDOR, str(payee.pk)),
    }
    if payer is not None:
        wanted.add((BreakerScope.VENDOR, str(payer.pk)))  # a merchant's own payouts
    return [b for b in tripped if (b.scope, b.key) in wanted]


def breakers_open(*, token, payee, payer=None) -> list[OpenBreaker]:
    """The open breakers that pause this token, this payee or payer (a tenant's breaker),
    or the platform.

    The list of open breakers is cached (shared through Redis when configured) and dropped
    by every trip and reset, at once and again on commit; a process that read the table
    while a trip was committing may miss it for at most OPEN_BREAKERS_SECONDS.
    """
    return _in_scope(_open_breakers(), token=token, payee=payee, payer=payer)


def breakers_forget() -> None:
    cache.delete(OPEN_BREAKERS_KEY)


def breaker_name(breaker: OpenBreaker, subject: Subject) -> str:
    """What a payer is told: which breaker (its scope, whose) and why it tripped."""
    if breaker.scope == BreakerScope.PLATFORM:
        name = "the platform circuit breaker"
    elif breaker.scope == BreakerScope.TOKEN:
        name = f"the {breaker.key} circuit breaker"
    else:
        whose = subject.payee if breaker.key == str(subject.payee.pk) else subject.payer
        name = f"the circuit breaker of {whose.username}"
    because = f": {breaker.reason}" if breaker.reason else ""
    return f"{name} ({breaker.scope}:{breaker.key}){because}"


def _param(breaker: OpenBreaker, subject: Subject) -> str | None:
    if breaker.scope == BreakerScope.VENDOR:
        return "payee" if breaker.key == str(subject.payee.pk) else None
    return "token"


def _breaker_hits(subject: Subject, open_breakers: list[OpenBreaker]) -> list[Hit]:
    tripped = _in_scope(
        open_breakers, token=subject.token, payee=subject.payee, payer=subject.payer
    )
    if not tripped:
        return []
    names = "; ".join(breaker_name(b, subject) for b in tripped)
    if subject.channel == Channel.ONLINE:
        raise PaymentsPaused(f"payments are paused by {names}", param=_param(tripped[0], subject))
    return [
        Hit(
            "circuit_breaker",
            60,
            f"redeemed while {names} is open",
            {"breakers": [f"{b.scope}:{b.key}" for b in tripped]},
        )
    ]
