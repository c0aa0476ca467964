"""The node's schedule sources and live updates, without processes: the committee file
re-read on change, CommitteeConsensus read through its view calls, which updates a running
node accepts (history never changes, epochs are announced for the future), the handover
feed's cursor and page format."""

import json
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from authorities.node import errors
from authorities.node.runtime import schedule_change_refusal
from authorities.node.schedule_sources import ChainSource, FileSource
from authorities.node.services.handover_feed import _cursor
from fastpay_protocol.handoff import EpochInfo, Schedule
from fastpay_protocol.membership import Committee, Member
from fastpay_protocol.wire import MessageError, parse_handover_page

VERIFIER, REDEMPTION = "0x" + "aa" * 20, "0x" + "bb" * 20
A, B, C, D, E = ("0x" + f"{i:040x}" for i in range(1, 6))


def committee(epoch, addresses, verifier=VERIFIER):
    members = tuple(Member(a[-4:], a, 10, f"http://{a[-4:]}:1") for a in addresses)
    return Committee(epoch, 31337, verifier, REDEMPTION, members)


def schedule(*epochs):
    return Schedule(EpochInfo(e, committee(e, members), at) for e, members, at in epochs)


OLD = schedule((1, [A, B, C, D], 0), (2, [B, C, D, E], 1000))


def test_an_announced_epoch_for_the_future_is_accepted():
    new = schedule((1, [A, B, C, D], 0), (2, [B, C, D, E], 1000), (3, [A, B, C, E], 2000))
    assert schedule_change_refusal(OLD, new, now=1500) is None


def test_an_announced_epoch_not_active_yet_may_still_move_or_change():
    new = schedule((1, [A, B, C, D], 0), (2, [A, B, C, E], 1200))
    assert schedule_change_refusal(OLD, new, now=900) is None


@pytest.mark.parametrize(
    "new, now, message",
    [
        (schedule((1, [A, B, C, D], 0), (2, [B, C, D, E], 1001)), 1000, "activates_at cannot"),
        (schedule((1, [A, B, C, D], 0), (2, [A, C, D, E], 1000)), 1000, "members cannot"),
        (schedule((1, [A, B, C, E], 0), (2, [B, C, D, E], 1000)), 10, "members cannot"),
        (schedule((1, [A, B, C, D], 0)), 1000, "epoch 2 is active or closed"),
        (
            schedule((1, [A, B, C, D], 0), (2, [B, C, D, E], 1000), (3, [A, B, C, D], 1100)),
            1200,
            "already past",
        ),
    ],
)
def test_a_running_node_refuses_to_rewrite_history(new, now, message):
    assert message in schedule_change_refusal(OLD, new, now=now)


def test_a_new_domain_is_refused():
    other = Schedule([EpochInfo(1, committee(1, [A, B, C, D], verifier="0x" + "cc" * 20), 0)])
    assert "new deployment" in schedule_change_refusal(OLD, other, now=0)


def _document(**extra):
    return {
        "epoch": 1,
        "chain_id": 31337,
        "verifying_contract": VERIFIER,
        "redemption_address": REDEMPTION,
        "members": [{"address": a, "stake": 10, "url": "http://x:1"} for a in (A, B, C, D)],
        **extra,
    }


def test_the_file_source_reads_again_only_when_the_file_changed(tmp_path):
    path = tmp_path / "committee.json"
    path.write_text(json.dumps(_document()))
    source = FileSource(str(path))
    first = source.first()
    assert [i.epoch for i in first.schedule.epochs] == [1]
    assert source.poll() is None

    later = _document(
        epoch=2,
        activates_at=5000,
        members=[{"address": a, "stake": 10, "url": "http://x:1"} for a in (B, C, D, E)],
        previous_epochs=[_document()],
    )
    path.write_text(json.dumps(later))
    os.utime(path, ns=(1, 10**18))  # a different mtime, whatever the clock's resolution
    update = source.poll()
    assert [(i.epoch, i.activates_at) for i in update.schedule.epochs] == [(1, 0), (2, 5000)]
    assert source.poll() is None


