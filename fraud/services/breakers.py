"""Circuit breakers per tenant (vendor or merchant), token and platform.

A breaker trips when, over the sliding window, the share of flagged (review or block)
assessments in its scope reaches the threshold (with a minimum sample), or when the volume
of one token in the scope passes the volume limit. An open breaker pauses online payments
in its scope (PaymentsPaused, whose message names the breaker and why it tripped) and
holds offline redemptions for review; an admin resets it. After a reset the window
restarts at the reset, so the same burst does not trip it again.

Scopes are kept apart so one tenant cannot pause the others:

- a tenant's breaker (scope ``vendor``, key its user id) sees the payments it receives
  and the payments it makes (a merchant's payouts), and pauses only those;
- the token and platform breakers are for platform-wide signals only: their figures
  leave out the dominant payee and the dominant payer of the window (the one with the
  most flagged assessments, and for volume the one with the most volume of the token).
  One merchant's burst, however large, then trips that merchant's breaker and nothing
  else; it takes trouble spread over several tenants to pause a token or the platform.
"""

from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from fastpay.errors import Conflict, NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fraud.errors import ReviewForbidden
from fraud.models import (
    Assessment,
    AuditAction,
    BreakerScope,
    BreakerState,
    CircuitBreaker,
)
from fraud.services.audit import audit_record
from fraud.thresholds import thresholds_load
from wallets.models import UserRole
from wallets.risk import RiskDecision

VENDOR_ROLES = (UserRole.VENDOR, UserRole.MERCHANT)
_SIDES = ("payee_id", "payer_id")


FLAGGED = ~Q(decision=RiskDecision.ALLOW)
MOVED = ~Q(decision=RiskDecision.BLOCK)  # what counts as volume


def _aggregates(index: int, where: Q, tokens, volume_where: dict | None) -> dict:
    """Named conditional aggregates of one scope, for the single window query.
    ``volume_where``: per token pk, the extra condition of its volume (None: no volume)."""
    aggregates = {
        f"n{index}": Count("id", filter=where),
        f"f{index}": Count("id", filter=where & FLAGGED),
    }
    if volume_where is not None:
        for token in tokens:
            aggregates[f"v{index}_{token.pk}"] = Sum(
                "amount",
                filter=where & volume_where.get(token.pk, Q()) & Q(token_id=token.pk) & MOVED,
            )
    return aggregates


def _dominant(window: Q, condition: Q, measure) -> Q:
    """The condition leaving out the payee and the payer with the largest ``measure``
    among the window's assessments matching ``condition``: what a platform-wide scope
    counts, so that no single tenant (or single payer) can trip it alone."""
    keep = Q()
    for side in _SIDES:
        top = (
            Assessment.objects.filter(window & condition)
            .values(side)
            .annotate(m=measure)
            .order_by("-m", side)
            .values_list(side, flat=True)
            .first()
        )
        if top is not None:
            keep &= ~Q(**{side: top})
    return keep


def _wide(window: Q, scope_where: Q, tokens) -> tuple[Q, dict]:
    """A platform-wide scope's share condition and per-token volume conditions, each
    without its dominant payee and payer."""
    share = scope_where & _dominant(window, scope_where & FLAGGED, Count("id"))
    volume = {
        t.pk: _dominant(window, scope_where & Q(token_id=t.pk) & MOVED, Sum("amount"))
        for t in tokens
    }
    return share, volume


def _figures(row: dict, index: int, tokens) -> dict:
    total, flagged = row[f"n{index}"], row[f"f{index}"]
    return {
        "assessments": total,
        "flagged": flagged,
        "flagged_share_pct": round(100 * flagged / total, 1) if total else 0.0,
        "volume_units": {
            token.symbol: row[f"v{index}_{token.pk}"] or 0
            for token in tokens
            if f"v{index}_{token.pk}" in row
        },
    }


def _trip_reason(figures: dict, params: dict, volume_limit_tokens: int | None, tokens) -> str:
    if (
        figures["assessments"] >= params["min_assessments"]
        and figures["flagged"] * 100 >= params["flagged_share_pct"] * figures["assessments"]
    ):
        return (
            f"{figures['flagged']} of {figures['assessments']} payments flagged "
            f"({figures['flagged_share_pct']}%) in {params['window_minutes']} min"
        )
    if volume_limit_tokens is None:
        return ""
    for token in tokens:
        volume = figures["volume_units"].get(token.symbol, 0)
        if volume > volume_limit_tokens * 10**token.ledger_decimals:
            return (
                f"{token.symbol} volume over {volume_limit_tokens} "
                f"in {params['window_minutes']} min"
            )
    return ""


def _forget_open_breakers() -> None:
    """Drop the cached list of open breakers now and again once this change commits (a
    reader between the two would otherwise cache the old state)."""
    from fraud.scoring import breakers_forget

    breakers_forget()
    transaction.on_commit(breakers_forget)


def _due(scope: str, key: str, every_seconds: int) -> bool:
    """At most one evaluation of a scope per `every_seconds` (per cache: all processes with
    Redis), so the window query does not run for every payment of a busy scope."""
    if every_seconds <= 0:
        return True
    return cache.add(f"fraud:breaker-due:{scope}:{key}", 1, every_seconds)


