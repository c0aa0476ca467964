# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""Real processes killed with SIGKILL, and dispatchers racing, on PostgreSQL.

- A dispatcher killed inside its transaction loses nothing: the rows stay undispatched
  and the next run numbers them, once.
- A webhook worker killed mid-request leaves its lease and its attempt logged in
  progress; when the lease runs out, the sweep marks the attempt interrupted and delivers
  again with the same webhook-id.
- Two dispatchers at once give every recipient unique, gap-free sequences.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.models import OutboxEvent
from notifications.dispatch import outbox_dispatch, outbox_dispatch_all
from notifications.models import AttemptState, DeliveryState, RecipientEvent, WebhookDelivery
from notifications.webhooks.delivery import deliveries_sweep
from tests.notifications.webhook_fixtures import (  # noqa: F401
    endpoint_for,
    merchant,
    no_dispatch_on_commit,
    webhooks_private,
)
from tests.notifications.webhook_receivers import Answer, Receiver
from tests.threads import run_threads

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.usefixtures("no_dispatch_on_commit"),
]
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import os, sys, time
import django
django.setup()
what = sys.argv[1]
if what == "dispatch":
    from notifications.dispatch import outbox_dispatch
    def hold():
        print("holding", flush=True)
        time.sleep(60)
    outbox_dispatch(before_commit=hold)
else:
    from notifications.webhooks.delivery import deliveries_attempt
    print("delivering", flush=True)
    deliveries_attempt()
print("finished", flush=True)
"""


def child(what: str) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "fastpay.settings",
        "FASTPAY_WEBHOOKS_ALLOW_PRIVATE": "1",
        "FASTPAY_EMBEDDED_BEAT": "0",
        "DEBUG": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, what],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def record(n: int, user_ids) -> None:
    with transaction.atomic():
        for i in range(n):
            event_record(
                topic="offline.funded",
                aggregate_type="offline_transfer",
                aggregate_id=i,
                payload={"user_id": user_ids[i % len(user_ids)], "state": "done"},
            )


def test_a_dispatcher_killed_in_its_transaction_loses_nothing(alice, bob):
    record(10, [alice.pk, bob.pk])
    OutboxEvent.objects.exclude(topic="offline.funded").update(dispatched_at=timezone.now())
    worker = child("dispatch")
    try:
        assert worker.stdout.readline().strip() == "holding", worker.stderr.read()
        assert outbox_dispatch() == []  # the rows are the worker's: skipped, not waited for
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)

    assert worker.returncode == -signal.SIGKILL
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 10
    assert not RecipientEvent.objects.filter(type="offline.funded").exists()
    assert outbox_dispatch_all() == 10
    for user in (alice, bob):
        sequences = RecipientEvent.objects.filter(user=user).values_list("sequence", flat=True)
        assert sorted(sequences) == list(range(1, 6))


def test_a_worker_killed_mid_delivery_is_redelivered_with_the_same_id(merchant, endpoint_for):
    with Receiver(Answer(200, delay_s=30), Answer(200)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        record(1, [merchant.pk])
        import notifications.sinks as sinks

        saved, sinks.SINKS = sinks.SINKS, []  # planned, not attempted: the child attempts it
        try:
            outbox_dispatch()
        finally:
            sinks.SINKS = saved
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)

        worker = child("deliver")
        try:
            assert worker.stdout.readline().strip() == "delivering"
            (first,) = receiver.wait_for(1, timeout=20)
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        assert worker.returncode == -signal.SIGKILL
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.PENDING and delivery.lease is not None
        assert delivery.attempts == 1
        # the dead worker's attempt was logged before its POST: in progress, its lease
        (killed,) = delivery.log.all()
        assert killed.state == AttemptState.IN_PROGRESS and killed.lease == delivery.lease
        assert killed.attempted_at <= timezone.now() and killed.finished_at is None
        # while the lease is live, the sweep neither calls it interrupted nor resends
        assert deliveries_sweep() == {"interrupted": 0, "succeeded": 0, "retry": 0, "failed": 0}
        killed.refresh_from_db()
        assert killed.state == AttemptState.IN_PROGRESS

        lease_over = timezone.now() + timedelta(seconds=61)
        assert deliveries_sweep(now=lease_over) == {
            "interrupted": 1,
            "succeeded": 1,
            "retry": 0,
            "failed": 0,
        }
        _, second = receiver.wait_for(2)

    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED and delivery.attempts == 2
    killed.refresh_from_db()
    assert killed.state == AttemptState.INTERRUPTED and killed.interrupted_at == lease_over
    assert killed.status_code is None and killed.error.startswith("interrupted")
    (redelivered,) = delivery.log.exclude(pk=killed.pk)
    assert redelivered.state == AttemptState.COMPLETED and redelivered.status_code == 200
    assert redelivered.finished_at is not None and redelivered.lease != killed.lease
    assert deliveries_sweep(now=lease_over)["interrupted"] == 0  # marked once


def test_a_worker_killed_after_a_newer_attempt_took_the_delivery_is_interrupted(
    merchant, endpoint_for
):
    """A lease that ran out and was taken again: the old attempt is not the delivery's
    live one any more, even though the delivery holds a live lease."""
    with Receiver(Answer(200, delay_s=30), Answer(200, delay_s=30)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        record(1, [merchant.pk])
        import notifications.sinks as sinks

        saved, sinks.SINKS = sinks.SINKS, []
        try:
            outbox_dispatch()
        finally:
            sinks.SINKS = saved
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        # the first worker's lease, already over
        delivery_lease_over = timezone.now() - timedelta(seconds=1)
        workers = []
        try:
            for n in (1, 2):
                worker = child("deliver")
                workers.append(worker)
                assert worker.stdout.readline().strip() == "delivering"
                receiver.wait_for(n, timeout=20)
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(10)
                if n == 1:
                    WebhookDelivery.objects.filter(pk=delivery.pk).update(
                        leased_until=delivery_lease_over
                    )
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait(10)

    assert deliveries_sweep()["interrupted"] == 1  # the first; the second's lease is live
    first, second = delivery.log.order_by("id")
    assert first.state == AttemptState.INTERRUPTED
    assert second.state == AttemptState.IN_PROGRESS


def test_two_dispatchers_at_once_give_unique_gap_free_sequences(alice, bob, stranger):
    users = [alice.pk, bob.pk, stranger.pk]
    OutboxEvent.objects.update(dispatched_at=timezone.now())
    record(300, users)

    def dispatcher():
        made = 0
        while ids := outbox_dispatch(batch=25):
            made += len(ids)
            time.sleep(0.001)
        return made

    results = run_threads([dispatcher] * 4)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 300 and sum(1 for r in results if r) >= 2  # shared the work
    for user in users:
        sequences = list(
            RecipientEvent.objects.filter(user_id=user).values_list("sequence", flat=True)
        )
        assert sorted(sequences) == list(range(1, 101)), Counter(sequences).most_common(3)
    events = RecipientEvent.objects.filter(type="offline.funded").values_list("event_id", flat=True)
    assert len(set(events)) == 300
