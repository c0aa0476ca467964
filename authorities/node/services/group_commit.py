"""Group commit: concurrent requests share one write transaction (one fsync).

A request thread queues its items, then takes the writer lock; the first thread to get it
(the leader) takes every item queued so far, runs them through ``handle`` in one
transaction and hands each waiting thread its results. With a synchronous commit costing
a few milliseconds, this is what lets one-order-per-request traffic approach the batched
endpoints' throughput without giving up durability. CPU work (signature checks) stays
in the request threads, outside the writer lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class _Slot:
    __slots__ = ("done", "error", "items", "results")

    def __init__(self, items: list):
        self.items = items
        self.results: list | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    def __init__(self, handle: Callable[[list], list], max_items: int = 2000):
        self._handle = handle
        self._max_items = max_items
        self._mutex = threading.Lock()
        self._writer = threading.Lock()
        self._queue: list[_Slot] = []

    def __call__(self, items: list) -> list:
        """Results for ``items`` (in order), computed in some shared transaction."""
        slot = _Slot(items)
        with self._mutex:
            self._queue.append(slot)
        while True:
            with self._writer:
                if slot.done:
                    break
                self._run(self._take())
            if slot.done:
                break
        if slot.error is not None:
            raise slot.error
        return slot.results  # type: ignore[return-value]

    def _take(self) -> list[_Slot]:
        """The queued requests, oldest first, up to ``max_items`` items (at least one)."""
        with self._mutex:
            group, size = [], 0
            while self._queue and (
                not group or size + len(self._queue[0].items) <= self._max_items
            ):
                group.append(self._queue.pop(0))
                size += len(group[-1].items)
            return group

    def _run(self, group: list[_Slot]) -> None:
        flat = [item for s in group for item in s.items]
        try:
            results = self._handle(flat)
        except BaseException as exc:  # every request of the group gets the failure
            for s in group:
                s.error, s.done = exc, True
            return
        at = 0
        for s in group:
            s.results, s.done = results[at : at + len(s.items)], True
            at += len(s.items)
