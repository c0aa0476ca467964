"""The withdrawals API: request (reserved in the same transaction, idempotent), list,
detail, revise, cancel and quote; every refusal a 4xx with its code and param, and
nothing reserved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from settlement.models import AllowedAddress, Withdrawal, WithdrawalDayUsage, WithdrawalState
from settlement.services.paying import reserved_mismatches
from tests.settlement.conftest import DESTINATION, TOKENS, WRONG_CHECKSUM
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

URL = "/api/v1/withdrawals/"
pytestmark = pytest.mark.usefixtures("offchain", "policy")


def balances(user, token):
    rows = LedgerAccount.objects.filter(owner=user, token=token)
    return {row.kind: row.balance for row in rows}


def body(amount="25.00", destination=DESTINATION, **extra):
    return {"token": "USDT", "amount": amount, "destination": destination, **extra}


@pytest.fixture
def api(alice, funded, client_for):
    funded(alice, 200)
    return client_for(alice)


def assert_nothing_reserved(user, token, available=200 * TOKENS):
    assert balances(user, token).get(AccountKind.AVAILABLE) == available
    assert balances(user, token).get(AccountKind.WITHDRAWING, 0) == 0
    assert not Withdrawal.objects.filter(user=user).exists()
    assert not WithdrawalDayUsage.objects.filter(user=user, used_units__gt=0).exists()


def test_a_small_withdrawal_is_reserved_and_awaits_payment(api, alice, usdt):
    response = api.post(URL, body(), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["state"] == WithdrawalState.AWAITING_PAYMENT
    assert (data["amount"], data["fee"], data["total"]) == ("25.000000", "0.500000", "25.500000")
    assert data["revision"] == 1 and data["required_approvals"] == 0
    assert balances(alice, usdt) == {
        AccountKind.AVAILABLE: 200 * TOKENS - 25_500_000,
        AccountKind.WITHDRAWING: 25_500_000,
    }
    topics = list(
        OutboxEvent.objects.filter(aggregate_id=data["id"]).values_list("topic", flat=True)
    )
    assert sorted(topics) == ["withdrawal.approved", "withdrawal.requested"]
    assert reserved_mismatches() == []
    assert ledger_check_run(record=False).drift_count == 0


def test_the_same_idempotency_key_answers_with_the_same_withdrawal(api, alice, usdt):
    first = api.post(URL, body(), format="json", HTTP_IDEMPOTENCY_KEY="wd-1")
    again = api.post(URL, body(), format="json", HTTP_IDEMPOTENCY_KEY="wd-1")
    other = api.post(URL, body(amount="30.00"), format="json", HTTP_IDEMPOTENCY_KEY="wd-1")

    assert first.status_code == 201 and again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_error"
    assert Withdrawal.objects.filter(user=alice).count() == 1
    assert balances(alice, usdt)[AccountKind.WITHDRAWING] == 25_500_000


def test_the_service_replays_a_key_the_api_forgot(alice, funded, request_withdrawal, usdt):
    funded(alice, 200)
    first = request_withdrawal(alice, 10, idempotency_key="k")
    again = request_withdrawal(alice, 10, idempotency_key="k")

    assert again.pk == first.pk
    assert balances(alice, usdt)[AccountKind.WITHDRAWING] == 10_500_000


@pytest.mark.parametrize(
    ("destination", "status", "code"),
    [
        (WRONG_CHECKSUM, 400, "invalid_checksum"),
        (DESTINATION.lower(), 400, "invalid_checksum"),
        ("0x" + "0" * 40, 400, "zero_address"),
        ("0x1234", 400, "invalid_address"),
        ("vitalik.eth", 400, "invalid_address"),
    ],
)
def test_a_bad_destination_is_refused_and_nothing_moves(
    api, alice, usdt, destination, status, code
):
    response = api.post(URL, body(destination=destination), format="json")

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == "destination"
    assert_nothing_reserved(alice, usdt)


def test_an_address_of_the_platform_is_refused(api, alice, usdt, offchain):
    from wallets.chain.models import AddressRole, PlatformAddress

    hot = "0x" + "ab" * 20
    from eth_utils import to_checksum_address

    PlatformAddress.objects.create(chain=offchain, role=AddressRole.HOT, address=hot)
    for own in (to_checksum_address(hot), to_checksum_address(usdt.contract_address)):
        response = api.post(URL, body(destination=own), format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "own_address"
    assert_nothing_reserved(alice, usdt)


def test_an_address_on_the_sanctions_list_is_refused(api, alice, usdt, settings, tmp_path):
    listed = tmp_path / "sanctions.txt"
    listed.write_text(f"# OFAC SDN extract\n{DESTINATION.lower()}  # a mixer\n")
    settings.FASTPAY_SANCTIONS_FILE = str(listed)

    response = api.post(URL, body(), format="json")

    assert response.status_code == 403 and response.json()["error"]["code"] == "sanctioned_address"
    assert_nothing_reserved(alice, usdt)


def test_above_the_balance_is_a_402_with_nothing_reserved(api, alice, usdt):
    response = api.post(URL, body(amount="199.60"), format="json")  # + 0.5 fee > 200

    assert response.status_code == 402
    assert response.json()["error"] == {
        "code": "insufficient_funds",
        "message": response.json()["error"]["message"],
        "param": "amount",
    }
    assert_nothing_reserved(alice, usdt)


def test_above_the_daily_limit_is_refused_with_nothing_reserved(alice, funded, client_for, usdt):
    funded(alice, 2_000)
    api = client_for(alice)
    assert api.post(URL, body(amount="90"), format="json").status_code == 201
    for _ in range(9):  # 9 x 99 + 90 = 981
        assert api.post(URL, body(amount="99"), format="json").status_code == 201

    response = api.post(URL, body(amount="20"), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "daily_limit_exceeded"
    assert response.json()["error"]["param"] == "amount"
    assert Withdrawal.objects.filter(user=alice).count() == 10
    assert WithdrawalDayUsage.objects.get(user=alice).used_units == 981 * TOKENS
    assert balances(alice, usdt)[AccountKind.WITHDRAWING] == 981 * TOKENS + 10 * TOKENS // 2


def test_a_cancelled_withdrawal_gives_its_day_back(alice, funded, client_for, usdt):
    funded(alice, 2_000)
    api = client_for(alice)
    big = api.post(URL, body(amount="99"), format="json").json()
    for _ in range(9):
        api.post(URL, body(amount="99"), format="json")
    assert api.post(URL, body(amount="99"), format="json").status_code == 403

    assert api.post(f"{URL}{big['id']}/cancel/").status_code == 200
    assert api.post(URL, body(amount="99"), format="json").status_code == 201


def test_a_token_on_another_chain_is_refused(api, alice, usdt):
    response = api.post(URL, body(chain_id=usdt.chain_id + 1), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_not_on_chain"
    assert response.json()["error"]["param"] == "chain_id"
    assert_nothing_reserved(alice, usdt)


def test_a_token_whose_chain_is_not_configured_is_refused(api, alice, usdt, offchain):
    offchain.enabled = False
    offchain.save()

    response = api.post(URL, body(), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "withdrawals_unavailable"
    assert_nothing_reserved(alice, usdt)


@pytest.mark.parametrize(
    ("amount", "code"),
    [("0.5", "amount_too_small"), ("12.5x", "invalid_amount"), (12, "not_a_string")],
)
def test_a_bad_amount_is_refused(api, alice, usdt, amount, code):
    response = api.post(URL, body(amount=amount), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == "amount"
    assert_nothing_reserved(alice, usdt)


def test_a_fee_other_than_the_quote_is_refused(api, alice, usdt):
    quote = api.get(f"{URL}quote/", {"token": "USDT", "amount": "25"}).json()
    assert (quote["fee"], quote["total"], quote["fee_policy"]) == ("0.500000", "25.500000", "flat")

    stale = api.post(URL, body(fee="0.10"), format="json")
    fresh = api.post(URL, body(fee=quote["fee"]), format="json")

    assert stale.status_code == 409 and stale.json()["error"]["code"] == "fee_changed"
    assert stale.json()["error"]["param"] == "fee"
    assert fresh.status_code == 201


def test_the_quote_says_what_a_large_one_waits_for(api):
    quote = api.get(f"{URL}quote/", {"token": "USDT", "amount": "900"}).json()

    assert quote["required_approvals"] == 2 and quote["timelock_s"] == 3600
    assert quote["daily_limit_left_units"] == 1_000 * TOKENS


def test_an_unknown_field_is_refused(api, alice, usdt):
    response = api.post(URL, body(state="completed"), format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_field"
    assert_nothing_reserved(alice, usdt)


def test_another_users_withdrawal_is_not_found(api, bob, funded, client_for):
    funded(bob, 50)
    theirs = client_for(bob).post(URL, body(amount="10"), format="json").json()

    assert api.get(f"{URL}{theirs['id']}/").status_code == 404
    assert api.post(f"{URL}{theirs['id']}/cancel/").status_code == 404
    assert api.patch(f"{URL}{theirs['id']}/", {"amount": "1"}, format="json").status_code == 404
    assert api.get(URL).json()["results"] == []
    assert Withdrawal.objects.get(pk=theirs["id"]).state == WithdrawalState.AWAITING_PAYMENT


def test_cancelling_twice_is_refused_and_returns_the_money_once(api, alice, usdt):
    created = api.post(URL, body(), format="json").json()

    first = api.post(f"{URL}{created['id']}/cancel/")
    second = api.post(f"{URL}{created['id']}/cancel/")

    assert first.status_code == 200 and first.json()["state"] == "cancelled"
    assert first.json()["reason"] == "user_cancelled"
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "withdrawal_not_cancellable"
    assert balances(alice, usdt) == {
        AccountKind.AVAILABLE: 200 * TOKENS,
        AccountKind.WITHDRAWING: 0,
    }
    assert ledger_check_run(record=False).drift_count == 0


def test_list_and_detail_show_your_withdrawals(api):
    ids = [api.post(URL, body(amount=a), format="json").json()["id"] for a in ("1", "2")]
    api.post(f"{URL}{ids[0]}/cancel/")

    listed = api.get(URL).json()["results"]
    cancelled = api.get(URL, {"state": "cancelled"}).json()["results"]

    assert [w["id"] for w in listed] == ids[::-1]
    assert [w["id"] for w in cancelled] == [ids[0]]
    assert api.get(f"{URL}{ids[1]}/").json()["amount_units"] == 2 * TOKENS
    assert api.get(URL, {"state": "lost"}).status_code == 400


def test_a_revision_moves_the_reservation_and_voids_nothing_moved(api, alice, usdt, rev1):
    created = api.post(URL, body(amount="150"), format="json").json()  # needs one approval
    assert created["state"] == "awaiting_approval"

    revised = api.patch(f"{URL}{created['id']}/", {"amount": "120", "revision": 1}, format="json")
    stale = api.patch(f"{URL}{created['id']}/", {"amount": "110", "revision": 1}, format="json")

    assert revised.status_code == 200 and revised.json()["revision"] == 2
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_revision"
    assert balances(alice, usdt)[AccountKind.WITHDRAWING] == 120_500_000
    assert WithdrawalDayUsage.objects.get(user=alice).used_units == 120 * TOKENS
    assert reserved_mismatches() == []


def test_a_withdrawal_awaiting_payment_cannot_be_revised(api):
    created = api.post(URL, body(amount="10"), format="json").json()

    response = api.patch(f"{URL}{created['id']}/", {"amount": "5"}, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"


def test_a_revision_to_a_wrong_checksum_is_refused(api, alice, usdt):
    created = api.post(URL, body(amount="150"), format="json").json()

    response = api.patch(f"{URL}{created['id']}/", {"destination": WRONG_CHECKSUM}, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_checksum"
    assert Withdrawal.objects.get(pk=created["id"]).revision == 1


def test_an_unapproved_account_cannot_withdraw(db, funded, client_for, usdt):
    from tests.wallets.factories import PendingUserFactory

    pending = funded(PendingUserFactory(username="newbie"), 50)

    response = client_for(pending).post(URL, body(amount="5"), format="json")

    assert response.status_code == 403


class TestMerchantAllowList:
    def test_an_address_not_on_the_list_is_refused(self, merchant, funded, client_for, usdt):
        funded(merchant, 100)

        response = client_for(merchant).post(URL, body(amount="5"), format="json")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "destination_not_allowed"
        assert_nothing_reserved(merchant, usdt, 100 * TOKENS)

    def test_a_new_address_waits_its_cool_down(self, merchant, funded, client_for, usdt, offchain):
        funded(merchant, 100)
        api = client_for(merchant)
        added = api.post(
            "/api/v1/withdrawal-addresses/",
            {"address": DESTINATION, "chain_id": offchain.chain_id, "label": "treasury"},
            format="json",
        )
        assert added.status_code == 201

        cooling = api.post(URL, body(amount="5"), format="json")
        an_hour_ago = timezone.now() - timedelta(hours=1, seconds=1)  # as if time passed
        AllowedAddress.objects.filter(pk=added.json()["id"]).update(
            created_at=an_hour_ago, usable_at=an_hour_ago + timedelta(hours=1)
        )
        usable = api.post(URL, body(amount="5"), format="json")

        assert cooling.status_code == 403
        assert cooling.json()["error"]["code"] == "destination_cooling_down"
        assert usable.status_code == 201

    def test_an_address_is_added_once_and_checked(self, merchant, client_for, offchain):
        api = client_for(merchant)
        url = "/api/v1/withdrawal-addresses/"
        entry = {"address": DESTINATION, "chain_id": offchain.chain_id}

        assert api.post(url, entry, format="json").status_code == 201
        again = api.post(url, entry, format="json")
        wrong = api.post(url, entry | {"address": WRONG_CHECKSUM}, format="json")

        assert again.status_code == 409
        assert again.json()["error"]["code"] == "address_already_allowed"
        assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "address"

    def test_an_api_key_cannot_add_an_address(self, merchant, offchain):
        from rest_framework.test import APIClient

        from fastpay.api_keys import api_key_create

        _, secret = api_key_create(user=merchant, name="till", scopes=["payments:write"])
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

        response = api.post(
            "/api/v1/withdrawal-addresses/",
            {"address": DESTINATION, "chain_id": offchain.chain_id},
            format="json",
        )

        assert response.status_code == 403
        assert not AllowedAddress.objects.exists()


def test_staff_hear_of_a_withdrawal_waiting_for_them(api):
    from notifications.catalogue import STAFF, event_type

    small = api.post(URL, body(amount="5"), format="json").json()
    large = api.post(URL, body(amount="150"), format="json").json()

    def recipients(withdrawal_id):
        event = OutboxEvent.objects.get(topic="withdrawal.requested", aggregate_id=withdrawal_id)
        return event_type(event.topic).recipients_of(event.payload)

    assert STAFF not in recipients(small["id"])
    assert STAFF in recipients(large["id"])
