"""Row locks of the dispatcher, taken only here (tools/lint_invariants.py).

FOR NO KEY UPDATE, as fastpay.locks: RecipientEvent rows reference the outbox row and a
delivery references its endpoint (FOR KEY SHARE), which must not wait for us."""

from django.db.models import QuerySet


def outbox_claim(queryset: QuerySet, limit: int) -> list:
    """The first ``limit`` rows of ``queryset`` nobody else holds, locked; rows another
    dispatcher holds are skipped, not waited for."""
    return list(queryset.select_for_update(skip_locked=True, no_key=True)[:limit])


def counters_lock(queryset: QuerySet) -> list:
    """Every counter of ``queryset``, locked in stream order (their primary key)."""
    return list(queryset.select_for_update(no_key=True).order_by("pk"))
