"""FUND across several platform FastPay accounts, with a fake committee gateway: FUNDs
spread over the accounts (derived from the platform key), a database behind the
committee pauses funding on that account instead of reusing a sequence, retries are
bounded (STUCK, an event), and a stuck FUND is voided by replacement (money back online)
unless the original can still be certified."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from eth_account import Account

from authorities import gateway as gateway_module
from authorities.gateway import platform_account_key
from fastpay.models import OutboxEvent
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import AuthorityFailure, ConflictingOrder, NoQuorum
from fastpay_protocol.messages import Certificate, PendingOrder, Vote
from offline.errors import VoidRefused
from offline.models import OfflineTransfer, PlatformAccount, TransferState
from offline.services.fund_void import offline_fund_void
from offline.services.transfers import offline_fund_process, offline_transfers_retry
from tests.offline.test_transfers_api import AUTHORITIES, COMMITTEE, DOMAIN, available, link
from wallets.models import AccountKind, LedgerAccount

PLATFORM = Account.create()


class AccountsGateway(gateway_module.Gateway):
    """The real Gateway (four platform accounts) with the network replaced."""

    def __init__(self):
        super().__init__(COMMITTEE, PLATFORM.key, timeout_s=1, accounts=4)
        self.confirmed: list[dict] = []
        self.down = False
        self.conflict = False  # authorities hold another order for the sequence
        self.committee_next: dict[str, int] = {}  # address -> the committee's next sequence
        self.pending: dict[str, td.TransferOrder] = {}  # address -> an order voted on
        self.answering = len(AUTHORITIES)
        self.applied: dict[tuple[str, int], dict] = {}

    def certify_and_confirm(self, order):
        if self.down:
            raise gateway_module.CommitteeUnavailable("no quorum: 2 of 4 answered")
        if self.conflict:
            held = self.pending.get(order.sender, order)
            conflicts = {
                a.address: PendingOrder(held, Vote(a.address, td.sign_vote(DOMAIN, held, a.key)))
                for a in AUTHORITIES
            }
            cause = ConflictingOrder("held", conflicts=conflicts, order=order)
            raise gateway_module.CommitteeUnavailable(str(cause)) from cause
        key = self.key_of(order.sender)
        votes = tuple(Vote(a.address, td.sign_vote(DOMAIN, order, a.key)) for a in AUTHORITIES[:3])
        cert = Certificate(order, td.sign_order(DOMAIN, order, key), votes).to_json()
        self.confirmed.append(cert)
        self.applied[(order.sender, order.sequence)] = cert
        return cert

    def applied_certificate(self, sender, sequence):
        return self.applied.get((sender, sequence))

    def account_state(self, address):
        pending = self.pending.get(address)
        view = {
            "address": address,
            "next_sequence": self.committee_next.get(address, 0),
            "balances": {},
            "pending": None
            if pending is None
            else {"order": pending.as_message(), "vote": {"authority": "", "signature": ""}},
        }
        views = {a.address: view for a in AUTHORITIES[: self.answering]}
        return {**view, "views": views}


@pytest.fixture
def gw(monkeypatch):
    from offline.services import platform_accounts

    gateway = AccountsGateway()
    monkeypatch.setattr("offline.services.transfers.gateway", lambda: gateway)
    platform_accounts._checked.clear()
    yield gateway
    platform_accounts._checked.clear()


@pytest.fixture
def funded(alice, usdt, fund, client_for, django_capture_on_commit_callbacks, gw):
    """alice with 100 online and a linked FastPay address; make(n) posts n FUNDs of 1."""
    device = Account.create()
    fund(alice, usdt, 100)
    client = client_for(alice)
    link(client, alice, device)

    def make(count=1, amount="1"):
        for _ in range(count):
            with django_capture_on_commit_callbacks(execute=True):  # the eager Celery task
                response = client.post(
                    "/api/v1/offline/fund/", {"token": "USDT", "amount": amount}, format="json"
                )
            assert response.status_code in (202, 503), response.json()
        return response

    return make


def clearing(usdt):
    return LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.CLEARING).balance


def test_the_accounts_are_derived_from_the_platform_key_and_documented(gw):
    keys = [platform_account_key(PLATFORM.key, i) for i in range(4)]

    assert keys[0] == PLATFORM.key  # account 0 is the platform key itself
    assert len(set(keys)) == 4
    assert gw.platform_addresses() == [Account.from_key(k).address for k in keys]
    assert gw.platform_address == PLATFORM.address
    assert platform_account_key(PLATFORM.key, 3) == keys[3]  # deterministic


def test_funds_are_spread_over_the_accounts(funded, gw):
    gw.down = True  # they stay pending: each FUND goes to the least busy account
    funded(4)

    senders = sorted(OfflineTransfer.objects.values_list("sender", "sequence"))
    assert sorted(s for s, _ in senders) == sorted(gw.platform_addresses())
    assert {sequence for _, sequence in senders} == {0}

    gw.down = False
    offline_transfers_retry(now=timezone.now() + timedelta(hours=1))
    assert set(OfflineTransfer.objects.values_list("state", flat=True)) == {TransferState.DONE}


def test_a_stuck_fund_blocks_only_its_own_account(funded, gw, settings):
    settings.FASTPAY_FUND_MAX_ATTEMPTS = 1
    gw.down = True
    funded(1)
    stuck = OfflineTransfer.objects.get()
    assert stuck.state == TransferState.STUCK

    settings.FASTPAY_FUND_MAX_ATTEMPTS = 20
    funded(6)  # still no quorum: they stay pending, spread over the other accounts

    used = set(OfflineTransfer.objects.exclude(pk=stuck.pk).values_list("sender", flat=True))
    assert stuck.sender not in used and len(used) == 3
    assert OfflineTransfer.objects.filter(sender=stuck.sender).count() == 1


def test_retries_are_bounded_stuck_with_an_event_and_never_retried_by_the_beat(
    funded, gw, settings, caplog
):
    settings.FASTPAY_FUND_MAX_ATTEMPTS = 3
    gw.down = True
    funded(1)
    transfer = OfflineTransfer.objects.get()
    for hours in (1, 2):
        offline_transfers_retry(now=timezone.now() + timedelta(hours=hours))

    transfer.refresh_from_db()
    assert transfer.state == TransferState.STUCK and transfer.attempts == 3
    assert "retries exhausted" in transfer.last_error
    event = OutboxEvent.objects.get(topic="offline.fund_stuck")
    assert event.payload["sequence"] == transfer.sequence
    assert any("STUCK" in r.getMessage().upper() for r in caplog.records if r.levelname == "ERROR")

    gw.down = False
    offline_transfers_retry(now=timezone.now() + timedelta(days=1))
    transfer.refresh_from_db()
    assert transfer.state == TransferState.STUCK  # only an operator moves it now


def test_a_fund_too_old_is_stuck_even_with_attempts_left(funded, gw, settings):
    settings.FASTPAY_FUND_MAX_AGE_S = 60
    gw.down = True
    funded(1)
    transfer = OfflineTransfer.objects.get()
    OfflineTransfer.objects.filter(pk=transfer.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    offline_transfers_retry(now=timezone.now() + timedelta(hours=1))

    transfer.refresh_from_db()
    assert transfer.state == TransferState.STUCK and transfer.attempts == 2


def test_a_database_behind_the_committee_pauses_that_account_instead_of_reusing_a_sequence(
    funded, gw
):
    """A restored backup: account 0's rows say next_sequence 0, the committee is at 5."""
    first = gw.platform_addresses()[0]
    gw.committee_next[first] = 5

    funded(4)

    account = PlatformAccount.objects.get(address=first)
    assert account.funding_paused_at is not None and "below the committee's 5" in (
        account.paused_reason
    )
    assert not OfflineTransfer.objects.filter(sender=first).exists()
    assert OfflineTransfer.objects.count() == 4  # the other three accounts took them
    assert (
        OutboxEvent.objects.get(topic="offline.funding_paused").payload["committee_sequence"] == 5
    )


