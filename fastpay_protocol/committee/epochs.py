"""Following the committee across epochs: one CommitteeClient per epoch of a Schedule
(``handoff.Schedule``), sharing one mapping of every known committee, and the re-epoch
rule for a sender that holds its key.

Epoch ``e`` votes on ``[activates_at[e], activates_at[e+1])`` only (docs/protocol.md,
"Epochs"): an order of a closed epoch is refused ``wrong_epoch`` for ever. A sender whose
order was not certified before its epoch closed signs THE SAME PAYMENT again for the
active epoch at the same sequence (``reepoch``): the new committee votes for it even when
the old one left votes for the original (carried locks), and a second certificate for
the same payment is a no-op everywhere, so the payment happens once.

    clients = EpochClients(schedule, timeout=2.0)
    certificate = clients.transfer(order, key)  # re-epoched when order.epoch is closed
    clients.update(new_schedule)                # an epoch announced: no restart
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastpay_protocol import handoff
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee.client import CommitteeClient
from fastpay_protocol.committee_errors import CommitteeError, WrongEpoch
from fastpay_protocol.messages import Certificate, Committee

#: times ``transfer`` moves an order to another epoch on the authorities' word before it
#: gives up (their clocks and this one's may disagree by a little at a boundary)
MAX_REEPOCHS = 2


def reepoch(order: td.TransferOrder, epoch: int) -> td.TransferOrder:
    """The same payment (sender, recipient, token, amount, sequence) for ``epoch``: what a
    sender signs when its order's epoch closed before the order was certified."""
    moved = dataclasses.replace(order, epoch=epoch)
    assert handoff.same_payment(order, moved)
    return moved


class EpochClients:
    """One CommitteeClient per known epoch, created on first use; every client verifies
    certificates against the committee of their own order's epoch (the shared
    ``committees``). Thread-safe. ``clock``: unix seconds (tests pass a fake one).

    ``client_kwargs`` go to every CommitteeClient (``timeout``, ``deadline``, ``watch``)."""

    def __init__(
        self,
        schedule: handoff.Schedule,
        *,
        clock: Callable[[], float] = time.time,
        **client_kwargs: Any,
    ):
        self._lock = threading.Lock()
        self._clock = clock
        self._kwargs = client_kwargs
        self._clients: dict[int, CommitteeClient] = {}
        # shared by every client and updated in place: a client made for epoch 2 verifies
        # an epoch-3 certificate once epoch 3 is announced
        self.committees: dict[int, Committee] = {}
        self.schedule = schedule
        self.update(schedule)

    def update(self, schedule: handoff.Schedule) -> bool:
        """Follow ``schedule`` (a newer one from the committee file or the chain): new
        epochs become known at once; clients of epochs whose committee changed are
        replaced. True when anything changed."""
        with self._lock:
            changed = schedule != self.schedule
            self.schedule = schedule
            for info in schedule.epochs:
                known = self.committees.get(info.epoch)
                if known is not None and known.same_as(info.committee):
                    continue
                changed = True
                self.committees[info.epoch] = info.committee
                stale = self._clients.pop(info.epoch, None)
                if stale is not None:
                    stale.close()
            return changed

    def active_epoch(self, now: float | None = None) -> int:
        """The epoch active by this process's clock (the first known one before it)."""
        epoch = self.schedule.active_epoch(self._clock() if now is None else now)
        return self.schedule.epochs[0].epoch if epoch is None else epoch

    def committee(self, epoch: int | None = None) -> Committee | None:
        """The committee of ``epoch`` (default: the active one); None when unknown."""
        return self.committees.get(self.active_epoch() if epoch is None else epoch)

    def client(self, epoch: int | None = None) -> CommitteeClient | None:
        """The client of ``epoch``'s committee (default: the active epoch's); None for an
        epoch the schedule does not know."""
        epoch = self.active_epoch() if epoch is None else epoch
        with self._lock:
            client = self._clients.get(epoch)
            if client is None:
                committee = self.committees.get(epoch)
                if committee is None:
                    return None
                client = CommitteeClient(committee, committees=self.committees, **self._kwargs)
                self._clients[epoch] = client
            return client

    def clients(self) -> list[CommitteeClient]:
        with self._lock:
            return list(self._clients.values())

    def closed(self, epoch: int, now: float | None = None) -> bool:
        """``epoch`` stopped voting by this process's clock."""
        return self.schedule.is_closed(epoch, self._clock() if now is None else now)

    def transfer(
        self,
        order: td.TransferOrder,
        private_key: Any,
        *,
        wait_all: bool = False,
        credits: Sequence[Certificate] = (),
    ) -> Certificate:
        """Sign, certify and confirm ``order`` in its own epoch while that epoch votes;
        once it closed (by this clock, or the authorities answer ``wrong_epoch`` naming a
        later known epoch), the same payment re-signed for the active epoch (``reepoch``).
        The certificate's order says which epoch certified it. Raises like
        ``CommitteeClient.transfer``; CommitteeError for an epoch nobody knows."""
        if self.closed(order.epoch):
            order = reepoch(order, self.active_epoch())
        for _ in range(MAX_REEPOCHS + 1):
            client = self.client(order.epoch)
            if client is None:
                raise CommitteeError(f"epoch {order.epoch} is not in the schedule")
            try:
                return client.transfer(order, private_key, wait_all=wait_all, credits=credits)
            except WrongEpoch as exc:
                target = exc.active_epoch
                if target is None or target == order.epoch or target not in self.committees:
                    raise
                # an earlier target too: the authorities' clocks are behind this one at
                # the boundary; the same payment in either epoch is one payment
                order = reepoch(order, target)
        raise CommitteeError(  # pragma: no cover - the authorities keep moving it
            f"{order.sender} sequence {order.sequence}: the authorities keep naming another epoch"
        )

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> EpochClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
