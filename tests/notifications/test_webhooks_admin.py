# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""The back office of events and webhooks: lists, the disabled notice, actions."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.notifications.webhook_fixtures import (  # noqa: F401
    endpoint_for,
    merchant,
    pay,
    relaxed_risk,
    webhooks_private,
)
from tests.notifications.webhook_receivers import Answer, Receiver

pytestmark = pytest.mark.usefixtures("relaxed_risk")


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_the_lists_open(admin_client, alice, merchant, pay, endpoint_for):
    with Receiver() as receiver:
        endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
    for path in [
        "/admin/notifications/recipientevent/",
        "/admin/notifications/webhookendpoint/",
        "/admin/notifications/webhookdelivery/",
        f"/admin/notifications/webhookdelivery/{WebhookDelivery.objects.get().pk}/change/",
    ]:
        assert admin_client.get(path).status_code == 200, path


def test_disabled_endpoints_are_announced(admin_client, merchant, endpoint_for):
    endpoint, _ = endpoint_for(merchant, "https://shop.example/x")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason="410")

    page = admin_client.get("/admin/notifications/webhookendpoint/").content.decode()

    assert "disabled automatically" in page


def test_the_redeliver_action_queues_failed_deliveries(
    admin_client, alice, merchant, pay, endpoint_for, django_capture_on_commit_callbacks
):
    with Receiver(Answer(500), Answer(200)) as receiver:
        endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        WebhookDelivery.objects.update(state=DeliveryState.FAILED)
        delivery = WebhookDelivery.objects.get()

        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                "/admin/notifications/webhookdelivery/",
                {"action": "redeliver", "_selected_action": [delivery.pk]},
            )
        assert len(receiver.wait_for(2)) == 2

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED


def test_the_disable_action_records_the_event(admin_client, merchant, endpoint_for):
    endpoint, _ = endpoint_for(merchant, "https://shop.example/x")

    admin_client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "disable", "_selected_action": [endpoint.pk]},
    )

    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "disabled by root"
    from fastpay.models import OutboxEvent

    assert OutboxEvent.objects.filter(topic="webhook_endpoint.disabled").count() == 1
