"""The platform follows the committee live (authorities.gateway): the committee file is
read again when it changes, an announced epoch becomes active at its ``activates_at`` by
the clock with no restart, each epoch has its own client and every client verifies
certificates of every known epoch; the beat task brings the registry in line."""

import json
import os
import time

import pytest

from authorities import gateway as gateway_module
from authorities.models import CommitteeMember
from fastpay_protocol import handoff
from fastpay_protocol.membership import Committee, Member

MEMBERS = [
    {
        "name": f"a{i}",
        "address": "0x" + f"{i + 1:040x}",
        "stake": 10,
        "url": f"http://127.0.0.1:{9 + i}",
    }
    for i in range(6)
]


def document(latest=1, activates_at=None):
    """Epochs 1..latest: epoch e has members e-1 .. e+2 (one replaced per epoch)."""

    def epoch(e, at):
        body = {"epoch": e, "members": MEMBERS[e - 1 : e + 3]}
        if at is not None:
            body["activates_at"] = at
        return body

    top = {
        "chain_id": 31337,
        "verifying_contract": "0x" + "aa" * 20,
        "redemption_address": "0x" + "bb" * 20,
        **epoch(latest, activates_at if latest > 1 else None),
    }
    if latest > 1:
        top["previous_epochs"] = [epoch(e, 0 if e == 1 else e) for e in range(1, latest)]
    return top


@pytest.fixture
def committee_file(tmp_path, settings):
    path = tmp_path / "committee.json"
    path.write_text(json.dumps(document()))
    settings.FASTPAY_COMMITTEE_FILE = str(path)
    settings.FASTPAY_PLATFORM_KEY_FILE = str(tmp_path / "no-key.json")
    settings.FASTPAY_COMMITTEE_FROM_CHAIN = False
    settings.FASTPAY_COMMITTEE_POLL_S = 1
    gateway_module._load.cache_clear()
    yield path
    gateway_module._load.cache_clear()


def rewrite(path, body):
    path.write_text(json.dumps(body))
    stamp = time.time() + 2  # a distinct mtime whatever the file system's resolution
    os.utime(path, (stamp, stamp))


def test_an_announced_epoch_is_read_from_the_changed_file_and_becomes_active_on_time(
    committee_file,
):
    gw = gateway_module.gateway()
    assert gw.epoch() == 1 and sorted(gw.committees) == [1]

    rewrite(committee_file, document(latest=2, activates_at=int(time.time()) + 3600))
    gw.refresh(force=True)

    assert gateway_module.gateway() is gw  # no new gateway: no restart
    assert sorted(gw.committees) == [1, 2]
    assert gw.epoch() == 1  # announced, not active yet
    assert gw.schedule.closes_at(1) == gw.schedule.info(2).activates_at

    rewrite(committee_file, document(latest=2, activates_at=int(time.time()) - 1))
    gw.refresh(force=True)

    assert gw.epoch() == 2 and gw.committee.epoch == 2
    old, new = gw.client(1), gw.client(2)
    assert old is not new and new.committee.epoch == 2
    assert old.committee_of(2) is new.committee  # every client verifies every epoch
    assert new.committee_of(1) is old.committee


def test_the_file_is_polled_on_use_at_most_every_poll_interval(committee_file, settings):
    settings.FASTPAY_COMMITTEE_POLL_S = 3600
    gw = gateway_module.gateway()
    rewrite(committee_file, document(latest=2, activates_at=int(time.time()) - 1))

    assert gateway_module.gateway().epoch() == 1  # not polled yet

    gw._polled -= 3601
    assert gateway_module.gateway().epoch() == 2


def test_a_broken_rewrite_keeps_the_known_schedule(committee_file, caplog):
    gw = gateway_module.gateway()
    committee_file.write_text("{ not json")
    stamp = time.time() + 4
    os.utime(committee_file, (stamp, stamp))

    assert gw.refresh(force=True) is False
    assert gw.epoch() == 1
    assert any("cannot refresh the committee schedule" in r.getMessage() for r in caplog.records)


