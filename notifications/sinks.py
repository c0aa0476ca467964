"""Where newly dispatched events go once their dispatch transaction has committed.

Each sink is called with one ``Dispatched`` batch (the new RecipientEvent rows as the
dispatcher made them, each with its outbox event loaded, and the ids of the webhook
deliveries it planned), after commit, in this order; one that raises is logged and the
others still run (the rows are already in the events API; webhook deliveries are rows of
their own, swept by the beat). A sink must be quick: queue work, do not do it. The rows
are handed over as they are, so no sink reads them back from the database.
"""

import logging
from dataclasses import dataclass, field

from notifications.mail import notify as mail_notify
from notifications.streams import publish as streams_publish
from notifications.tasks import deliveries_enqueue

logger = logging.getLogger("notifications.sinks")


@dataclass(frozen=True)
class Dispatched:
    rows: list  # RecipientEvent, each with .event loaded
    delivery_ids: list[int] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [row.pk for row in self.rows]


def webhooks_sink(batch: Dispatched) -> None:
    """Queue the first attempt of the deliveries the dispatch planned."""
    if batch.delivery_ids:
        deliveries_enqueue(delivery_ids=batch.delivery_ids)


def streams_sink(batch: Dispatched) -> None:
    streams_publish(batch.rows)


def mail_sink(batch: Dispatched) -> None:
    mail_notify(batch.rows)


SINKS = [
    webhooks_sink,
    streams_sink,
    mail_sink,
]


def sinks_run(*, rows: list, delivery_ids: list[int] | None = None) -> None:
    if not rows:
        return
    batch = Dispatched(rows=list(rows), delivery_ids=list(delivery_ids or []))
    for sink in SINKS:
        try:
            sink(batch)
        except Exception:
            logger.exception("events sink %r failed", sink)
