# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""GET /api/v1/events/ and /api/v1/events/{id}/: a user sees the events addressed to
them, and nothing else."""

import uuid

import pytest

from notifications.models import RecipientEvent
from tests.notifications.webhook_fixtures import (  # noqa: F401
    dispatch_now,
    merchant,
    other_merchant,
    pay,
    relaxed_risk,
)

pytestmark = pytest.mark.usefixtures("relaxed_risk")
URL = "/api/v1/events/"


@pytest.fixture
def history(alice, merchant, other_merchant, pay):
    """alice pays the merchant twice and the other merchant once."""
    return [pay(alice, merchant, 1), pay(alice, merchant, 2), pay(alice, other_merchant, 3)]


def test_a_merchant_lists_its_events_newest_first(merchant, history, client_for):
    body = client_for(merchant).get(URL).json()

    assert [e["type"] for e in body["results"]] == ["payment.succeeded"] * 2
    assert [e["sequence"] for e in body["results"]] == [2, 1]
    assert [e["data"]["amount"] for e in body["results"]] == ["2.000000", "1.000000"]
    first = body["results"][0]
    assert set(first) == {"id", "type", "version", "created", "sequence", "data"}
    assert first["created"].endswith("Z") and first["version"] == 1


def test_a_merchant_never_sees_another_merchants_event(
    merchant, other_merchant, history, client_for
):
    theirs = RecipientEvent.objects.get(user=other_merchant).event_id

    listed = client_for(merchant).get(URL).json()["results"]
    assert str(theirs) not in {e["id"] for e in listed}
    response = client_for(merchant).get(f"{URL}{theirs}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_one_event_by_its_id(merchant, history, client_for):
    row = RecipientEvent.objects.filter(user=merchant).order_by("sequence").first()

    body = client_for(merchant).get(f"{URL}{row.event_id}/").json()

    assert body["id"] == str(row.event_id) and body["sequence"] == 1


def test_filters_by_type(alice, history, client_for):
    body = client_for(alice).get(URL, {"type": "ledger.adjusted"}).json()

    assert {e["type"] for e in body["results"]} == {"ledger.adjusted"}
    assert len(body["results"]) == 3


def test_after_an_event_gives_what_came_after_it(merchant, history, client_for):
    first = RecipientEvent.objects.get(user=merchant, sequence=1).event_id

    body = client_for(merchant).get(URL, {"after": str(first)}).json()

    assert [e["sequence"] for e in body["results"]] == [2]


def test_after_an_event_that_is_not_yours_is_refused(merchant, other_merchant, history, client_for):
    theirs = RecipientEvent.objects.get(user=other_merchant).event_id

    response = client_for(merchant).get(URL, {"after": str(theirs)})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "unknown_event",
        "message": "no such event of yours",
        "param": "after",
    }


def test_the_created_range_filters(merchant, history, client_for):
    client = client_for(merchant)
    assert len(client.get(URL, {"created_after": "2999-01-01T00:00:00Z"}).json()["results"]) == 0
    assert len(client.get(URL, {"created_before": "2999-01-01T00:00:00Z"}).json()["results"]) == 2


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"type": "payment.exploded"}, "type", "invalid_choice"),
        ({"after": "not-a-uuid"}, "after", "invalid"),
        ({"created_after": "yesterday"}, "created_after", "invalid"),
        ({"colour": "red"}, "colour", "unknown_field"),
        ({"cursor": "%%%"}, "cursor", "invalid_cursor"),
    ],
)
def test_bad_filters_are_refused_with_the_field(merchant, client_for, params, param, code):
    response = client_for(merchant).get(URL, params)

    assert response.status_code == 400
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code)


def test_an_unknown_event_id_is_a_404(merchant, client_for):
    assert client_for(merchant).get(f"{URL}{uuid.uuid4()}/").status_code == 404


def test_cursor_pages_do_not_repeat(merchant, history, client_for):
    client = client_for(merchant)
    page = client.get(URL, {"limit": 1}).json()
    nxt = client.get(page["next"]).json()

    assert [e["sequence"] for e in page["results"] + nxt["results"]] == [2, 1]


def test_staff_see_the_staff_stream(reviewer, alice, operator, client_for):
    from wallets.services.users import user_suspend

    user_suspend(user_id=alice.pk, by=operator, reason="test")
    dispatch_now()

    staff_types = {e["type"] for e in client_for(reviewer).get(URL).json()["results"]}
    assert "user.suspended" in staff_types


def test_anonymous_and_keys_without_the_scope_are_refused(merchant, history, client_for):
    from fastpay.api_keys import api_key_create

    assert client_for(None).get(URL).status_code == 401
    _, read_payments = api_key_create(user=merchant, name="k1", scopes=["payments:read"])
    _, read_events = api_key_create(user=merchant, name="k2", scopes=["events:read"])
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_payments}")
    assert client.get(URL).status_code == 403
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_events}")
    assert len(client.get(URL).json()["results"]) == 2