def test_a_pending_vote_at_the_committee_counts_as_a_used_sequence(funded, gw):
    first = gw.platform_addresses()[0]
    gw.pending[first] = td.TransferOrder(first, "0x" + "11" * 20, "0x" + "22" * 20, 5, 0, 0)

    funded(1)

    assert PlatformAccount.objects.get(address=first).funding_paused_at is not None
    assert OfflineTransfer.objects.get().sender != first


def test_with_every_account_paused_funding_is_a_503_and_nothing_moves(funded, gw, alice, usdt):
    for address in gw.platform_addresses():
        gw.committee_next[address] = 1

    response = funded(1)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "funding_paused"
    assert available(alice, usdt) == 100_000_000
    assert not OfflineTransfer.objects.exists()


def test_an_operator_resumes_a_paused_account_at_the_committee_sequence(funded, gw):
    first = gw.platform_addresses()[0]
    gw.committee_next[first] = 5
    funded(1)
    call_command("platform_accounts", "--resume", first, "--next-sequence", "5")

    account = PlatformAccount.objects.get(address=first)
    assert account.funding_paused_at is None and account.next_sequence == 5
    gw.committee_next = {}
    gw.down = True  # keep them pending: the least busy account (account 0) is next
    funded(1)
    assert OfflineTransfer.objects.filter(sender=first, sequence=5).exists()


