"""A wallet process killed (SIGKILL) between gathering the votes for one of its orders and
storing the certificate completes that order at its next operation: the account is not
left locked at the committee on an order nobody will finish. Four real authority nodes."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from fastpay_protocol.committee import CommitteeClient, fetch_committee
from fastpay_protocol.wallet import Wallet
from tests.authorities.nodes import local_committee
from tests.protocol.voucher_fixtures import TOKEN, FakePlatform

ROOT = Path(__file__).resolve().parents[2]
PAYERS = [Account.from_key((0xC4A5000 + i).to_bytes(32, "big")) for i in range(6)]
FUNDED = 100_000_000
PLATFORM_ADDRESS = "0x" + "77" * 20

# issue (or defund) in a child process that dies the instant the committee's votes are in:
# after `certify` returns, before the wallet writes the certificate anywhere. It prints
# the certificate first, so that a test can play someone who applies it meanwhile.
CRASHER = """
import json, os, signal, sys
from fastpay_protocol.committee import CommitteeClient, fetch_committee
from fastpay_protocol.wallet import Wallet
from tests.protocol.voucher_fixtures import TOKEN, FakePlatform

path, url, what = sys.argv[1], sys.argv[2], sys.argv[3]
committee = fetch_committee(url)
wallet = Wallet.open(path, "pw")
client = CommitteeClient(committee, timeout=5)
certify = client.certify

def certify_then_die(signed, **kwargs):
    certificate = certify(signed, **kwargs)
    print(json.dumps(certificate.to_json()), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

client.certify = certify_then_die

class Platform(FakePlatform):
    def offline_account(self):
        return {"platform_address": sys.argv[4]}

if what == "issue":
    wallet.issue(client, Platform(committee), token=TOKEN, amount=2_000_000, validity_s=600)
else:
    wallet.defund(client, Platform(committee), token=TOKEN, amount=1_000_000)
"""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    genesis = [(p.address, TOKEN, FUNDED) for p in PAYERS]
    with local_committee(tmp_path_factory.mktemp("wallet-crash"), genesis=genesis) as nodes:
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
def wallet_path(tmp_path):
    path = str(tmp_path / "wallet.db")
    Wallet.create(path, "pw", account_key=next(_payers).key, n=2**10).close()
    return path


class Platform(FakePlatform):
    def __init__(self, committee):
        super().__init__(committee)
        self.defunds = []

    def offline_account(self):
        return {"platform_address": PLATFORM_ADDRESS}

    def defund(self, *, certificate, idempotency_key):
        self.defunds.append(certificate)
        return {"id": f"t{len(self.defunds)}"}


def _crash(wallet_path, nodes, what) -> dict:
    """Run CRASHER; the certificate it printed before it was killed."""
    process = subprocess.run(
        [sys.executable, "-c", CRASHER, wallet_path, nodes[0].url, what, PLATFORM_ADDRESS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    return json.loads(process.stdout.splitlines()[-1])


def test_a_voucher_whose_certificate_was_lost_in_a_crash_is_completed_at_the_next_issue(
    wallet_path, nodes, committee, client
):
    _crash(wallet_path, nodes, "issue")
    wallet = Wallet.open(wallet_path, "pw")
    # the crash left the account locked at the committee on the voucher's order, and the
    # wallet without its certificate: any other order at that sequence would be refused
    (stuck,) = wallet.vouchers()
    assert stuck.state == "issuing"
    state = client.account_state(wallet.address)
    assert state.pending is not None and state.pending.order.recipient == stuck.address
    assert state.next_sequence == 0

    platform = FakePlatform(committee)
    second = wallet.issue(client, platform, token=TOKEN, amount=1_000_000, validity_s=600)

    vouchers = {v.address: v for v in wallet.vouchers()}
    assert vouchers[stuck.address].state == "active"  # completed and registered
    assert vouchers[second.address].state == "active"
    assert client.account_state(stuck.address).balance(TOKEN) == 2_000_000
    assert client.account_state(second.address).balance(TOKEN) == 1_000_000
    assert client.account_state(wallet.address).next_sequence == 2
    assert len(platform.registered) == 2
    # once: running it again finds nothing to do
    assert wallet.complete_pending(client) == []
    assert client.account_state(wallet.address).balance(TOKEN) == FUNDED - 3_000_000
    wallet.close()


def test_a_defund_certified_before_a_crash_is_kept_and_handed_in(wallet_path, nodes, client):
    _crash(wallet_path, nodes, "defund")
    wallet = Wallet.open(wallet_path, "pw")
    assert wallet.db.execute("SELECT COUNT(*) FROM defunds").fetchone()[0] == 0

    (certificate,) = wallet.complete_pending(client)

    assert (certificate.order.recipient.lower(), certificate.order.amount) == (
        PLATFORM_ADDRESS,
        1_000_000,
    )
    assert client.account_state(PLATFORM_ADDRESS).balance(TOKEN) >= 1_000_000
    platform = Platform(None)
    assert [r.outcome for r in wallet.defund_resume(platform)] == ["done"]
    assert platform.defunds[0]["order"]["sequence"] == certificate.order.sequence
    wallet.close()


def test_an_order_someone_else_confirmed_meanwhile_is_fetched_from_the_committee(
    wallet_path, nodes, committee, client
):
    from fastpay_protocol.messages import Certificate

    printed = _crash(wallet_path, nodes, "issue")
    client.confirm(Certificate.from_json(printed))  # e.g. a relay that saw the votes
    wallet = Wallet.open(wallet_path, "pw")
    assert client.account_state(wallet.address).next_sequence == 1

    (certificate,) = wallet.complete_pending(client, FakePlatform(committee), validity_s=600)

    assert certificate.to_json()["order"] == printed["order"]
    assert [v.state for v in wallet.vouchers()] == ["active"]
    wallet.close()


def test_a_wallet_file_without_the_journal_finds_its_pending_order_at_the_committee(
    wallet_path, nodes, committee, client
):
    _crash(wallet_path, nodes, "issue")
    wallet = Wallet.open(wallet_path, "pw")
    wallet.db.execute("DELETE FROM outgoing")  # as a wallet from before the journal

    (certificate,) = wallet.complete_pending(client, FakePlatform(committee), validity_s=600)

    assert certificate.order.sequence == 0
    assert [v.state for v in wallet.vouchers()] == ["active"]
    assert client.account_state(wallet.address).next_sequence == 1
    wallet.close()
