# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""/api/v1/webhook-endpoints/: create (the secret once), list, change, delete, rotate,
test, deliveries, redeliver; bad input, wrong owner and replays refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.secrets import secret_load
from tests.notifications.webhook_fixtures import (  # noqa: F401
    dispatch_now,
    endpoint_for,
    merchant,
    other_merchant,
    pay,
    relaxed_risk,
    webhooks_private,
)
from tests.notifications.webhook_receivers import Answer, Receiver

pytestmark = pytest.mark.usefixtures("relaxed_risk")
URL = "/api/v1/webhook-endpoints/"
HTTPS = "https://shop.example/hooks/fastpay"


def create(client, **body):
    return client.post(URL, {"url": HTTPS, "event_types": ["*"]} | body, format="json")


def error_of(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["param"]


class TestCreate:
    def test_the_secret_is_shown_once(self, merchant, client_for):
        client = client_for(merchant)
        created = create(client, description="orders")
        assert created.status_code == 201
        body = created.json()
        assert body["secret"].startswith("whsec_") and body["enabled"] is True
        endpoint = WebhookEndpoint.objects.get(pk=body["id"])
        assert secret_load(endpoint.secret) == body["secret"]

        listed = client.get(URL).json()["results"]
        shown = client.get(f"{URL}{body['id']}/").json()
        assert "secret" not in listed[0] and "secret" not in shown

    def test_the_secret_is_sealed_at_rest_when_a_kek_is_set(self, merchant, client_for, settings):
        from fastpay.keyvault import new_kek_text

        settings.FASTPAY_KEK = new_kek_text()
        body = create(client_for(merchant)).json()

        stored = WebhookEndpoint.objects.get(pk=body["id"]).secret
        assert not stored.startswith("whsec_") and body["secret"] not in stored
        assert secret_load(stored) == body["secret"]

    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"url": "http://shop.example/x"}, "invalid_webhook_url", "url"),
            ({"url": "ftp://shop.example/x"}, "invalid_webhook_url", "url"),
            ({"url": "https://10.0.0.8/x"}, "invalid_webhook_url", "url"),
            ({"url": "https://[::1]/x"}, "invalid_webhook_url", "url"),
            ({"url": "https://169.254.169.254/latest"}, "invalid_webhook_url", "url"),
            ({"url": "https://localhost/x"}, "invalid_webhook_url", "url"),
            ({"url": "https://user:pw@shop.example/x"}, "invalid_webhook_url", "url"),
            ({"event_types": ["payment.exploded"]}, "invalid_choice", "event_types[0]"),
            ({"event_types": ["review.opened"]}, "invalid_choice", "event_types[0]"),
            ({"event_types": []}, "min_length", "event_types"),
            ({"event_types": "payment.succeeded"}, "not_a_list", "event_types"),
            ({"secret": "whsec_mine"}, "unknown_field", "secret"),
            ({"description": "x" * 256}, "max_length", "description"),
        ],
    )
    def test_bad_input_is_refused_with_the_field(self, merchant, client_for, body, code, param):
        response = create(client_for(merchant), **body)

        assert error_of(response) == (400, code, param)
        assert not WebhookEndpoint.objects.exists()

    def test_http_and_loopback_are_allowed_for_development(
        self, merchant, client_for, webhooks_private
    ):
        assert create(client_for(merchant), url="http://127.0.0.1:9/x").status_code == 201

    def test_there_is_a_limit_per_user(self, merchant, client_for):
        client = client_for(merchant)
        for _ in range(16):
            assert create(client).status_code == 201

        assert error_of(create(client)) == (409, "too_many_endpoints", None)

    def test_api_keys_need_the_webhooks_scope(self, merchant, client_for):
        from fastpay.api_keys import api_key_create

        _, weak = api_key_create(user=merchant, name="k1", scopes=["payments:write"])
        _, strong = api_key_create(user=merchant, name="k2", scopes=["webhooks:write"])
        client = client_for(None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {weak}")
        assert create(client).status_code == 403
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {strong}")
        assert create(client).status_code == 201


class TestOwner:
    """Another merchant's endpoint is "not found" on every route, never changed."""

    @pytest.fixture
    def theirs(self, other_merchant, client_for):
        return create(client_for(other_merchant)).json()["id"]

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("get", "", None),
            ("patch", "", {"enabled": False}),
            ("delete", "", None),
            ("post", "rotate-secret/", {}),
            ("post", "test/", None),
            ("post", "redeliver/", {"since": "2020-01-01T00:00:00Z"}),
            ("get", "deliveries/", None),
            ("get", "deliveries/1/", None),
        ],
    )
    def test_it_is_not_found(self, merchant, theirs, client_for, method, suffix, body):
        client = client_for(merchant)
        response = getattr(client, method)(f"{URL}{theirs}/{suffix}", body, format="json")

        assert response.status_code == 404
        endpoint = WebhookEndpoint.objects.get(pk=theirs)
        assert endpoint.enabled and not endpoint.previous_secret

    def test_it_is_not_listed(self, merchant, theirs, client_for):
        assert client_for(merchant).get(URL).json()["results"] == []