def test_a_first_check_without_a_quorum_refuses_to_reserve(funded, gw, alice, usdt):
    gw.answering = 2  # two of four authorities answer the account query

    response = funded(1)

    assert response.status_code == 503
    assert available(alice, usdt) == 100_000_000


def test_a_fund_the_committee_applied_before_it_was_recorded_is_done(funded, gw):
    """A crash between the certificate and its row: the re-sent order is behind the
    committee (sequence_mismatch); the committee's certificate of it completes the FUND."""
    gw.down = True
    funded(1)
    transfer = OfflineTransfer.objects.get()
    order = gw.order(
        sender=transfer.sender,
        recipient=transfer.recipient,
        token=transfer.token.contract_address,
        amount=transfer.amount,
        sequence=transfer.sequence,
        epoch=transfer.epoch,
    )
    gw.down = False
    applied = gw.certify_and_confirm(order)  # what the crashed process did
    failures = {
        a.address: AuthorityFailure(
            a.address, "refused", "", "sequence_mismatch", 409, {"next_sequence": 1}
        )
        for a in AUTHORITIES
    }

    def behind(order):
        cause = NoQuorum("no quorum", order=order, failures=failures)
        raise gateway_module.CommitteeUnavailable(str(cause)) from cause

    gw.certify_and_confirm = behind
    offline_fund_process(transfer_id=transfer.pk)

    transfer.refresh_from_db()
    assert transfer.state == TransferState.DONE and transfer.certificate == applied


