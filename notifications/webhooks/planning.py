"""Which endpoints get which new events: WebhookDelivery rows written in the dispatch
transaction, so an event dispatched is an event whose deliveries exist (a worker lost
after the commit loses nothing: the beat sweep finds the pending rows)."""

from collections import defaultdict

from django.utils import timezone

from notifications.catalogue import event_type
from notifications.models import Audience, WebhookDelivery, WebhookEndpoint

TEST_TYPE = "webhook_endpoint.test"


def deliveries_plan(rows) -> list[int]:
    """Deliveries of these new RecipientEvents to their users' enabled endpoints that
    subscribe to their type. Caller holds the dispatch transaction."""
    rows = [r for r in rows if r.audience == Audience.USER and event_type(r.type).webhook]
    if not rows:
        return []
    endpoints = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(
        user_id__in={r.user_id for r in rows}, enabled=True
    ).only("id", "user_id", "event_types"):
        endpoints[endpoint.user_id].append(endpoint)
    now = timezone.now()
    deliveries = []
    for row in rows:
        for endpoint in endpoints.get(row.user_id, ()):
            if row.type == TEST_TYPE:
                if row.event.payload.get("endpoint_id") != endpoint.pk:
                    continue  # a test event goes to the endpoint it tests only
            elif not endpoint.accepts(row.type):
                continue
            deliveries.append(
                WebhookDelivery(endpoint=endpoint, recipient_event=row, next_attempt_at=now)
            )
    WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
    return [d.pk for d in deliveries]
