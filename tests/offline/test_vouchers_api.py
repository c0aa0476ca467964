"""POST /api/v1/offline/vouchers/: registration, limits, suspension, refusals; the expiry
beat task. Against real authority processes (the platform checks the voucher account)."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from fastpay_protocol import signing
from fastpay_protocol.offline_api import PlatformError
from offline.models import OfflineLimit, Voucher, VoucherState
from offline.services.vouchers import vouchers_expire

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")
UNIT = 1_000_000


def certify(wallet, client, token, amount, recipient=None):
    recipient = recipient or signing.Signer(os.urandom(32)).address
    signed = client.sign_order(
        wallet.signer,
        recipient=recipient,
        token=token,
        amount=amount,
        sequence=client.next_sequence(wallet.address),
    )
    certificate = client.certify(signed)
    client.confirm(certificate)
    return certificate.to_json()


def register(client_for, user, certificate, validity_s=3600):
    return client_for(user).post(
        "/api/v1/offline/vouchers/",
        {"certificate": certificate, "validity_s": validity_s},
        format="json",
    )


def refusal(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]["code"]


def test_it_registers_a_voucher_and_signs_its_window(
    alice, payer_wallet, committee_client, usdt, client_for
):
    wallet = payer_wallet(alice)
    certificate = certify(wallet, committee_client, usdt.contract_address, 3 * UNIT)
    response = register(client_for, alice, certificate, validity_s=600)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount_units"], body["token"], body["state"]) == (3 * UNIT, "USDT", "active")
    assert body["not_after"] - body["not_before"] == 660
    assert body["issuer"] == signing.Signer(b"\x77" * 32).address
    assert OutboxEvent.objects.filter(topic="offline.voucher_issued").count() == 1
    again = register(client_for, alice, certificate, validity_s=600)
    assert (again.status_code, again.json()["id"]) == (201, body["id"])
    assert Voucher.objects.count() == 1


def test_it_enforces_the_value_per_voucher(alice, payer_wallet, committee_client, usdt, client_for):
    wallet = payer_wallet(alice)
    OfflineLimit.objects.create(
        user=alice, max_outstanding=100 * UNIT, max_per_voucher=2 * UNIT, max_vouchers_per_day=5
    )
    certificate = certify(wallet, committee_client, usdt.contract_address, 2 * UNIT + 1)
    assert refusal(register(client_for, alice, certificate), 409) == "limit_per_voucher"


def test_it_enforces_the_outstanding_value(alice, payer_wallet, committee_client, usdt, client_for):
    wallet = payer_wallet(alice)
    OfflineLimit.objects.create(
        user=alice, max_outstanding=5 * UNIT, max_per_voucher=5 * UNIT, max_vouchers_per_day=5
    )
    first = certify(wallet, committee_client, usdt.contract_address, 3 * UNIT)
    assert register(client_for, alice, first).status_code == 201
    second = certify(wallet, committee_client, usdt.contract_address, 2 * UNIT + 1)
    assert refusal(register(client_for, alice, second), 409) == "limit_outstanding"
    third = certify(wallet, committee_client, usdt.contract_address, 2 * UNIT)
    assert register(client_for, alice, third).status_code == 201


def test_it_enforces_the_vouchers_per_day(alice, payer_wallet, committee_client, usdt, client_for):
    wallet = payer_wallet(alice)
    OfflineLimit.objects.create(
        user=alice, max_outstanding=100 * UNIT, max_per_voucher=5 * UNIT, max_vouchers_per_day=2
    )
    for _ in range(2):
        certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
        assert register(client_for, alice, certificate).status_code == 201
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    assert refusal(register(client_for, alice, certificate), 409) == "limit_per_day"


def test_it_refuses_a_suspended_payer(alice, payer_wallet, committee_client, usdt, client_for):
    wallet = payer_wallet(alice)
    OfflineLimit.objects.create(
        user=alice,
        max_outstanding=100 * UNIT,
        max_per_voucher=5 * UNIT,
        max_vouchers_per_day=5,
        suspended_at=timezone.now(),
    )
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    assert refusal(register(client_for, alice, certificate), 403) == "offline_suspended"


def test_it_refuses_someone_elses_certificate(
    alice, bob, payer_wallet, committee_client, usdt, client_for
):
    wallet = payer_wallet(alice)
    payer_wallet(bob)
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    assert refusal(register(client_for, bob, certificate), 400) == "invalid_voucher"


def test_it_refuses_a_certificate_without_quorum(
    alice, payer_wallet, committee_client, usdt, client_for
):
    wallet = payer_wallet(alice)
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    certificate["votes"] = certificate["votes"][:2]
    assert refusal(register(client_for, alice, certificate), 400) == "invalid_voucher"
    assert refusal(register(client_for, alice, {"order": 1}), 400) == "invalid_voucher"


def test_it_refuses_a_voucher_address_already_used(
    alice, payer_wallet, committee_client, usdt, client_for
):
    wallet = payer_wallet(alice)
    voucher_key = os.urandom(32)
    address = signing.Signer(voucher_key).address
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT, address)
    # the payer spends the voucher's sequence 0 before registering it
    committee_client.pay(
        voucher_key, recipient=wallet.address, token=usdt.contract_address, amount=UNIT, sequence=0
    )
    assert refusal(register(client_for, alice, certificate), 409) == "voucher_not_fresh"


def test_it_refuses_a_validity_out_of_range(
    alice, payer_wallet, committee_client, usdt, client_for
):
    wallet = payer_wallet(alice)
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    assert refusal(register(client_for, alice, certificate, 10), 400) == "invalid_voucher"
    assert refusal(register(client_for, alice, certificate, 10**8), 400) == "invalid_voucher"


def test_it_needs_a_linked_fastpay_account_and_a_login(alice, client_for):
    assert refusal(register(client_for, alice, {}), 400) == "no_fastpay_account"
    response = client_for().post("/api/v1/offline/vouchers/", {}, format="json")
    assert response.status_code == 401


def test_the_wallet_sweeps_back_a_voucher_the_platform_refuses(
    alice, payer_wallet, committee_client, usdt, api_platform
):
    wallet = payer_wallet(alice)
    OfflineLimit.objects.create(
        user=alice, max_outstanding=100 * UNIT, max_per_voucher=UNIT, max_vouchers_per_day=5
    )
    before = committee_client.account_state(wallet.address).balance(usdt.contract_address)
    with pytest.raises(PlatformError) as refused:
        wallet.issue(
            committee_client,
            api_platform(alice),
            token=usdt.contract_address,
            amount=2 * UNIT,
            validity_s=600,
        )
    assert refused.value.code == "limit_per_voucher"
    after = committee_client.account_state(wallet.address).balance(usdt.contract_address)
    assert after == before


def test_the_beat_task_expires_unspent_vouchers_after_the_grace_period(
    alice, payer_wallet, committee_client, usdt, client_for, settings
):
    settings.FASTPAY_OFFLINE_GRACE_S = 3600
    wallet = payer_wallet(alice)
    certificate = certify(wallet, committee_client, usdt.contract_address, UNIT)
    voucher = Voucher.objects.get(pk=register(client_for, alice, certificate).json()["id"])
    assert vouchers_expire(now=voucher.not_after + timedelta(seconds=3599)) == 0
    assert vouchers_expire(now=voucher.not_after + timedelta(seconds=3601)) == 1
    voucher.refresh_from_db()
    assert voucher.state == VoucherState.EXPIRED
    event = OutboxEvent.objects.get(topic="offline.voucher_reclaimable")
    assert event.payload["address"] == voucher.address
    # an expired voucher no longer counts as outstanding
    OfflineLimit.objects.filter(user=alice).update(max_outstanding=UNIT)
    again = certify(wallet, committee_client, usdt.contract_address, UNIT)
    assert register(client_for, alice, again).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"certificate": {"order": "x", "signature": "0x", "votes": []}, "validity_s": 600},
        {"certificate": {"order": {}, "signature": 1, "votes": "nope"}, "validity_s": 600},
        {"certificate": {"votes": [{"authority": 5}]}, "validity_s": 600},
        {"certificate": [], "validity_s": 600},
        {"certificate": {}, "validity_s": "soon"},
        {"validity_s": 600},
    ],
)
def test_it_answers_malformed_registrations_with_a_400(alice, payer_wallet, client_for, body):
    payer_wallet(alice)
    response = client_for(alice).post("/api/v1/offline/vouchers/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {
        "invalid_voucher",
        "invalid",
        "required",
        "not_a_dict",
    }
