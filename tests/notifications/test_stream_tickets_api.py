"""POST /api/v1/stream-tickets/: who gets a ticket for which stream, and its shape."""

import pytest

from notifications.streams.models import StreamTicket
from notifications.streams.tickets import stream_ticket_spend

URL = "/api/v1/stream-tickets/"


def test_an_approved_user_gets_a_ticket_for_their_events(alice, client_for):
    response = client_for(alice).post(URL, {}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["stream"] == "events" and body["ticket"].startswith("fst_")
    assert body["url"] == f"/ws/v1/events/?ticket={body['ticket']}"
    ticket = StreamTicket.objects.get()
    assert ticket.secret_hash != body["ticket"]  # only a hash is stored
    assert (ticket.expires_at - ticket.created_at).total_seconds() == pytest.approx(60, abs=1)


def test_a_ticket_is_spent_once_and_only_for_its_stream(alice, client_for):
    ticket = client_for(alice).post(URL, {}, format="json").json()["ticket"]

    assert stream_ticket_spend(secret=ticket, stream="staff") is None
    assert stream_ticket_spend(secret=ticket, stream="events") == alice
    assert stream_ticket_spend(secret=ticket, stream="events") is None


def test_staff_get_a_staff_ticket_and_others_do_not(alice, operator, client_for):
    refused = client_for(alice).post(URL, {"stream": "staff"}, format="json")
    granted = client_for(operator).post(URL, {"stream": "staff"}, format="json")

    assert refused.status_code == 403
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == (
        "staff_only",
        "stream",
    )
    assert granted.status_code == 201 and granted.json()["url"].startswith("/ws/v1/staff/")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"stream": "everything"}, "invalid_choice", "stream"),
        ({"stream": "events", "user": 1}, "unknown_field", "user"),
    ],
)
def test_bad_input_is_refused(alice, client_for, body, code, param):
    response = client_for(alice).post(URL, body, format="json")

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)


def test_a_pending_user_and_an_anonymous_one_get_none(db, client_for):
    from rest_framework.test import APIClient

    from tests.wallets.factories import PendingUserFactory

    pending = client_for(PendingUserFactory(username="newbie")).post(URL, {}, format="json")

    assert pending.status_code == 403
    assert pending.json()["error"]["code"] == "account_not_approved"
    assert APIClient().post(URL, {}, format="json").status_code == 401


def test_an_api_key_needs_the_events_scope(alice):
    from rest_framework.test import APIClient

    from fastpay.api_keys import api_key_create

    _, reader = api_key_create(user=alice, name="r", scopes=["events:read"])
    _, payer = api_key_create(user=alice, name="p", scopes=["payments:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert client.post(URL, {}, format="json").status_code == 201
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {payer}")
    assert client.post(URL, {}, format="json").status_code == 403


def test_expired_tickets_of_the_user_are_removed_when_a_new_one_is_issued(alice, client_for):
    from django.utils import timezone

    client = client_for(alice)
    client.post(URL, {}, format="json")
    StreamTicket.objects.update(
        created_at=timezone.now() - timezone.timedelta(minutes=2),
        expires_at=timezone.now() - timezone.timedelta(minutes=1),
    )
    client.post(URL, {}, format="json")

    assert StreamTicket.objects.count() == 1
