"""Wallet and terminal against four real authority node processes: issue a voucher,
pay and verify offline with every socket blocked, sync, sweep the remainder."""

import os
import socket
import time

import pytest
from eth_account import Account

from fastpay_protocol import signing
from fastpay_protocol.committee import CommitteeClient, fetch_committee
from fastpay_protocol.offline_api import PlatformError
from fastpay_protocol.pos import Terminal
from fastpay_protocol.voucher import Payment, Refused
from fastpay_protocol.wallet import DEFAULT_SWEEP_MARGIN_S, Wallet, WrongPassphrase
from tests.authorities.nodes import local_committee
from tests.protocol.voucher_fixtures import ISSUER, TOKEN, FakePlatform

PAYERS = [Account.from_key((0xB0B0000 + i).to_bytes(32, "big")) for i in range(10)]
FUNDED = 100_000_000


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    genesis = [(p.address, TOKEN, FUNDED) for p in PAYERS]
    with local_committee(tmp_path_factory.mktemp("voucher-nodes"), genesis=genesis) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def committee(nodes):
    return fetch_committee(nodes[0].url)


@pytest.fixture(scope="module")
def client(committee):
    with CommitteeClient(committee, timeout=5) as client:
        yield client


_payers = iter(PAYERS)


@pytest.fixture
def wallet(tmp_path):
    payer = next(_payers)
    wallet = Wallet.create(
        str(tmp_path / "wallet.db"), "correct horse", account_key=payer.key, n=2**10
    )
    yield wallet
    wallet.close()


@pytest.fixture
def vendor():
    return signing.Signer(os.urandom(32)).address


@pytest.fixture
def terminal(tmp_path, committee, vendor):
    terminal = Terminal.create(
        str(tmp_path / "pos.db"), vendor=vendor, issuer=ISSUER.address, committee=committee
    )
    yield terminal
    terminal.close()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    def block():
        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)

    return block


class CommitteeSync:
    """Stands in for the platform's sync: certifies and confirms each spend."""

    def __init__(self, client):
        self.client = client
        self.calls = 0

    def redemptions_sync(self, payments):
        self.calls += 1
        results = []
        for text in payments:
            payment = Payment.from_text(text)
            try:
                self.client.confirm(self.client.certify(payment.signed_spend()))
                results.append({"id": payment.spend_id, "state": "settled", "reason": ""})
            except Exception as exc:
                results.append({"id": payment.spend_id, "state": "rejected", "reason": str(exc)})
        return results and {"results": results}


def test_issue_pay_offline_sync_and_sweep(client, committee, wallet, terminal, vendor, no_network):
    platform = FakePlatform(committee)
    voucher = wallet.issue(client, platform, token=TOKEN, amount=5_000_000, validity_s=3600)
    assert client.account_state(voucher.address).balance(TOKEN) == 5_000_000
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED - 5_000_000

    no_network()
    payment = wallet.pay(committee, vendor=vendor, amount=2_000_000)
    queued = terminal.accept(payment.to_text())
    assert (queued.amount, queued.state) == (2_000_000, "queued")
    with pytest.raises(Refused) as again:
        terminal.accept(payment.to_text())
    assert again.value.reason == "already_seen"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))


def test_full_flow_settles_the_vendor_and_sweeps_the_rest(
    client, committee, wallet, terminal, vendor, monkeypatch
):
    platform = FakePlatform(committee)
    voucher = wallet.issue(client, platform, token=TOKEN, amount=5_000_000, validity_s=3600)
    with monkeypatch.context() as blocked:
        blocked.setattr(socket, "create_connection", _refuse)
        blocked.setattr(socket.socket, "connect", _refuse)
        terminal.accept(wallet.pay(committee, vendor=vendor, amount=2_000_000).to_text())
    # the remainder waits for the vendor's spend (sequence 0) to be certified
    assert [r.outcome for r in wallet.sweep(client, grace_s=0)] == ["waiting_for_vendor"]
    assert terminal.sync(CommitteeSync(client)) == {"settled": 1}
    assert terminal.payments()[0].state == "settled"
    assert client.account_state(vendor).balance(TOKEN) == 2_000_000
    swept = wallet.sweep(client, grace_s=0)
    assert [(r.outcome, r.amount) for r in swept] == [("swept", 3_000_000)]
    assert client.account_state(voucher.address).balance(TOKEN) == 0
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED - 2_000_000


def test_an_unspent_voucher_is_reclaimed_only_after_its_window_and_grace(client, committee, wallet):
    voucher = wallet.issue(
        client, FakePlatform(committee), token=TOKEN, amount=1_000_000, validity_s=60
    )
    assert [r.outcome for r in wallet.sweep(client, grace_s=600)] == ["too_early"]
    # past the grace period but inside the margin (clocks drift; a sync that reached the
    # platform at the deadline settles first): still too early
    at_grace = voucher.body.not_after + 601
    assert [r.outcome for r in wallet.sweep(client, grace_s=600, now=at_grace)] == ["too_early"]
    later = voucher.body.not_after + 600 + DEFAULT_SWEEP_MARGIN_S + 1
    assert [(r.outcome, r.amount) for r in wallet.sweep(client, grace_s=600, now=later)] == [
        ("swept", 1_000_000)
    ]


