"""What the vote path reads of the handovers: which epochs were handed over here, and the
carried lock candidates of the senders at hand. Written by services.handover."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

from authorities.node.models import CarriedLock, HandedOver
from fastpay_protocol.handoff import Schedule, handover_epoch

_done: set[int] = set()  # handed over (never undone: cached for the life of the process)
_lock = threading.Lock()


def handed_over_epochs(schedule: Schedule, active: int | None) -> set[int]:
    """The epochs whose handover completed here, as far as voting in ``active`` needs to
    know (the database is read only while the one it needs is missing)."""
    needed = None if active is None else handover_epoch(schedule, active)
    if needed is not None and needed not in _done:
        epochs = set(HandedOver.objects.values_list("epoch", flat=True))
        with _lock:
            _done.update(epochs)
    return set(_done)


def carried_locks(senders: Iterable[str]) -> dict[tuple[str, int], list[CarriedLock]]:
    """(sender, sequence) -> its carried lock candidates, for ``senders`` (lower-case)."""
    found: dict[tuple[str, int], list[CarriedLock]] = defaultdict(list)
    senders = sorted(set(senders))
    if not senders or not CarriedLock.objects.exists():
        return found
    for row in CarriedLock.objects.filter(sender__in=senders):
        found[(row.sender, row.sequence)].append(row)
    return found


def forget() -> None:
    """Tests: drop the process's cache."""
    with _lock:
        _done.clear()
