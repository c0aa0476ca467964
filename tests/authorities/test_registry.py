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
        evidence, _created = evidence_record(
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


def _votes(a, b, key=None):
    key = key or KEYS[0].key
    return {
        "domain": DOMAIN,
        "first": a.as_message(),
        "first_signature": sign_vote(DOMAIN, a, key),
        "second": b.as_message(),
        "second_signature": sign_vote(DOMAIN, b, key),
    }


def test_evidence_is_keyed_on_sender_and_sequence_across_epochs():
    a = order(5)
    b = TransferOrder(a.sender, a.recipient, a.token, 6, a.sequence, 1)  # epoch 1
    moved = TransferOrder(a.sender, a.recipient, a.token, 5, a.sequence, 1)  # a, re-epoched
    with pytest.raises(NotEquivocation):  # the same payment in the next epoch: no evidence
        evidence_record(**_votes(a, moved))

    evidence, created = evidence_record(**_votes(a, b))
    again, created_again = evidence_record(**_votes(a, order(7)))  # another pair, same key

    assert created and not created_again
    assert again.pk == evidence.pk
    assert (evidence.epoch, evidence.second_order["epoch"]) == (0, 1)
    payload = OutboxEvent.objects.get(topic="authority.equivocated").payload
    assert (payload["epoch"], payload["second_epoch"]) == (0, 1)


def test_a_forged_vote_is_not_evidence():
    a, b = order(5), order(6)
    votes = _votes(a, b)
    votes["second_signature"] = b"\x01" * 65
    with pytest.raises(NotEquivocation):
        evidence_record(**votes)
    assert not EquivocationEvidence.objects.exists()


@pytest.fixture
def fake_chain(monkeypatch):
    from authorities import chain

    calls = []

    def report(*args, authority, sender_key):
        calls.append(authority)
        outcome = fake_chain_outcome.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    fake_chain_outcome = []
    monkeypatch.setattr(chain, "report_equivocation", report)
    return calls, fake_chain_outcome


def test_submission_is_once_and_an_authority_slashed_before_is_recorded_as_such(fake_chain):
    from authorities import chain
    from authorities.services.evidence import evidence_submit

    calls, outcomes = fake_chain
    committee_sync(epoch=0, members=members())
    evidence, _ = evidence_record(**_votes(order(5), order(6)))
    outcomes += [chain.ChainUnavailable("no chain"), "0x" + "ab" * 32]

    with pytest.raises(chain.ChainUnavailable):
        evidence_submit(evidence_id=evidence.pk, sender_key=b"\x01" * 32)
    evidence.refresh_from_db()
    assert (evidence.status, evidence.error) == ("new", "no chain")  # retried later
    done = evidence_submit(evidence_id=evidence.pk, sender_key=b"\x01" * 32)
    again = evidence_submit(evidence_id=evidence.pk, sender_key=b"\x01" * 32)

    assert (done.status, done.tx_hash) == ("submitted", "0x" + "ab" * 32)
    assert again.tx_hash == done.tx_hash and len(calls) == 2  # not sent a third time
    assert CommitteeMember.objects.get(address=KEYS[0].address).status == MemberStatus.SLASHED
    assert OutboxEvent.objects.filter(topic="authority.slashed").count() == 1

    other, _ = evidence_record(**_votes(order(5, sequence=3), order(6, sequence=3)))
    outcomes.append(chain.AlreadySlashed("already slashed"))
    result = evidence_submit(evidence_id=other.pk, sender_key=b"\x01" * 32)
    assert (result.status, result.error) == ("already_slashed", "already slashed")
    assert OutboxEvent.objects.filter(topic="authority.slashed").count() == 1


def test_evidence_being_submitted_elsewhere_is_left_alone_unless_forced(fake_chain):
    from authorities.models import EvidenceStatus
    from authorities.services.evidence import evidence_submit

    calls, outcomes = fake_chain
    evidence, _ = evidence_record(**_votes(order(5), order(6)))
    EquivocationEvidence.objects.filter(pk=evidence.pk).update(status=EvidenceStatus.SUBMITTING)

    assert evidence_submit(evidence_id=evidence.pk, sender_key=b"\x01" * 32).status == (
        "submitting"
    )
    assert calls == []
    outcomes.append("0x" + "cd" * 32)
    forced = evidence_submit(evidence_id=evidence.pk, sender_key=b"\x01" * 32, force=True)
    assert forced.status == "submitted" and len(calls) == 1


@pytest.mark.parametrize("auto", [True, False])
def test_found_votes_are_queued_for_slashing_only_with_the_switch_on(
    auto, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from authorities import tasks
    from authorities.services.evidence import evidence_from_votes
    from fastpay_protocol.committee import VoteWatch

    settings.FASTPAY_SLASHING_AUTO = auto
    queued = []
    monkeypatch.setattr(tasks.evidence_submit_task, "delay", queued.append)
    found = []
    watch = VoteWatch(on_equivocation=found.append)
    a, b = order(5), order(6)
    watch.observe(KEYS[0].address, a, sign_vote(DOMAIN, a, KEYS[0].key))
    watch.observe(KEYS[0].address, b, sign_vote(DOMAIN, b, KEYS[0].key))

    with django_capture_on_commit_callbacks(execute=True):
        evidence, created = evidence_from_votes(found[0], domain=DOMAIN)

    assert created and evidence.authority == KEYS[0].address
    assert queued == ([evidence.pk] if auto else [])


def test_pending_evidence_is_submitted_by_the_beat_only_with_the_switch_on(
    fake_chain, settings, monkeypatch
):
    from authorities import chain
    from authorities.tasks import evidence_submit_pending_task

    calls, outcomes = fake_chain
    monkeypatch.setattr(chain, "chain_sender_key", lambda: b"\x01" * 32)
    evidence_record(**_votes(order(5), order(6)))

    settings.FASTPAY_SLASHING_AUTO = False
    assert evidence_submit_pending_task() == 0 and calls == []
    settings.FASTPAY_SLASHING_AUTO = True
    outcomes.append("0x" + "ef" * 32)
    assert evidence_submit_pending_task() == 1
    assert evidence_submit_pending_task() == 0 and len(calls) == 1


def test_the_metrics_count_evidence_by_status():
    evidence_record(**_votes(order(5), order(6)))
    metrics = Client().get("/metrics").content.decode()
    assert 'fastpay_equivocation_evidence{status="new"} 1.0' in metrics
    assert 'fastpay_equivocation_evidence{status="submitted"} 0.0' in metrics


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_recorder_records_what_the_watch_finds_off_the_callers_thread(settings):
    from authorities.services.evidence import EvidenceRecorder
    from fastpay_protocol.committee import VoteWatch

    settings.FASTPAY_SLASHING_AUTO = False
    recorder = EvidenceRecorder(lambda epoch: DOMAIN)
    watch = VoteWatch(on_equivocation=recorder)
    a, b = order(5), order(6)
    watch.observe(KEYS[1].address, a, sign_vote(DOMAIN, a, KEYS[1].key))
    watch.observe(KEYS[1].address, b, sign_vote(DOMAIN, b, KEYS[1].key))
    watch.observe(KEYS[1].address, order(7), sign_vote(DOMAIN, order(7), KEYS[1].key))

    assert recorder.wait_idle(10)
    evidence = EquivocationEvidence.objects.get()
    assert (evidence.authority, evidence.status) == (KEYS[1].address, "new")
    assert evidence.first_order["amount"] == 5 and evidence.second_order["amount"] == 6


def test_an_operator_submits_evidence_from_admin_in_the_manual_mode(operator, fake_chain):
    from authorities import chain

    calls, outcomes = fake_chain
    evidence, _ = evidence_record(**_votes(order(5), order(6)))
    EquivocationEvidence.objects.filter(pk=evidence.pk).update(status="submitting")  # stuck
    outcomes.append("0x" + "12" * 32)
    client = Client()
    client.force_login(operator)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "chain_sender_key", lambda: b"\x01" * 32)
        response = client.post(
            "/admin/authorities/equivocationevidence/",
            {"action": "submit", "_selected_action": [evidence.pk]},
            follow=True,
        )

    assert response.status_code == 200
    evidence.refresh_from_db()
    assert (evidence.status, evidence.tx_hash) == ("submitted", "0x" + "12" * 32)
    assert calls == [evidence.authority]


def test_the_catch_up_admin_action_reports_what_it_did(operator, monkeypatch):
    from authorities import admin as authorities_admin

    committee_sync(epoch=0, members=members())
    monkeypatch.setattr(
        authorities_admin,
        "committee_catch_up",
        lambda: {"accounts": 3, "pushed": {"a": 7}, "lag": {"a": 0}, "unknown": []},
    )
    client = Client()
    client.force_login(operator)
    pk = CommitteeMember.objects.first().pk

    response = client.post(
        "/admin/authorities/committeemember/",
        {"action": "catch_up", "_selected_action": [pk]},
        follow=True,
    )

    assert "3 accounts: 7 certificates pushed, 0 still missing" in response.content.decode()


def test_a_certificate_handed_in_is_checked_against_the_votes_seen():
    """A defund's certificate comes from the wallet: its votes go through the watch too."""
    from authorities.gateway import Gateway
    from fastpay_protocol.committee import VoteWatch
    from fastpay_protocol.membership import Committee, Member
    from fastpay_protocol.typed_data import sign_order

    committee = Committee(
        epoch=0,
        chain_id=DOMAIN.chain_id,
        verifying_contract=DOMAIN.verifying_contract,
        redemption_address="0x" + "cd" * 20,
        members=tuple(
            Member(f"a{i}", k.address, 10**19, f"http://127.0.0.1:{9100 + i}")
            for i, k in enumerate(KEYS)
        ),
    )
    gateway = Gateway(committee, None, timeout_s=1)
    found = []
    client = gateway.client()
    client.watch = VoteWatch(on_equivocation=found.append)
    seen = order(6)
    client.watch.observe(KEYS[0].address, seen, sign_vote(DOMAIN, seen, KEYS[0].key), client._scope)
    handed_in = order(5)
    certificate = {
        "order": handed_in.as_message(),
        "signature": "0x" + sign_order(DOMAIN, handed_in, KEYS[3].key).hex(),
        "votes": [
            {"authority": k.address, "signature": "0x" + sign_vote(DOMAIN, handed_in, k.key).hex()}
            for k in KEYS[:3]
        ],
    }

    assert gateway.verify(certificate) == handed_in
    client.close()

    assert [(f.authority, f.first.order, f.second.order) for f in found] == [
        (KEYS[0].address, seen, handed_in)
    ]