def test_the_wallet_sweeps_by_the_platforms_grace_margin_and_clock(client, committee, wallet):
    # the platform's figures (GET /offline/terminal/), not the wallet's 3-day default nor
    # this device's clock, which stays before not_after throughout
    class Platform(FakePlatform):
        now = None

        def terminal_config(self):
            now = time.time() if self.now is None else self.now
            return {"grace_s": 120, "sweep_margin_s": 30, "now": int(now)}

    platform = Platform(committee)
    voucher = wallet.issue(client, platform, token=TOKEN, amount=1_000_000, validity_s=600)
    assert wallet.sweep_after(voucher.body.not_after) == voucher.body.not_after + 150
    assert [r.outcome for r in wallet.sweep(client)] == ["too_early"]
    platform.now = voucher.body.not_after + 125  # past the grace, inside the margin
    wallet.refresh_config(platform)
    assert abs(wallet.platform_now() - platform.now) < 5
    assert [r.outcome for r in wallet.sweep(client)] == ["too_early"]
    platform.now = voucher.body.not_after + 155
    wallet.refresh_config(platform)
    assert [(r.outcome, r.amount) for r in wallet.sweep(client)] == [("swept", 1_000_000)]


def test_a_voucher_the_platform_refuses_is_swept_back_at_once(client, committee, wallet):
    platform = FakePlatform(committee, max_amount=1_000_000)
    with pytest.raises(PlatformError) as refused:
        wallet.issue(client, platform, token=TOKEN, amount=2_000_000, validity_s=60)
    assert refused.value.code == "limit_per_voucher"
    assert [v.state for v in wallet.vouchers()] == ["refused"]
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED
    assert client.account_state(wallet.vouchers()[0].address).balance(TOKEN) == 0


def test_the_wallet_file_needs_the_passphrase(tmp_path, wallet):
    path = wallet.db.execute("PRAGMA database_list").fetchone()[2]
    wallet.close()
    with pytest.raises(WrongPassphrase):
        Wallet.open(path, "wrong")
    assert Wallet.open(path, "correct horse").address == wallet.address


def test_a_terminal_restarted_mid_queue_loses_nothing(
    client, committee, terminal, vendor, tmp_path
):
    wallet = Wallet.create(str(tmp_path / "w2.db"), "pw", account_key=next(_payers).key, n=2**10)
    platform = FakePlatform(committee)
    for _ in range(3):
        wallet.issue(client, platform, token=TOKEN, amount=1_000_000, validity_s=3600)
    texts = [wallet.pay(committee, vendor=vendor, amount=400_000).to_text() for _ in range(3)]
    for text in texts:
        terminal.accept(text)
    path = terminal.path
    terminal.close()  # reboot

    class Flaky(CommitteeSync):
        def redemptions_sync(self, payments):
            raise PlatformError("unreachable", "connection reset mid-sync")

    reopened = Terminal(path)
    with pytest.raises(PlatformError):
        reopened.sync(Flaky(client))
    assert [p.state for p in reopened.payments()] == ["queued"] * 3
    reopened.close()
    again = Terminal(path)
    assert again.sync(CommitteeSync(client)) == {"settled": 3}
    assert again.sync(CommitteeSync(client)) == {}
    assert client.account_state(vendor).balance(TOKEN) == 1_200_000
    again.close()


def _refuse(*args, **kwargs):
    raise OSError("network blocked by the test")


def test_a_voucher_stuck_unregistered_is_registered_later_or_swept_back(client, committee, wallet):
    class Down:
        def voucher_register(self, **kwargs):
            raise PlatformError("unreachable", "no route to host")

    for _ in range(2):
        with pytest.raises(PlatformError):
            wallet.issue(client, Down(), token=TOKEN, amount=1_000_000, validity_s=600)
    assert [v.state for v in wallet.vouchers()] == ["issuing", "issuing"]
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED - 2_000_000
    # the platform answers once, then is down again: the first voucher is registered,
    # the other is swept back at once (no terminal can accept it without a ticket)
    first = wallet.vouchers()[0].address

    class Once(FakePlatform):
        def voucher_register(self, **kwargs):
            if self.registered:
                raise PlatformError("unreachable", "down again")
            return super().voucher_register(**kwargs)

    with pytest.raises(PlatformError):
        wallet.register_pending(client, Once(committee), validity_s=600)
    assert {v.address: v.state for v in wallet.vouchers()}[first] == "active"
    swept = wallet.sweep(client, grace_s=600)
    assert sorted((r.outcome, r.amount) for r in swept) == [("swept", 1_000_000), ("too_early", 0)]
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED - 1_000_000