def test_a_broken_update_is_reported_once(tmp_path):
    path = tmp_path / "committee.json"
    path.write_text(json.dumps(_document()))
    source = FileSource(str(path))
    source.first()
    path.write_text(json.dumps(_document(voting_until=5)))
    os.utime(path, ns=(1, 10**18))
    with pytest.raises(ImproperlyConfigured, match="use activates_at"):
        source.poll()
    assert source.poll() is None  # the running node keeps its schedule


class FakeConsensus:
    """CommitteeConsensus + AuthorityManager views (epochs.md section B)."""

    def __init__(self):
        self.epochs = {1: ([A, B, C, D], 0)}
        self.calls = 0

    def current_epoch(self):
        return max(self.epochs)

    def activates_at(self, epoch):
        return self.epochs[epoch][1]

    def members_of(self, epoch):
        self.calls += 1
        return self.epochs[epoch][0]

    def stake_of(self, epoch, address):
        return 10

    def endpoint_of(self, address):
        return f"http://{address[-4:]}.example:9101"


def test_the_chain_source_reads_each_registered_epoch_once(tmp_path):
    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        json.dumps(
            {
                "chain_id": 31337,
                "contracts": {
                    "CertificateVerifier": {"address": VERIFIER},
                    "OfflinePaymentProcessor": {"address": REDEMPTION},
                    "CommitteeConsensus": {"address": "0x" + "01" * 20},
                    "AuthorityManager": {"address": "0x" + "02" * 20},
                    "TokenVault": {"address": "0x" + "03" * 20},
                },
                "tokens": [{"address": "0x" + "55" * 20, "id": 0}],
            }
        )
    )
    chain = FakeConsensus()
    source = ChainSource(str(deployment), "http://unused", reader=chain)
    first = source.first()
    info = first.schedule.latest()
    assert (info.epoch, info.activates_at, info.committee.domain.verifying_contract.lower()) == (
        1,
        0,
        VERIFIER,
    )
    assert info.committee.members[0].url == f"http://{A[-4:]}.example:9101"
    assert info.committee.vault_address.lower() == "0x" + "03" * 20
    assert source.poll() is None

    chain.epochs[2] = ([B, C, D, E], 7000)
    update = source.poll()
    assert [(i.epoch, i.activates_at) for i in update.schedule.epochs] == [(1, 0), (2, 7000)]
    assert chain.calls == 2  # epoch 1 was not read again


def test_a_source_that_is_not_a_deployment_names_the_variable(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DEPLOYMENT_JSON"):
        ChainSource(str(tmp_path / "missing.json"), "http://unused", reader=FakeConsensus())


@pytest.mark.parametrize(
    "raw, frozen, expected",
    [
        (None, False, ("s", 0, 0)),
        (None, True, ("p", 0, 0)),
        ("s.40", True, ("p", 0, 40)),  # the pre-sync's cursor starts the pending orders
        ("s.40", False, ("s", 0, 40)),
        ("p.7.40", True, ("p", 7, 40)),
        ("k.3.40", True, ("k", 3, 40)),  # the carried locks, after the pending orders
        ("k.3.40", False, ("s", 0, 40)),
        ("c.41", True, ("c", 0, 41)),
        ("c.41", False, ("s", 0, 41)),
    ],
)
def test_the_handover_cursor_resumes_where_it_should(raw, frozen, expected):
    assert _cursor(raw, frozen) == expected


@pytest.mark.parametrize("raw", ["", "x.1", "p.1", "k.1", "c.-1", "s.1.2", "c.1 "])
def test_a_cursor_the_node_did_not_give_is_refused(raw):
    with pytest.raises(errors.InvalidRequest):
        _cursor(raw, True)


def test_a_handover_page_is_parsed_by_the_one_wire_parser():
    page = parse_handover_page(
        {"epoch": 1, "frozen": True, "certificates": [], "pending": [], "next": None}
    )
    assert (page.epoch, page.frozen, page.next) == (1, True, None)
    with pytest.raises(MessageError, match="frozen"):
        parse_handover_page({"epoch": 1, "frozen": 1, "certificates": [], "pending": []})
    with pytest.raises(MessageError, match=r"pending\[0\]"):
        parse_handover_page(
            {"epoch": 1, "frozen": True, "certificates": [], "pending": [{}], "next": None}
        )
