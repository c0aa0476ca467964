"""/api/v1/offline/: linking a FastPay address, funding and defunding, against a fake
committee gateway (tests/offline/test_flow.py funds and defunds on real nodes)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct

from authorities import gateway as gateway_module
from fastpay.models import IdempotencyRecord, OutboxEvent
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import AuthorityFailure, NoQuorum
from fastpay_protocol.messages import Certificate, Committee, Member, Vote
from offline.models import FastPayAccount, OfflineTransfer, TransferState
from offline.services.transfers import link_message
from wallets.models import AccountKind, LedgerAccount

PLATFORM = Account.create()
AUTHORITIES = [Account.create() for _ in range(4)]
DOMAIN = td.Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
COMMITTEE = Committee(
    epoch=0,
    chain_id=DOMAIN.chain_id,
    verifying_contract=DOMAIN.verifying_contract,
    redemption_address="0x" + "43" * 20,
    members=tuple(
        Member(name=f"a{i}", address=a.address, stake=10, url=f"http://127.0.0.1:{9000 + i}")
        for i, a in enumerate(AUTHORITIES)
    ),
)


def certificate(order: td.TransferOrder, sender_key, voters=AUTHORITIES[:3]) -> dict:
    votes = tuple(Vote(a.address, td.sign_vote(DOMAIN, order, a.key)) for a in voters)
    return Certificate(order, td.sign_order(DOMAIN, order, sender_key), votes).to_json()


class FakeGateway(gateway_module.Gateway):
    """The real Gateway with the network replaced: certifies with the test authorities'
    keys and records what it confirmed."""

    def __init__(self):
        super().__init__(COMMITTEE, PLATFORM.key, timeout_s=1)
        self.confirmed: list[dict] = []
        self.down = False
        self.refuse: str | None = None  # every authority refuses the order with this code
        self.stall = 0.0  # seconds before the committee answers a confirmation

    def certify_and_confirm(self, order):
        if self.down:
            raise gateway_module.CommitteeUnavailable("no quorum: 2 of 4 answered")
        if self.refuse:
            failures = {
                a.address: AuthorityFailure(a.address, "refused", code=self.refuse, status=409)
                for a in AUTHORITIES
            }
            cause = NoQuorum("no quorum", order=order, failures=failures)
            raise gateway_module.CommitteeUnavailable(str(cause)) from cause
        cert = certificate(order, self.platform_key)
        self.confirmed.append(cert)
        return cert

    def confirm(self, certificate_json):
        time.sleep(self.stall)
        self.confirmed.append(certificate_json)

    def account_state(self, address):
        return {"address": address, "next_sequence": 0, "balances": {}, "pending": None}


@pytest.fixture
def post_fund(django_capture_on_commit_callbacks):
    """POST /offline/fund/ and run its on_commit work (the eager Celery task): tests run
    inside a transaction that never commits."""

    def post(client, amount, key=None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/v1/offline/fund/",
                {"token": "USDT", "amount": amount},
                format="json",
                **headers,
            )

    return post


@pytest.fixture
def fake(monkeypatch):
    fake = FakeGateway()
    monkeypatch.setattr("offline.services.transfers.gateway", lambda: fake)
    return fake


@pytest.fixture
def device():
    return Account.create()


def link(client, user, device):
    signature = device.sign_message(encode_defunct(text=link_message(user, device.address)))
    return client.post(
        "/api/v1/offline/account/",
        {"address": device.address, "signature": "0x" + bytes(signature.signature).hex()},
        format="json",
    )


def available(user, token):
    account = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return account.first().balance


class TestLink:
    def test_a_signature_by_the_address_links_it(self, alice, device, client_for, fake):
        response = link(client_for(alice), alice, device)

        assert response.status_code == 200, response.json()
        assert FastPayAccount.objects.get(user=alice).address == device.address

    @pytest.mark.parametrize("field", ["address", "signature"])
    def test_a_trailing_newline_is_refused_not_trimmed(self, field, alice, device, client_for):
        signature = device.sign_message(encode_defunct(text=link_message(alice, device.address)))
        body = {"address": device.address, "signature": "0x" + bytes(signature.signature).hex()}
        body[field] += "\n"
        response = client_for(alice).post("/api/v1/offline/account/", body, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["param"] == field
        assert not FastPayAccount.objects.filter(user=alice).exists()

    def test_a_signature_by_another_key_is_refused(self, alice, device, client_for, fake):
        other = Account.create()
        signature = other.sign_message(encode_defunct(text=link_message(alice, device.address)))
        response = client_for(alice).post(
            "/api/v1/offline/account/",
            {"address": device.address, "signature": "0x" + bytes(signature.signature).hex()},
            format="json",
        )

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"
        assert not FastPayAccount.objects.exists()

    def test_one_address_belongs_to_one_user(self, alice, bob, device, client_for, fake):
        link(client_for(alice), alice, device)

        response = link(client_for(bob), bob, device)

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "address_taken"


class TestFund:
    def test_funding_moves_online_money_to_the_committee(
        self, alice, usdt, fund, device, client_for, fake, post_fund
    ):
        fund(alice, usdt, 10)
        client = client_for(alice)
        link(client, alice, device)

        response = post_fund(client, "4", key="f1")

        assert response.status_code == 202, response.json()
        transfer = OfflineTransfer.objects.get()
        assert transfer.state == TransferState.DONE  # Celery runs eagerly after commit
        assert transfer.sequence == 0 and transfer.recipient == device.address
        assert available(alice, usdt) == 6_000_000
        order = fake.confirmed[0]["order"]
        assert (order["sender"], order["amount"]) == (PLATFORM.address, 4_000_000)
        assert OutboxEvent.objects.filter(topic="offline.funded").count() == 1

    def test_sequences_follow_each_other_and_a_replay_funds_once(
        self, alice, usdt, fund, device, client_for, fake, post_fund
    ):
        fund(alice, usdt, 10)
        client = client_for(alice)
        link(client, alice, device)
        for key in ["a", "b", "b"]:
            post_fund(client, "1", key=key)

        assert sorted(OfflineTransfer.objects.values_list("sequence", flat=True)) == [0, 1]
        assert available(alice, usdt) == 8_000_000

    def test_no_quorum_keeps_it_pending_with_the_money_reserved(
        self, alice, usdt, fund, device, client_for, fake, post_fund
    ):
        fund(alice, usdt, 10)
        client = client_for(alice)
        link(client, alice, device)
        fake.down = True

        response = post_fund(client, "4")

        assert response.status_code == 202
        transfer = OfflineTransfer.objects.get()
        assert transfer.state == TransferState.PENDING and transfer.attempts == 1
        assert "no quorum" in transfer.last_error
        assert available(alice, usdt) == 6_000_000

        fake.down = False
        from offline.services.transfers import offline_fund_process

        offline_fund_process(transfer_id=transfer.pk)
        transfer.refresh_from_db()
        assert transfer.state == TransferState.DONE

    def test_funding_needs_a_linked_address(self, alice, usdt, fund, client_for, fake):
        fund(alice, usdt, 10)
        response = client_for(alice).post(
            "/api/v1/offline/fund/", {"token": "USDT", "amount": "1"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "no_fastpay_account"
        assert available(alice, usdt) == 10_000_000

    def test_funding_more_than_the_balance_is_refused(
        self, alice, usdt, fund, device, client_for, fake
    ):
        fund(alice, usdt, 1)
        client = client_for(alice)
        link(client, alice, device)

        response = client.post(
            "/api/v1/offline/fund/", {"token": "USDT", "amount": "2"}, format="json"
        )

        assert response.status_code == 402
        assert not OfflineTransfer.objects.exists()


class TestDefund:
    def order(self, device, usdt, amount=3_000_000, sequence=0):
        return td.TransferOrder(
            device.address, PLATFORM.address, usdt.contract_address, amount, sequence, 0
        )

    def test_a_certificate_to_the_platform_credits_once(
        self, alice, usdt, device, client_for, fake
    ):
        client = client_for(alice)
        link(client, alice, device)
        cert = certificate(self.order(device, usdt), device.key)

        first = client.post("/api/v1/offline/defund/", {"certificate": cert}, format="json")
        second = client.post("/api/v1/offline/defund/", {"certificate": cert}, format="json")

        assert first.status_code == second.status_code == 201
        assert first.json()["id"] == second.json()["id"]
        assert available(alice, usdt) == 3_000_000
        assert fake.confirmed == [cert]

    def test_a_certificate_below_quorum_is_refused(self, alice, usdt, device, client_for, fake):
        client = client_for(alice)
        link(client, alice, device)
        cert = certificate(self.order(device, usdt), device.key, voters=AUTHORITIES[:2])

        response = client.post("/api/v1/offline/defund/", {"certificate": cert}, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_certificate"
        assert not OfflineTransfer.objects.exists()

    def test_someone_elses_certificate_is_refused(self, alice, bob, usdt, device, client_for, fake):
        link(client_for(alice), alice, device)
        bobs_device = Account.create()
        link(client_for(bob), bob, bobs_device)
        cert = certificate(self.order(device, usdt), device.key)

        response = client_for(bob).post(
            "/api/v1/offline/defund/", {"certificate": cert}, format="json"
        )

        assert response.status_code == 400
        assert "not your FastPay address" in response.json()["error"]["message"]

    def test_a_tampered_amount_is_refused(self, alice, usdt, device, client_for, fake):
        client = client_for(alice)
        link(client, alice, device)
        cert = certificate(self.order(device, usdt), device.key)
        cert["order"]["amount"] += 1

        response = client.post("/api/v1/offline/defund/", {"certificate": cert}, format="json")

        assert response.status_code == 400
        assert available_or_zero(alice, usdt) == 0


def available_or_zero(user, token):
    account = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return account.first().balance if account.exists() else 0


def test_api_keys_cannot_move_offline_money(alice, usdt, fake):
    from rest_framework.test import APIClient

    from fastpay.api_keys import api_key_create

    _, raw = api_key_create(user=alice, name="k", scopes=["payments:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.post("/api/v1/offline/fund/", {"token": "USDT", "amount": "1"}, format="json")

    assert response.status_code == 403


def test_without_a_committee_funding_is_a_503_not_a_500(
    alice, usdt, fund, device, client_for, settings, tmp_path
):
    from authorities.gateway import _load

    settings.FASTPAY_COMMITTEE_FILE = str(tmp_path / "missing.json")
    _load.cache_clear()
    fund(alice, usdt, 5)
    client = client_for(alice)
    link(client, alice, device)

    for _ in range(2):  # the 503 is not stored: the retry runs again (and fails again)
        response = client.post(
            "/api/v1/offline/fund/",
            {"token": "USDT", "amount": "1"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="f-503",
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "committee_unavailable"
    assert available(alice, usdt) == 5_000_000
    assert not IdempotencyRecord.objects.exists()
    assert not OfflineTransfer.objects.exists()


def test_operators_see_fastpay_accounts_and_transfers_in_the_offline_admin(
    alice, usdt, fund, fake, device, client_for, post_fund, operator
):
    from django.test import Client

    fund(alice, usdt, 5)
    client = client_for(alice)
    link(client, alice, device)
    post_fund(client, "1.5")
    staff = Client()
    staff.force_login(operator)

    for url, shown in [
        ("/admin/offline/fastpayaccount/", device.address),
        ("/admin/offline/offlinetransfer/", "1500000"),
    ]:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert shown in response.content.decode(), url


class TestFundRetries:
    """A FUND transfer left PENDING by an outage is retried with backoff by the beat task
    until it settles; a permanent refusal stops it with its reason; admin retries now."""

    @pytest.fixture
    def pending(self, alice, usdt, fund, device, client_for, fake, post_fund):
        fund(alice, usdt, 10)
        client = client_for(alice)
        link(client, alice, device)
        fake.down = True
        post_fund(client, "4")
        return OfflineTransfer.objects.get()

    def test_a_failed_attempt_schedules_the_next_with_exponential_backoff(self, pending, fake):
        from offline.services.transfers import FUND_RETRY_BASE_S, offline_transfers_retry

        first_due = pending.next_attempt_at
        assert pending.attempts == 1 and first_due is not None
        assert timedelta(seconds=FUND_RETRY_BASE_S) <= first_due - pending.updated_at
        assert offline_transfers_retry()["pending"] == 0  # not due yet: not tried
        pending.refresh_from_db()
        assert pending.attempts == 1

        tried_at = timezone.now()
        counts = offline_transfers_retry(now=first_due + timedelta(seconds=1))

        pending.refresh_from_db()
        assert counts["pending"] == 1 and pending.attempts == 2
        delay = pending.next_attempt_at - tried_at
        assert timedelta(seconds=2 * FUND_RETRY_BASE_S) <= delay < timedelta(seconds=23)

    def test_the_beat_task_settles_it_once_the_committee_is_back(self, pending, fake, alice, usdt):
        from offline.tasks import offline_transfers_retry_task

        fake.down = False
        later = pending.next_attempt_at + timedelta(seconds=1)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("offline.services.fund_certify.timezone.now", lambda: later)
            counts = offline_transfers_retry_task()

        pending.refresh_from_db()
        assert counts["done"] == 1
        assert pending.state == TransferState.DONE and pending.next_attempt_at is None
        assert pending.certificate["order"]["amount"] == 4_000_000
        assert available(alice, usdt) == 6_000_000

    def test_a_permanent_refusal_stops_it_with_the_reason_and_an_event(self, pending, fake):
        from offline.services.transfers import offline_transfers_retry

        fake.down, fake.refuse = False, "invalid_signature"
        offline_transfers_retry(now=pending.next_attempt_at + timedelta(seconds=1))

        pending.refresh_from_db()
        assert pending.state == TransferState.FAILED and pending.next_attempt_at is None
        assert "refuse the order" in pending.last_error
        assert "invalid_signature" in pending.last_error
        event = OutboxEvent.objects.get(topic="offline.fund_failed")
        assert event.payload["reason"] == pending.last_error
        assert offline_transfers_retry(now=timezone.now() + timedelta(days=1))["failed"] == 0

    def test_an_operator_retries_now_from_admin_even_a_failed_one(self, pending, fake, operator):
        from django.test import Client

        fake.down, fake.refuse = False, "invalid_signature"
        from offline.services.transfers import offline_transfers_retry

        offline_transfers_retry(now=pending.next_attempt_at + timedelta(seconds=1))
        fake.refuse = None  # the operator fixed the committee file
        staff = Client()
        staff.force_login(operator)

        response = staff.post(
            "/admin/offline/offlinetransfer/",
            {"action": "retry_now", "_selected_action": [str(pending.pk)]},
            follow=True,
        )

        assert response.status_code == 200
        assert "1 done" in response.content.decode()
        pending.refresh_from_db()
        assert pending.state == TransferState.DONE

    def test_a_crash_after_the_fund_committed_does_not_fund_twice_on_retry(
        self, alice, usdt, fund, device, client_for, fake, post_fund, monkeypatch
    ):
        """The fund view runs outside any transaction (it may call the committee): the
        transfer commits before the response is stored. If the process dies in between,
        the retry with the same key finds the transfer by its key and answers with it."""
        from fastpay import idempotency

        fund(alice, usdt, 10)
        client = client_for(alice)
        link(client, alice, device)
        real_store = idempotency._store

        def crash(record, response):
            raise SystemExit("killed before the response was stored")

        monkeypatch.setattr(idempotency, "_store", crash)
        with pytest.raises(SystemExit):
            post_fund(client, "4", key="f-crash")
        monkeypatch.setattr(idempotency, "_store", real_store)
        assert OfflineTransfer.objects.count() == 1  # the effect was committed

        retry = post_fund(client, "4", key="f-crash")

        assert retry.status_code == 202
        assert retry.json()["id"] == str(OfflineTransfer.objects.get().pk)
        assert available(alice, usdt) == 6_000_000
        assert IdempotencyRecord.objects.get(key="f-crash").response_status == 202
