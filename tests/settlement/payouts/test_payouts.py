"""Merchant payouts without a chain: schedules due (one payout per period whatever the beat
runs), the statement (exactly the postings paid out, summing to the gross), the API's
refusals, and the books after each step."""

import csv
import io
from datetime import UTC, datetime

import pytest

from settlement.payouts.models import Payout, PayoutLine, PayoutState
from settlement.payouts.services import (
    payout_create,
    payout_fail,
    reserved_mismatches,
    schedules_run,
)
from tests.settlement.conftest import TOKENS, WRONG_CHECKSUM
from tests.settlement.payouts.conftest import ADDRESSES
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, LedgerAccount, Posting, UserRole
from wallets.services.checks import ledger_check_run

URL = "/api/v1/payouts/"
pytestmark = pytest.mark.usefixtures("policy")
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def balance(user, token, kind=AccountKind.AVAILABLE) -> int:
    row = LedgerAccount.objects.filter(owner=user, token=token, kind=kind).first()
    return row.balance if row else 0


def books_clean():
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []


def statement(api, payout_id) -> list[dict]:
    response = api.get(f"{URL}{payout_id}/statement.csv")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_a_schedule_due_creates_one_payout_whatever_the_beat_runs(shop, fund, usdt, schedule_for):
    schedule_for(shop, shop.payout_address, interval="daily", hour_utc=10)
    fund(shop, usdt, 30)
    fund(shop, usdt, 12)

    early = NOON.replace(hour=9)
    assert schedules_run(now=early) == {"not_due": 1}
    assert schedules_run(now=NOON) == {"created": 1}
    fund(shop, usdt, 5)  # more money the same day waits for tomorrow's payout
    assert schedules_run(now=NOON.replace(hour=18)) == {"already_paid_out": 1}

    payout = Payout.objects.get()
    assert payout.period == "daily:2026-12-02" and payout.state == PayoutState.PENDING
    assert payout.gross_units == 42 * TOKENS
    assert payout.fee_units == TOKENS // 2 and payout.amount_units == 41 * TOKENS + TOKENS // 2
    assert payout.destination == ADDRESSES[0]
    assert balance(shop, usdt) == 5 * TOKENS
    assert balance(shop, usdt, AccountKind.WITHDRAWING) == 42 * TOKENS
    books_clean()

    tomorrow = NOON.replace(day=3)
    assert schedules_run(now=tomorrow) == {"created": 1}
    second = Payout.objects.get(period="daily:2026-12-03")
    assert second.gross_units == 5 * TOKENS
    assert second.after_posting_id > payout.cutoff_posting_id
    books_clean()


def test_weekly_and_threshold_schedules(merchant, allow, fund, usdt, schedule_for):
    other = UserFactory(username="shop2", role=UserRole.MERCHANT)
    schedule_for(merchant, allow(merchant, ADDRESSES[0]), interval="weekly", weekday=2)
    schedule_for(
        other, allow(other, ADDRESSES[1]), interval="threshold", threshold_units=100 * TOKENS
    )
    fund(merchant, usdt, 10)
    fund(other, usdt, 60)
    tuesday = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert schedules_run(now=tuesday) == {"not_due": 2}

    fund(other, usdt, 40)  # reaches the threshold
    wednesday = datetime(2026, 12, 2, 0, tzinfo=UTC)
    assert schedules_run(now=wednesday) == {"created": 2}
    assert schedules_run(now=wednesday) == {"already_paid_out": 1, "not_due": 1}
    periods = set(Payout.objects.values_list("period", flat=True))
    assert periods == {"weekly:2026-W49", "threshold:0"}
    books_clean()


def test_a_balance_below_the_minimum_waits(shop, fund, usdt, schedule_for):
    schedule_for(shop, shop.payout_address, minimum_units=50 * TOKENS)
    fund(shop, usdt, 20)
    assert schedules_run(now=NOON) == {"below_minimum": 1}
    assert not Payout.objects.exists()
    assert balance(shop, usdt) == 20 * TOKENS


