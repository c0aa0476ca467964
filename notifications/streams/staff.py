"""What the staff stream shows beside the staff events: the state of the review queue,
of the circuit breakers and of the committee, read from their tables (committee health
is the beat's probe result, stored on the members, not an event)."""

from django.db.models import Count, Min


def staff_status() -> dict:
    """{"reviews": {"open", "oldest_opened_at"}, "breakers": [open ones], "committee":
    {"epoch", "members": [...]}}: JSON-ready, compared by the consumer to send only
    changes."""
    from authorities.models import CommitteeMember, MemberStatus
    from fraud.models import BreakerState, CircuitBreaker, Review, ReviewState

    reviews = Review.objects.filter(state=ReviewState.OPEN).aggregate(
        open=Count("id"), oldest=Min("opened_at")
    )
    breakers = [
        {
            "scope": b.scope,
            "key": b.key,
            "reason": b.trip_reason,
            "tripped_at": _time(b.tripped_at),
        }
        for b in CircuitBreaker.objects.filter(state=BreakerState.OPEN).order_by("scope", "key")
    ]
    members = CommitteeMember.objects.filter(status=MemberStatus.ACTIVE)
    epoch = members.order_by("-epoch").values_list("epoch", flat=True).first()
    return {
        "reviews": {"open": reviews["open"], "oldest_opened_at": _time(reviews["oldest"])},
        "breakers": breakers,
        "committee": {
            "epoch": epoch,
            "members": [
                {
                    "name": m.name,
                    "address": m.address,
                    "reachable": m.reachable,
                    "last_seen_at": _time(m.last_seen_at),
                    "lag": m.lag,
                }
                for m in members.filter(epoch=epoch).order_by("name", "address")
            ],
        },
    }


def _time(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
