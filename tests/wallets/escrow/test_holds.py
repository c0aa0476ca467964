"""Escrow holds through the API and the services: authorize, capture, void, expire,
dispute and decide; each resolves at most once, and bad input moves nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from wallets.escrow.models import Hold, HoldState
from wallets.escrow.services import hold_decide, holds_expire
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = pytest.mark.django_db
UNIT = 1_000_000


def balance(user, usdt, kind=AccountKind.AVAILABLE) -> int:
    row = LedgerAccount.objects.filter(owner=user, token=usdt, kind=kind).first()
    return row.balance if row else 0


def escrow(usdt) -> int:
    row = LedgerAccount.objects.filter(owner=None, token=usdt, kind=AccountKind.ESCROW).first()
    return row.balance if row else 0


def deadline(**delta) -> str:
    return (timezone.now() + timedelta(**(delta or {"days": 1}))).isoformat()


@pytest.fixture
def funded(alice, bob, usdt, fund):
    fund(alice, usdt, 50)
    return alice, bob


def authorize(client_for, payer, payee, *, amount="20.00", kind="authorization", **extra):
    """POST /holds/; ``extra`` overrides (or adds) body fields."""
    body = {
        "payee": payee.username,
        "token": "USDT",
        "amount": amount,
        "kind": kind,
        "expires_at": deadline(),
    }
    body.update(extra.pop("body", {}), **extra)
    return client_for(payer).post("/api/v1/holds/", body, format="json")


def clean():
    assert ledger_check_run(record=False).drift_count == 0


def test_an_authorization_reserves_the_money_in_escrow(funded, usdt, client_for):
    alice, bob = funded
    response = authorize(client_for, alice, bob)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["amount"], body["amount_units"]) == (
        "pending",
        "20.000000",
        20 * UNIT,
    )
    assert (balance(alice, usdt), escrow(usdt), balance(bob, usdt)) == (30 * UNIT, 20 * UNIT, 0)
    assert OutboxEvent.objects.get(topic="hold.authorized").payload["amount_units"] == 20 * UNIT
    clean()


def test_the_payee_captures_part_and_the_rest_goes_back(funded, usdt, client_for):
    alice, bob = funded
    hold_id = authorize(client_for, alice, bob).json()["id"]

    response = client_for(bob).post(
        f"/api/v1/holds/{hold_id}/capture/", {"amount": "12.5"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["state"], response.json()["posted_amount_units"]) == (
        "posted",
        12_500_000,
    )
    assert (balance(alice, usdt), escrow(usdt), balance(bob, usdt)) == (37_500_000, 0, 12_500_000)
    assert OutboxEvent.objects.filter(topic="hold.posted").count() == 1
    clean()


def test_a_capture_resolves_once_whatever_the_retries(funded, usdt, client_for):
    alice, bob = funded
    hold_id = authorize(client_for, alice, bob).json()["id"]
    url = f"/api/v1/holds/{hold_id}/capture/"
    assert client_for(bob).post(url, {"amount": "5"}, format="json").status_code == 200

    again = client_for(bob).post(url, {"amount": "5"}, format="json")
    other = client_for(bob).post(url, {"amount": "6"}, format="json")
    void = client_for(bob).post(f"/api/v1/holds/{hold_id}/void/")

    assert again.status_code == 200 and again.json()["posted_amount_units"] == 5 * UNIT
    assert (other.status_code, other.json()["error"]["code"]) == (409, "hold_resolved")
    assert (void.status_code, void.json()["error"]["code"]) == (409, "hold_resolved")
    assert (
        balance(bob, usdt) == 5 * UNIT
        and OutboxEvent.objects.filter(topic="hold.posted").count() == 1
    )
    clean()


def test_a_capture_after_a_void_and_a_second_void(funded, usdt, client_for):
    alice, bob = funded
    hold_id = authorize(client_for, alice, bob).json()["id"]
    assert client_for(bob).post(f"/api/v1/holds/{hold_id}/void/").status_code == 200

    second = client_for(bob).post(f"/api/v1/holds/{hold_id}/void/")
    capture = client_for(bob).post(f"/api/v1/holds/{hold_id}/capture/", {}, format="json")

    assert second.status_code == 200 and second.json()["state"] == "voided"
    assert (capture.status_code, capture.json()["error"]["code"]) == (409, "hold_resolved")
    assert (balance(alice, usdt), escrow(usdt), balance(bob, usdt)) == (50 * UNIT, 0, 0)
    clean()


def test_a_capture_above_the_authorized_amount_is_refused(funded, usdt, client_for):
    alice, bob = funded
    hold_id = authorize(client_for, alice, bob).json()["id"]

    response = client_for(bob).post(
        f"/api/v1/holds/{hold_id}/capture/", {"amount": "20.000001"}, format="json"
    )

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (
        "amount_above_authorized",
        "amount",
    )
    assert Hold.objects.get().state == HoldState.PENDING and escrow(usdt) == 20 * UNIT


def test_who_may_do_what(funded, usdt, client_for, stranger):
    alice, bob = funded
    auth_id = authorize(client_for, alice, bob).json()["id"]
    market_id = authorize(client_for, alice, bob, kind="marketplace", amount="5").json()["id"]

    payer_capture = client_for(alice).post(f"/api/v1/holds/{auth_id}/capture/", {}, format="json")
    seller_release = client_for(bob).post(f"/api/v1/holds/{market_id}/capture/", {}, format="json")
    buyer_void = client_for(alice).post(f"/api/v1/holds/{market_id}/void/")
    seller_dispute = client_for(bob).post(
        f"/api/v1/holds/{market_id}/dispute/", {"reason": "x"}, format="json"
    )
    dispute_auth = client_for(alice).post(
        f"/api/v1/holds/{auth_id}/dispute/", {"reason": "x"}, format="json"
    )

    assert [r.status_code for r in (payer_capture, seller_release, buyer_void, seller_dispute)] == [
        403
    ] * 4
    assert dispute_auth.json()["error"]["code"] == "hold_wrong_kind"
    for url in (f"/api/v1/holds/{auth_id}/", f"/api/v1/holds/{auth_id}/void/"):
        call = (
            client_for(stranger).get if url.endswith(f"{auth_id}/") else client_for(stranger).post
        )
        assert call(url).status_code == 404  # other people's holds do not exist for them
    # the customer may cancel its own authorization before it is captured
    assert client_for(alice).post(f"/api/v1/holds/{auth_id}/void/").status_code == 200
    assert Hold.objects.get(pk=market_id).state == HoldState.PENDING
    clean()


def test_deadlines_an_authorization_expires_a_marketplace_hold_is_released(
    funded, usdt, client_for
):
    alice, bob = funded
    auth_id = authorize(client_for, alice, bob, amount="10").json()["id"]
    market_id = authorize(client_for, alice, bob, kind="marketplace", amount="7").json()["id"]
    disputed_id = authorize(client_for, alice, bob, kind="marketplace", amount="3").json()["id"]
    client_for(alice).post(
        f"/api/v1/holds/{disputed_id}/dispute/", {"reason": "not delivered"}, format="json"
    )

    assert holds_expire(now=timezone.now() + timedelta(days=2)) == 2

    states = {str(h.pk): h.state for h in Hold.objects.all()}
    assert states == {auth_id: "expired", market_id: "posted", disputed_id: "disputed"}
    assert (balance(alice, usdt), balance(bob, usdt), escrow(usdt)) == (
        40 * UNIT,
        7 * UNIT,
        3 * UNIT,
    )
    assert holds_expire(now=timezone.now() + timedelta(days=3)) == 0
    clean()


def test_staff_decide_a_dispute_once(funded, usdt, client_for, reviewer):
    alice, bob = funded
    hold_id = authorize(client_for, alice, bob, kind="marketplace", amount="10").json()["id"]
    client_for(alice).post(
        f"/api/v1/holds/{hold_id}/dispute/", {"reason": "damaged"}, format="json"
    )
    pending = client_for(alice).post(f"/api/v1/holds/{hold_id}/capture/", {}, format="json")
    assert pending.json()["error"]["code"] == "hold_resolved"  # disputed: staff decide

    hold = hold_decide(hold_id=hold_id, by=reviewer, release_amount=4 * UNIT, note="half refund")

    assert (hold.state, hold.posted_amount, hold.decided_by) == ("posted", 4 * UNIT, reviewer)
    assert (balance(alice, usdt), balance(bob, usdt)) == (46 * UNIT, 4 * UNIT)
    with pytest.raises(Exception, match="not disputed"):
        hold_decide(hold_id=hold_id, by=reviewer, release_amount=0, note="again")
    clean()


def test_more_than_the_balance_is_refused_and_nothing_reserved(funded, usdt, client_for):
    alice, bob = funded
    response = authorize(client_for, alice, bob, amount="50.000001")

    assert (response.status_code, response.json()["error"]["code"]) == (402, "insufficient_funds")
    assert (Hold.objects.count(), balance(alice, usdt), escrow(usdt)) == (0, 50 * UNIT, 0)


@pytest.mark.parametrize(
    "change, param, code",
    [
        ({"payee": "nobody"}, "payee", "unknown_payee"),
        ({"amount": "0"}, "amount", "invalid_amount"),
        ({"amount": "-1"}, "amount", "invalid_amount"),
        ({"amount": "1e3"}, "amount", "invalid_amount"),
        ({"amount": 5}, "amount", "not_a_string"),
        ({"amount": "1.0000001"}, "amount", "invalid_amount"),
        ({"kind": "loan"}, "kind", "invalid_choice"),
        ({"expires_at": "yesterday"}, "expires_at", "invalid"),
        ({"token": "DOGE"}, "token", "unknown_token"),
        ({"surprise": 1}, "surprise", "unknown_field"),
    ],
)
def test_bad_input_is_400_with_the_field_and_moves_nothing(
    funded, usdt, client_for, change, param, code
):
    alice, bob = funded
    response = authorize(client_for, alice, bob, body=change)

    assert response.status_code == 400, response.json()
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code)
    assert Hold.objects.count() == 0 and balance(alice, usdt) == 50 * UNIT


@pytest.mark.parametrize("when", [{"seconds": -5}, {"days": 91}])
def test_a_deadline_in_the_past_or_too_far_is_refused(funded, client_for, when):
    alice, bob = funded
    response = authorize(client_for, alice, bob, expires_at=deadline(**when))

    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (
        "invalid_deadline",
        "expires_at",
    )


def test_holding_for_yourself_is_refused(funded, client_for):
    alice, _ = funded
    response = authorize(client_for, alice, alice)
    assert response.json()["error"]["code"] == "self_payment"


def test_an_idempotency_key_replays_the_first_hold(funded, usdt, client_for):
    alice, bob = funded
    body = {
        "payee": bob.username,
        "token": "USDT",
        "amount": "2",
        "kind": "authorization",
        "expires_at": deadline(),
    }
    api = client_for(alice)

    first = api.post("/api/v1/holds/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = api.post("/api/v1/holds/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    other = api.post(
        "/api/v1/holds/", {**body, "amount": "3"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1"
    )

    assert (
        first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    )
    assert other.status_code == 409
    assert Hold.objects.count() == 1 and escrow(usdt) == 2 * UNIT


def test_the_list_shows_holds_as_payer_and_payee_only(funded, client_for, stranger):
    alice, bob = funded
    authorize(client_for, alice, bob)

    assert len(client_for(bob).get("/api/v1/holds/").json()["results"]) == 1
    assert len(client_for(alice).get("/api/v1/holds/").json()["results"]) == 1
    assert client_for(stranger).get("/api/v1/holds/").json()["results"] == []