class TestChange:
    def test_patch_changes_only_what_is_sent(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client, description="a").json()

        changed = client.patch(
            f"{URL}{endpoint['id']}/", {"event_types": ["payment.refunded"]}, format="json"
        ).json()

        assert changed["event_types"] == ["payment.refunded"] and changed["description"] == "a"

    def test_patch_refuses_bad_input(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client).json()
        path = f"{URL}{endpoint['id']}/"

        assert error_of(client.patch(path, {"url": "https://127.0.0.1/x"}, format="json")) == (
            400,
            "invalid_webhook_url",
            "url",
        )
        assert error_of(client.patch(path, {"enabled": "maybe"}, format="json"))[2] == "enabled"
        assert error_of(client.patch(path, {"id": 9}, format="json")) == (
            400,
            "unknown_field",
            "id",
        )

    def test_enabling_a_disabled_endpoint_clears_its_failure(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client).json()
        WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(
            enabled=False, disabled_reason="410", failing_since=timezone.now()
        )

        body = client.patch(f"{URL}{endpoint['id']}/", {"enabled": True}, format="json").json()

        assert body["enabled"] and body["disabled_reason"] == "" and body["failing_since"] is None

    def test_delete_removes_it_and_again_is_a_404(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client).json()

        assert client.delete(f"{URL}{endpoint['id']}/").status_code == 204
        assert client.delete(f"{URL}{endpoint['id']}/").status_code == 404


class TestRotate:
    def test_rotation_shows_a_new_secret_and_keeps_the_old_for_the_grace(
        self, merchant, client_for
    ):
        client = client_for(merchant)
        first = create(client).json()

        rotated = client.post(f"{URL}{first['id']}/rotate-secret/", {"grace_s": 600}, format="json")

        body = rotated.json()
        assert rotated.status_code == 200 and body["secret"] != first["secret"]
        endpoint = WebhookEndpoint.objects.get(pk=first["id"])
        assert secret_load(endpoint.previous_secret) == first["secret"]
        ends = endpoint.previous_secret_expires_at - timezone.now()
        assert timedelta(seconds=590) < ends <= timedelta(seconds=600)

    def test_a_zero_grace_drops_the_old_secret_at_once(self, merchant, client_for):
        client = client_for(merchant)
        first = create(client).json()

        client.post(f"{URL}{first['id']}/rotate-secret/", {"grace_s": 0}, format="json")

        assert WebhookEndpoint.objects.get(pk=first["id"]).previous_secret == ""

    @pytest.mark.parametrize("grace", [-1, 7 * 86400 + 1, "soon"])
    def test_a_bad_grace_is_refused(self, merchant, client_for, grace):
        client = client_for(merchant)
        first = create(client).json()

        response = client.post(
            f"{URL}{first['id']}/rotate-secret/", {"grace_s": grace}, format="json"
        )

        assert error_of(response)[0::2] == (400, "grace_s")
        assert WebhookEndpoint.objects.get(pk=first["id"]).previous_secret == ""