def test_the_beat_task_brings_the_registry_in_line_with_every_epoch(committee_file, db):
    from authorities.services.committee import current_epoch
    from authorities.tasks import committee_schedule_task

    rewrite(committee_file, document(latest=2, activates_at=int(time.time()) + 3600))

    result = committee_schedule_task()

    assert result == {"epochs": [1, 2], "active": 1}
    assert sorted(set(CommitteeMember.objects.values_list("epoch", flat=True))) == [1, 2]
    assert current_epoch() == 1  # epoch 2 is in the registry, not active yet
    assert committee_schedule_task() == result  # nothing changed: nothing written again
    from fastpay.models import OutboxEvent

    assert OutboxEvent.objects.filter(topic="committee.synced").count() == 2


def test_an_old_committee_file_with_voting_until_is_refused_naming_the_fix(committee_file, caplog):
    body = document(latest=2, activates_at=int(time.time()))
    body["previous_epochs"][0]["voting_until"] = 99
    del body["previous_epochs"][0]["activates_at"]
    committee_file.write_text(json.dumps(body))

    with pytest.raises(gateway_module.CommitteeUnavailable):
        gateway_module.gateway()
    assert any("activates_at" in r.getMessage() for r in caplog.records)


def test_a_committee_without_a_schedule_is_the_active_one_with_its_previous_epochs():
    def committee(epoch):
        return Committee(
            epoch,
            31337,
            "0x" + "aa" * 20,
            "0x" + "bb" * 20,
            tuple(Member(m["name"], m["address"], 10, m["url"]) for m in MEMBERS[:4]),
        )

    gw = gateway_module.Gateway(committee(3), None, 1, previous={1: committee(1), 2: committee(2)})

    assert gw.epoch() == 3 and sorted(gw.committees) == [1, 2, 3]
    assert isinstance(gw.schedule, handoff.Schedule) and gw.schedule.is_closed(2, time.time())


class FakeConsensus:
    """CommitteeConsensus + AuthorityManager as ChainSource reads them."""

    def __init__(self):
        self.epochs = {1: (MEMBERS[:4], 0)}

    def current_epoch(self):
        return max(self.epochs)

    def activates_at(self, epoch):
        return self.epochs[epoch][1]

    def members_of(self, epoch):
        return [m["address"] for m in self.epochs[epoch][0]]

    def stake_of(self, epoch, address):
        return 10

    def endpoint_of(self, address):
        return next(m["url"] for m in MEMBERS if m["address"] == address)


def test_from_the_chain_an_epoch_registered_on_chain_is_followed(tmp_path, settings, monkeypatch):
    from authorities import chain
    from authorities.node.schedule_sources import ChainSource

    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        json.dumps(
            {
                "chain_id": 31337,
                "contracts": {
                    name: {"address": "0x" + f"{i + 10:040x}", "abi": []}
                    for i, name in enumerate(
                        [
                            "CertificateVerifier",
                            "OfflinePaymentProcessor",
                            "CommitteeConsensus",
                            "AuthorityManager",
                        ]
                    )
                },
            }
        )
    )
    consensus = FakeConsensus()
    monkeypatch.setattr(
        chain, "_schedule_source", ChainSource(str(deployment), "", reader=consensus)
    )
    settings.FASTPAY_COMMITTEE_FROM_CHAIN = True
    settings.FASTPAY_COMMITTEE_POLL_S = 3600  # the poll thread sleeps; the test refreshes
    settings.FASTPAY_PLATFORM_KEY_FILE = str(tmp_path / "no-key.json")
    gateway_module._load.cache_clear()
    try:
        gw = gateway_module.gateway()
        assert gw.epoch() == 1 and gw.polled_by_thread

        consensus.epochs[2] = (MEMBERS[1:5], int(time.time()) - 1)  # advanceEpoch mined
        assert gw.refresh(force=True)

        assert gw.epoch() == 2 and sorted(gw.committees) == [1, 2]
        assert gw.committee.members[-1].url == MEMBERS[4]["url"]  # endpointOf
    finally:
        gateway_module._load.cache_clear()
