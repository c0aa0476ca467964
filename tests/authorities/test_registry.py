"""The platform's committee registry, node health, and equivocation evidence."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from eth_account import Account

from authorities.models import CommitteeMember, EquivocationEvidence, MemberStatus
from authorities.services.committee import committee_health_check, committee_sync
from authorities.services.evidence import NotEquivocation, evidence_record
from fastpay.models import OutboxEvent
from fastpay_protocol.typed_data import Domain, TransferOrder, sign_vote

pytestmark = pytest.mark.django_db

DOMAIN = Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
KEYS = [Account.create() for _ in range(4)]


def members(urls=None):
    urls = urls or [f"http://127.0.0.1:{9100 + i}" for i in range(4)]
    return [
        {"name": f"a{i}", "address": k.address, "stake_wei": str(10**19), "url": url}
        for i, (k, url) in enumerate(zip(KEYS, urls, strict=True))
    ]


def test_sync_creates_members_and_removes_the_unlisted():
    committee_sync(epoch=1, members=members())
    committee_sync(epoch=1, members=members()[:3])

    statuses = dict(CommitteeMember.objects.values_list("name", "status"))
    assert statuses == {"a0": "active", "a1": "active", "a2": "active", "a3": "removed"}
    assert CommitteeMember.objects.get(name="a0").stake == 10**19
    assert OutboxEvent.objects.filter(topic="committee.synced").count() == 2


class FakeNode(BaseHTTPRequestHandler):
    sequence = 0

    def do_GET(self):
        if self.path.endswith("/health"):
            body = {"status": "ok"}
        else:
            body = {"next_sequence": self.server.sequence}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def two_fake_nodes():
    servers = []
    for sequence in (5, 3):
        server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNode)
        server.sequence = sequence
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    for server in servers:
        server.shutdown()


def test_health_records_reachability_and_lag(two_fake_nodes):
    dead = "http://127.0.0.1:9"  # discard port: nothing answers
    urls = [*two_fake_nodes, dead, dead]
    committee_sync(epoch=0, members=members(urls))

    committee_health_check(platform_address=KEYS[0].address)

    rows = {m.name: m for m in CommitteeMember.objects.all()}
    assert (rows["a0"].reachable, rows["a0"].lag) == (True, 0)
    assert (rows["a1"].reachable, rows["a1"].lag) == (True, 2)
    assert rows["a2"].reachable is False and rows["a2"].last_error
    metrics = Client().get("/metrics").content.decode()
    assert f'fastpay_authority_up{{address="{KEYS[2].address}",name="a2"}} 0.0' in metrics
    assert f'fastpay_authority_lag{{address="{KEYS[1].address}",name="a1"}} 2.0' in metrics


def order(amount, sequence=0):
    sender = KEYS[3].address
    return TransferOrder(sender, KEYS[2].address, "0x" + "11" * 20, amount, sequence, 0)


def test_two_votes_for_different_orders_are_evidence_once():
    a, b = order(5), order(6)
    key = KEYS[0].key
    for _ in range(2):
        evidence = evidence_record(
            domain=DOMAIN,
            first=a.as_message(),
            first_signature=sign_vote(DOMAIN, a, key),
            second=b.as_message(),
            second_signature=sign_vote(DOMAIN, b, key),
        )
    assert evidence.authority == KEYS[0].address
    assert EquivocationEvidence.objects.count() == 1
    assert OutboxEvent.objects.filter(topic="authority.equivocated").count() == 1


@pytest.mark.parametrize(
    ("second", "signer"),
    [(order(5), 0), (order(6, sequence=1), 0), (order(6), 1)],
    ids=["same order", "other sequence", "other authority"],
)
def test_anything_else_is_not_evidence(second, signer):
    first = order(5)
    with pytest.raises(NotEquivocation):
        evidence_record(
            domain=DOMAIN,
            first=first.as_message(),
            first_signature=sign_vote(DOMAIN, first, KEYS[0].key),
            second=second.as_message(),
            second_signature=sign_vote(DOMAIN, second, KEYS[signer].key),
        )
    assert not EquivocationEvidence.objects.exists()


def test_the_admin_shows_the_committee(operator):
    committee_sync(epoch=0, members=members())
    client = Client()
    client.force_login(operator)
    for url in [
        "/admin/authorities/committeemember/",
        "/admin/authorities/equivocationevidence/",
    ]:
        assert client.get(url).status_code == 200, url
    assert MemberStatus.ACTIVE == "active"


def test_the_sync_command_explains_a_missing_file(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--file: no committee file"):
        call_command("committee_sync", file=str(tmp_path / "nope.json"))


def test_the_sync_command_loads_a_committee_file(tmp_path):
    from django.core.management import call_command

    path = tmp_path / "committee.json"
    path.write_text(
        json.dumps(
            {
                "epoch": 3,
                "chain_id": 31337,
                "verifying_contract": "0x" + "42" * 20,
                "redemption_address": "0x" + "43" * 20,
                "members": [{**m, "stake": int(m.pop("stake_wei"))} for m in members()],
            }
        )
    )

    call_command("committee_sync", file=str(path))

    assert CommitteeMember.objects.filter(epoch=3).count() == 4