class TestTestAndRedeliver:
    def test_send_test_event_reaches_only_that_endpoint(
        self, merchant, client_for, webhooks_private
    ):
        client = client_for(merchant)
        with Receiver() as one, Receiver() as two:
            first = create(client, url=one.url).json()
            create(client, url=two.url)

            response = client.post(f"{URL}{first['id']}/test/")
            dispatch_now()
            (got,) = one.wait_for(1)

        assert response.status_code == 202
        assert got.headers["webhook-id"] == response.json()["event"]
        assert got.json["type"] == "webhook_endpoint.test" and two.received == []

    def test_a_disabled_endpoint_cannot_be_tested(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client, enabled=False).json()

        assert error_of(client.post(f"{URL}{endpoint['id']}/test/")) == (
            409,
            "endpoint_disabled",
            "endpoint_id",
        )

    def test_redeliver_one_event_with_the_same_webhook_id(
        self, alice, merchant, client_for, pay, endpoint_for
    ):
        with Receiver(Answer(500), Answer(200)) as receiver:
            endpoint, _ = endpoint_for(merchant, receiver.url)
            pay(alice, merchant, 1)
            WebhookDelivery.objects.update(state=DeliveryState.FAILED)  # as if given up
            delivery = WebhookDelivery.objects.get()
            client = client_for(merchant)

            response = client.post(
                f"{URL}{endpoint.pk}/redeliver/",
                {"event": str(delivery.recipient_event.event_id)},
                format="json",
            )
            dispatch_now()
            from notifications.webhooks.delivery import deliveries_attempt

            deliveries_attempt()
            first, second = receiver.wait_for(2)

        assert response.status_code == 202 and response.json() == {"queued": 1}
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.SUCCEEDED and delivery.attempts == 1

        detail = client.get(f"{URL}{endpoint.pk}/deliveries/{delivery.pk}/").json()
        assert [a["status_code"] for a in detail["log"]] == [200, 500]
        listed = client.get(f"{URL}{endpoint.pk}/deliveries/", {"state": "succeeded"}).json()
        assert [d["id"] for d in listed["results"]] == [delivery.pk]

    def test_redeliver_everything_failed_since_a_time(
        self, alice, merchant, client_for, pay, endpoint_for
    ):
        with Receiver(Answer(500)) as receiver:
            endpoint, _ = endpoint_for(merchant, receiver.url)
            pay(alice, merchant, 1)
            pay(alice, merchant, 1)
            receiver.wait_for(2)
        WebhookDelivery.objects.update(state=DeliveryState.FAILED, next_attempt_at=None)
        old = WebhookDelivery.objects.order_by("id").first()
        WebhookDelivery.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - timedelta(days=2)
        )
        client = client_for(merchant)
        since = (timezone.now() - timedelta(days=1)).isoformat()

        response = client.post(f"{URL}{endpoint.pk}/redeliver/", {"since": since}, format="json")

        assert response.json() == {"queued": 1}
        assert WebhookDelivery.objects.get(pk=old.pk).state == DeliveryState.FAILED
        assert WebhookDelivery.objects.filter(state=DeliveryState.PENDING).count() == 1

    @pytest.mark.parametrize(
        "body",
        [{}, {"since": "2020-01-01T00:00:00Z", "delivery": 1}, {"since": "later"}, {"x": 1}],
    )
    def test_redeliver_refuses_bad_input(self, merchant, client_for, body):
        client = client_for(merchant)
        endpoint = create(client).json()

        response = client.post(f"{URL}{endpoint['id']}/redeliver/", body, format="json")

        assert response.status_code == 400

    def test_redeliver_an_unknown_delivery_is_a_404(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client).json()

        response = client.post(f"{URL}{endpoint['id']}/redeliver/", {"delivery": 99}, format="json")

        assert error_of(response) == (404, "not_found", "delivery_id")

    def test_a_bad_delivery_filter_is_refused(self, merchant, client_for):
        client = client_for(merchant)
        endpoint = create(client).json()

        response = client.get(f"{URL}{endpoint['id']}/deliveries/", {"state": "lost"})

        assert error_of(response) == (400, "invalid_choice", "state")


class TestReplay:
    def test_redelivering_twice_queues_once(self, alice, merchant, client_for, pay, endpoint_for):
        with Receiver(Answer(500)) as receiver:
            endpoint, _ = endpoint_for(merchant, receiver.url)
            pay(alice, merchant, 1)
            receiver.wait_for(1)
        WebhookDelivery.objects.update(state=DeliveryState.FAILED, next_attempt_at=None)
        event = str(WebhookDelivery.objects.get().recipient_event.event_id)
        client = client_for(merchant)
        path = f"{URL}{endpoint.pk}/redeliver/"

        first = client.post(path, {"event": event}, format="json").json()
        again = client.post(path, {"event": event}, format="json").json()

        assert (first, again) == ({"queued": 1}, {"queued": 0})  # already pending

    def test_disabling_twice_records_one_event(self, merchant, endpoint_for):
        from fastpay.models import OutboxEvent
        from notifications.webhooks.services import endpoint_disable

        endpoint, _ = endpoint_for(merchant, HTTPS)

        assert endpoint_disable(endpoint_id=endpoint.pk, reason="gone") is True
        assert endpoint_disable(endpoint_id=endpoint.pk, reason="gone") is False
        assert OutboxEvent.objects.filter(topic="webhook_endpoint.disabled").count() == 1

    def test_a_replayed_create_makes_a_second_endpoint_with_its_own_secret(
        self, merchant, client_for
    ):
        client = client_for(merchant)
        first, second = create(client).json(), create(client).json()

        assert first["id"] != second["id"] and first["secret"] != second["secret"]