class TestVoidByReplacement:
    @pytest.fixture
    def stuck(self, funded, gw, settings):
        settings.FASTPAY_FUND_MAX_ATTEMPTS = 1
        gw.down = True
        funded(1, amount="4")
        gw.down = False
        transfer = OfflineTransfer.objects.get()
        assert transfer.state == TransferState.STUCK
        return transfer

    def test_it_certifies_another_order_at_the_sequence_then_gives_the_money_back(
        self, stuck, gw, alice, usdt
    ):
        before = clearing(usdt)

        voided = offline_fund_void(transfer_id=stuck.pk)

        assert voided.state == TransferState.VOIDED and voided.certificate is None
        replacement = voided.void_certificate["order"]
        assert (replacement["sender"], replacement["recipient"]) == (stuck.sender, stuck.sender)
        assert (replacement["sequence"], replacement["amount"]) == (stuck.sequence, 1)
        assert available(alice, usdt) == 100_000_000
        assert clearing(usdt) == before - 4_000_000
        event = OutboxEvent.objects.get(topic="offline.fund_voided")
        assert event.payload["amount_units"] == 4_000_000
        # the original is never sent again
        offline_transfers_retry(now=timezone.now() + timedelta(days=1))
        assert [c["order"]["recipient"] for c in gw.confirmed] == [stuck.sender]

    def test_voiding_twice_gives_the_money_back_once(self, stuck, alice, usdt):
        offline_fund_void(transfer_id=stuck.pk)
        with pytest.raises(VoidRefused):
            offline_fund_void(transfer_id=stuck.pk)
        assert available(alice, usdt) == 100_000_000

    def test_an_interrupted_void_finishes_with_the_replacement_found(self, stuck, gw, alice, usdt):
        replacement = gw.order(
            sender=stuck.sender,
            recipient=stuck.sender,
            token=stuck.token.contract_address,
            amount=1,
            sequence=stuck.sequence,
            epoch=0,
        )
        cert = gw.certify_and_confirm(replacement)  # certified, then the process died
        gw.down = True  # no new certification needed

        voided = offline_fund_void(transfer_id=stuck.pk)

        assert voided.state == TransferState.VOIDED and voided.void_certificate == cert
        assert available(alice, usdt) == 100_000_000

    def test_it_is_refused_while_an_authority_holds_a_vote_for_the_original(
        self, stuck, gw, alice, usdt
    ):
        gw.pending[stuck.sender] = td.TransferOrder(
            stuck.sender,
            stuck.recipient,
            stuck.token.contract_address,
            stuck.amount,
            stuck.sequence,
            stuck.epoch,
        )

        with pytest.raises(VoidRefused) as refused:
            offline_fund_void(transfer_id=stuck.pk)

        assert "retry the FUND instead" in refused.value.message
        assert gw.confirmed == []  # no replacement was signed
        assert available(alice, usdt) == 96_000_000
        stuck.refresh_from_db()
        assert stuck.state == TransferState.STUCK

    def test_it_is_refused_when_an_authority_does_not_answer(self, stuck, gw):
        gw.answering = 3
        with pytest.raises(VoidRefused) as refused:
            offline_fund_void(transfer_id=stuck.pk)
        assert "did not answer" in refused.value.message

    def test_it_is_refused_when_the_replacement_meets_the_locked_original(self, stuck, gw):
        gw.conflict = True
        with pytest.raises(VoidRefused) as refused:
            offline_fund_void(transfer_id=stuck.pk)
        assert "locked at authorities" in refused.value.message

    def test_a_fund_certified_after_all_is_recorded_done_and_not_voided(
        self, stuck, gw, alice, usdt
    ):
        gw.applied[(stuck.sender, stuck.sequence)] = gw.certify_and_confirm(
            gw.order(
                sender=stuck.sender,
                recipient=stuck.recipient,
                token=stuck.token.contract_address,
                amount=stuck.amount,
                sequence=stuck.sequence,
                epoch=stuck.epoch,
            )
        )

        with pytest.raises(VoidRefused) as refused:
            offline_fund_void(transfer_id=stuck.pk)

        assert "recorded done" in refused.value.message
        stuck.refresh_from_db()
        assert stuck.state == TransferState.DONE
        assert available(alice, usdt) == 96_000_000

    def test_staff_void_it_from_admin_and_the_command(self, stuck, operator, alice, usdt):
        from django.contrib.auth.models import Permission
        from django.test import Client

        operator.user_permissions.add(Permission.objects.get(codename="void_fund"))
        staff = Client()
        staff.force_login(operator)
        response = staff.post(
            "/admin/offline/offlinetransfer/",
            {"action": "void_by_replacement", "_selected_action": [str(stuck.pk)]},
            follow=True,
        )
        assert response.status_code == 200
        assert "Voided 1 item" in response.content.decode()
        assert available(alice, usdt) == 100_000_000
        with pytest.raises(Exception, match="some transfers were not voided"):
            call_command("offline_fund_void", str(stuck.pk))  # already voided: refused