def breakers_evaluate(*, tokens, payees, payers=(), now=None) -> list[CircuitBreaker]:
    """Trip every breaker (of these tokens, these tenants, the platform) whose window
    figures pass a threshold. Runs inside the caller's transaction; returns what tripped.

    ``payees`` and ``payers``: the users of the new payments; those that are vendors or
    merchants are tenants with a breaker of their own.

    Each scope is evaluated at most once per `evaluate_every_seconds` (so a breaker trips
    within that delay of the payment that crosses its threshold); then the breakers' rows,
    the dominant payee and payer of each platform-wide scope (small grouped queries, only
    when such a scope is due), and one aggregate over the window with a conditional
    count/sum per scope.
    """
    settings = thresholds_load()["circuit_breaker"]
    if not settings.enabled:
        return []
    params = settings.params
    now = now or timezone.now()
    window_start = now - timedelta(minutes=params["window_minutes"])
    tokens = sorted(set(tokens), key=lambda t: t.pk)
    tenants = {p.pk: p for p in [*payees, *payers] if p.role in VENDOR_ROLES}
    vendors = [tenants[pk] for pk in sorted(tenants)]
    scopes = [(BreakerScope.PLATFORM, "platform", Q(), None)]
    scopes += [
        (BreakerScope.TOKEN, t.symbol, Q(token_id=t.pk), params["token_volume_tokens"])
        for t in tokens
    ]
    scopes += [
        (
            BreakerScope.VENDOR,
            str(p.pk),
            Q(payee_id=p.pk) | Q(payer_id=p.pk),
            params["vendor_volume_tokens"],
        )
        for p in vendors
    ]
    scopes = [s for s in scopes if _due(s[0], s[1], params["evaluate_every_seconds"])]
    if not scopes:
        return []
    existing = {
        (b.scope, b.key): b
        for b in CircuitBreaker.objects.filter(
            Q(scope=BreakerScope.PLATFORM)
            | Q(scope=BreakerScope.TOKEN, key__in=[t.symbol for t in tokens])
            | Q(scope=BreakerScope.VENDOR, key__in=[str(p.pk) for p in vendors])
        )
    }
    aggregates, live, earliest = {}, [], window_start
    for index, (scope, key, where, volume_limit) in enumerate(scopes):
        breaker = existing.get((scope, key))
        if breaker is not None and breaker.state == BreakerState.OPEN:
            continue
        start = window_start
        if breaker is not None and breaker.reset_at and breaker.reset_at > start:
            start = breaker.reset_at  # a reset restarts the window
        window = Q(created_at__gte=start)
        volume_where = {} if volume_limit is not None else None
        if scope != BreakerScope.VENDOR:
            where, volume_where = _wide(window, where, tokens if volume_where is not None else [])
            if volume_limit is None:
                volume_where = None
        aggregates.update(_aggregates(index, where & window, tokens, volume_where))
        live.append(index)
    if not live:
        return []
    row = Assessment.objects.filter(created_at__gte=earliest).aggregate(**aggregates)
    tripped = []
    for index in live:
        scope, key, _, volume_limit = scopes[index]
        figures = _figures(row, index, tokens)
        reason = _trip_reason(figures, params, volume_limit, tokens)
        if reason:
            trip = breaker_trip(scope=scope, key=key, reason=reason, figures=figures, now=now)
            if trip is not None:
                tripped.append(trip)
    return tripped


def breaker_trip(*, scope: str, key: str, reason: str, figures: dict, by=None, now=None):
    """Open the breaker (creating its row); event circuit_breaker.tripped. Returns None if
    it was already open (compare-and-set: two concurrent trips record one event)."""
    now = now or timezone.now()
    with transaction.atomic():
        breaker, _ = CircuitBreaker.objects.get_or_create(scope=scope, key=key)
        changed = CircuitBreaker.objects.filter(pk=breaker.pk, state=BreakerState.CLOSED).update(
            state=BreakerState.OPEN, tripped_at=now, trip_reason=reason[:255], figures=figures
        )
        if not changed:
            return None
        _forget_open_breakers()
        breaker.refresh_from_db()
        payload = {
            "scope": scope,
            "key": key,
            "state": "open",
            "reason": reason,
            "figures": figures,
        }
        event_record(
            topic="circuit_breaker.tripped",
            aggregate_type="circuit_breaker",
            aggregate_id=f"{scope}:{key}",
            payload=payload,
        )
        audit_record(
            action=AuditAction.BREAKER_TRIPPED,
            actor=by,
            object_type="circuit_breaker",
            object_id=f"{scope}:{key}",
            after=payload,
            note=reason,
        )
    return breaker


def breaker_reset(*, breaker_id: int, by, note: str = "") -> CircuitBreaker:
    """Close an open breaker: its scope's payments flow again; event circuit_breaker.reset."""
    if by is None or not by.has_perm("fraud.reset_circuitbreaker"):
        raise ReviewForbidden("you may not reset circuit breakers")
    with transaction.atomic():
        breaker = for_update(CircuitBreaker.objects).filter(pk=breaker_id).first()
        if breaker is None:
            raise NotFound("no such circuit breaker")
        if breaker.state != BreakerState.OPEN:
            raise Conflict("this circuit breaker is not open", code="breaker_not_open")
        before = {"state": breaker.state, "trip_reason": breaker.trip_reason}
        breaker.state = BreakerState.CLOSED
        breaker.reset_at = timezone.now()
        breaker.reset_by = by
        breaker.save(update_fields=["state", "reset_at", "reset_by"])
        _forget_open_breakers()
        name = f"{breaker.scope}:{breaker.key}"
        event_record(
            topic="circuit_breaker.reset",
            aggregate_type="circuit_breaker",
            aggregate_id=name,
            payload={
                "scope": breaker.scope,
                "key": breaker.key,
                "state": "closed",
                "by": by.username,
                "note": note,
            },
        )
        audit_record(
            action=AuditAction.BREAKER_RESET,
            actor=by,
            object_type="circuit_breaker",
            object_id=name,
            before=before,
            after={"state": breaker.state},
            note=note,
        )
    return breaker