def test_the_statement_lists_exactly_the_entries_paid_out(shop, alice, fund, usdt, client_for):
    fund(shop, usdt, 30)
    first, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    fund(shop, usdt, 7)
    fund(shop, usdt, 3)
    api = client_for(shop)
    created = api.post(URL, {"token": "USDT"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert created.status_code == 400  # no schedule and no destination given
    assert created.json()["error"]["code"] == "no_payout_destination"
    created = api.post(
        URL,
        {"token": "USDT", "destination": ADDRESSES[0]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="p-2",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["gross"], body["fee"], body["amount"]) == ("10.000000", "0.500000", "9.500000")
    assert body["entries"] == 2 and body["state"] == "pending"

    rows = statement(api, body["id"])
    entries = [r for r in rows if r["posting_id"]]
    paid = list(
        PayoutLine.objects.filter(payout_id=body["id"]).values_list("posting_id", flat=True)
    )
    assert [int(r["posting_id"]) for r in entries] == paid
    # exactly the postings of the AVAILABLE account after the first payout's hold
    account = LedgerAccount.objects.get(owner=shop, token=usdt, kind=AccountKind.AVAILABLE)
    hold = Posting.objects.get(entry_id=first.hold_entry_id, account=account)
    after = Posting.objects.filter(
        account=account, pk__gt=hold.pk, pk__lte=entries[-1]["posting_id"]
    )
    assert paid == list(
        after.exclude(entry__reference=f"payout:{body['id']}").values_list("pk", flat=True)
    )
    assert sum(int(r["amount_units"]) for r in entries) == body["gross_units"] == 10 * TOKENS
    total, fee, sent = rows[-3:]
    assert (total["kind"], int(total["amount_units"])) == ("total", 10 * TOKENS)
    assert (fee["kind"], int(fee["amount_units"])) == ("fee", -(TOKENS // 2))
    assert int(total["amount_units"]) + int(fee["amount_units"]) == int(sent["amount_units"])
    # no posting is in two payouts
    first_lines = set(first.lines.values_list("posting_id", flat=True))
    assert first_lines.isdisjoint(paid)
    books_clean()


def test_a_failed_payouts_money_comes_back_and_is_paid_out_next(shop, fund, usdt):
    fund(shop, usdt, 20)
    payout, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    from django.db import transaction

    with transaction.atomic():
        payout_fail(
            Payout.objects.select_related("token", "user").get(pk=payout.pk),
            code="transaction_failed",
            note="reverted",
        )
    assert balance(shop, usdt) == 20 * TOKENS
    books_clean()
    again, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    kinds = list(again.lines.values_list("posting__entry__kind", flat=True))
    assert kinds == ["withdrawal_void"] and again.gross_units == 20 * TOKENS
    books_clean()


def test_post_is_idempotent(shop, fund, usdt, client_for):
    fund(shop, usdt, 15)
    api = client_for(shop)
    body = {"token": "USDT", "destination": ADDRESSES[0]}
    one = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    two = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert one.status_code == 201 and two.status_code in (200, 201)
    assert one.json()["id"] == two.json()["id"]
    assert Payout.objects.count() == 1
    listed = api.get(URL).json()
    assert [p["id"] for p in listed["results"]] == [one.json()["id"]]
    books_clean()


def test_another_merchants_payout_is_404(shop, fund, usdt, client_for):
    fund(shop, usdt, 15)
    payout, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    other = UserFactory(username="shop2", role=UserRole.MERCHANT)
    api = client_for(other)
    for url in (f"{URL}{payout.pk}/", f"{URL}{payout.pk}/statement.csv"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert api.get(URL).json()["results"] == []


@pytest.mark.parametrize(
    ("destination", "status", "code"),
    [
        (ADDRESSES[1], 403, "destination_not_allowed"),
        (WRONG_CHECKSUM, 400, "invalid_checksum"),
        ("0x1234", 400, "invalid_address"),
    ],
)
def test_bad_destinations_are_refused_and_nothing_moves(
    shop, fund, usdt, client_for, destination, status, code
):
    fund(shop, usdt, 15)
    response = client_for(shop).post(
        URL, {"token": "USDT", "destination": destination}, format="json"
    )
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == "destination"
    assert not Payout.objects.exists() and balance(shop, usdt) == 15 * TOKENS
    books_clean()


def test_a_zero_balance_and_a_customer_are_refused(shop, alice, fund, usdt, client_for):
    body = {"token": "USDT", "destination": ADDRESSES[0]}
    response = client_for(shop).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "nothing_to_pay_out",
        "message": "The available balance of this token is zero: nothing to pay out.",
        "param": "token",
    }
    fund(alice, usdt, 5)
    response = client_for(alice).post(URL, body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "payouts_merchants_only"
    response = client_for(shop).post(
        URL, {"token": "NOPE", "destination": ADDRESSES[0]}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "token"
    response = client_for(shop).post(URL, {"token": "USDT", "extra": 1}, format="json")
    assert response.status_code == 400
    assert not Payout.objects.exists()
    books_clean()
