"""Where newly dispatched events go once their dispatch transaction has committed.

Each sink is called with the ids of the new RecipientEvent rows (a list of ints), after
commit, in this order; one that raises is logged and the others still run (the rows are
already in the events API; webhook deliveries are rows of their own, swept by the beat).
A sink must be quick: queue work, do not do it.
"""

import logging

from notifications.mail import notify as mail_notify
from notifications.streams import publish as streams_publish
from notifications.tasks import webhooks_enqueue

logger = logging.getLogger("notifications.sinks")

SINKS = [
    webhooks_enqueue,
    streams_publish,
    mail_notify,
]


def sinks_run(*, recipient_event_ids: list[int], delivery_ids: list[int] | None = None) -> None:
    if not recipient_event_ids:
        return
    for sink in SINKS:
        try:
            sink(recipient_event_ids)
        except Exception:
            logger.exception("events sink %r failed", sink)
