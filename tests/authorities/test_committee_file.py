"""The committee file as nodes and the platform read it: one loader (fastpay_protocol.
membership), so both accept and refuse the same files; previous epochs, each epoch's
activates_at and the schedule built from them (docs/authorities.md)."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from authorities import gateway as gateway_module
from authorities.gateway import CommitteeUnavailable
from authorities.node.runtime import committee_file

A, B, C = ("0x" + f"{i:040x}" for i in (1, 2, 3))


def member(address, url="http://127.0.0.1:1", **changes):
    data = {"name": address[-4:], "address": address, "stake": 10, "url": url, **changes}
    return {k: v for k, v in data.items() if v is not None}


def document(**extra):
    return {
        "epoch": 2,
        "chain_id": 31337,
        "verifying_contract": "0x" + "aa" * 20,
        "redemption_address": "0x" + "bb" * 20,
        "members": [member(A), member(B)],
        **extra,
    }


def test_each_epoch_activates_at_its_time_and_the_first_defaults_to_genesis():
    parsed = committee_file(
        _json(document(activates_at=5000, previous_epochs=[{"epoch": 1, "members": [member(A)]}]))
    )
    assert sorted(parsed.committees) == [1, 2]
    assert parsed.activates_at == {1: 0, 2: 5000}
    schedule = parsed.schedule()
    assert [(i.epoch, i.activates_at) for i in schedule.epochs] == [(1, 0), (2, 5000)]
    assert (schedule.active_epoch(4999), schedule.active_epoch(5000)) == (1, 2)
    assert schedule.closes_at(1) == 5000 and schedule.closes_at(2) is None


def test_an_announced_epoch_is_listed_before_it_activates():
    parsed = committee_file(
        _json(
            document(
                epoch=3,
                activates_at=2**40,  # far in the future: announced, not active
                previous_epochs=[
                    {"epoch": 1, "members": [member(A)]},
                    {"epoch": 2, "members": [member(A), member(B)], "activates_at": 100},
                ],
            )
        )
    )
    assert parsed.committee.epoch == 3
    assert parsed.schedule().active_epoch(10_000) == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"previous_epochs": [{"epoch": 1, "members": [member(A)], "voting_until": 99}]},
            "previous_epochs[0].voting_until: voting_until is no longer supported",
        ),
        ({"voting_until": 99}, "use activates_at"),
        (
            {"previous_epochs": [{"epoch": 1, "members": [member(A)]}]},
            "activates_at: is required for epoch 2",
        ),
        (
            {
                "activates_at": 10,
                "previous_epochs": [{"epoch": 1, "members": [member(A)], "activates_at": 10}],
            },
            "epoch 2 must activate after epoch 1",
        ),
        (
            {"activates_at": "soon", "previous_epochs": [{"epoch": 1, "members": [member(A)]}]},
            "activates_at",
        ),
        (
            {"activates_at": 10, "previous_epochs": [{"epoch": 0, "members": [member(A)]}]},
            "epoch 1 is missing",
        ),
        ({"previous_epochs": [{"epoch": 2, "members": [member(A)]}]}, "must be below 2"),
        ({"previous_epochs": [{"members": [member(A)]}]}, "previous_epochs[0].epoch"),
        ({"previous_epochs": ["epoch 1"]}, "previous_epochs[0]"),
    ],
)
def test_a_wrong_schedule_names_what_to_fix(changes, message):
    with pytest.raises(ImproperlyConfigured) as error:
        committee_file(_json(document(**changes)))
    assert message in str(error.value)
    assert "AUTHORITY_COMMITTEE_FILE" in str(error.value)


def test_a_member_with_a_third_of_the_stake_is_refused_in_a_committee_of_four():
    members = [member(A, stake=40), member(B), member(C), member("0x" + "0" * 39 + "4")]

    with pytest.raises(ImproperlyConfigured) as error:
        committee_file(_json(document(members=members)))
    assert "members[0].stake" in str(error.value)
    assert "a third or more" in str(error.value)


def test_a_member_with_a_third_of_the_stake_is_a_warning_in_a_committee_of_three(caplog):
    parsed = committee_file(_json(document(members=[member(A, stake=20), member(B), member(C)])))

    assert parsed.committee.concentrated()[0].address.lower() == A
    assert "a third or more" in caplog.text


def _platform(tmp_path, data):
    path = tmp_path / "committee.json"
    path.write_text(_json(data))
    gateway_module._load.cache_clear()
    try:
        return gateway_module._load(str(path), str(tmp_path / "no.key"), "", 3)
    finally:
        gateway_module._load.cache_clear()


def test_the_platform_reads_the_previous_committees_from_the_same_file(tmp_path):
    platform = _platform(
        tmp_path,
        document(activates_at=5, previous_epochs=[{"epoch": 1, "members": [member(C)]}]),
    )
    assert platform.epoch() == 2
    assert sorted(platform.committees) == [1, 2]
    assert [m.address.lower() for m in platform.committees[1].members] == [C]
    assert platform.committees[1].domain == platform.committee.domain


@pytest.mark.parametrize(
    "changes",
    [
        {"members": [member(A, stake=10.5), member(B)]},  # a decimal stake
        {"members": [member(A, stake="1e3"), member(B)]},
        {"members": [member(A, stake=0), member(B)]},
        {"members": [member(A, url=None), member(B)]},  # no url: no one can reach it
        {"members": [member(A), member(A.upper().replace("0X", "0x"))]},  # a duplicate
        {"previous_epochs": [{"epoch": 1, "members": []}]},
    ],
)
def test_the_node_and_the_platform_refuse_the_same_files(tmp_path, changes):
    data = document(**changes)

    with pytest.raises(ImproperlyConfigured):
        committee_file(_json(data))
    with pytest.raises(CommitteeUnavailable):
        _platform(tmp_path, data)


@pytest.mark.parametrize(
    "changes",
    [
        {"members": [member(A, stake="100000000000000000000000"), member(B)]},  # digits
        {"members": [member(A, name=None), member(B, name=None)]},  # names are optional
    ],
)
def test_the_node_and_the_platform_accept_the_same_files(tmp_path, changes):
    data = document(**changes)

    node_side = committee_file(_json(data)).committee
    platform_side = _platform(tmp_path, data).committee
    assert node_side == platform_side
    assert node_side.has_quorum([A, B]) and not node_side.has_quorum([B])


def _json(data) -> str:
    return json.dumps(data)


def test_a_broken_committee_file_is_logged_for_the_operator_and_never_shown_to_clients(
    tmp_path, caplog
):
    with pytest.raises(CommitteeUnavailable) as refused:
        _platform(tmp_path, document(members=[member(A, stake=0), member(B)]))

    assert str(tmp_path) not in refused.value.message
    assert refused.value.message == "the committee is not configured on this platform"
    assert str(tmp_path / "committee.json") in caplog.text  # the operator still learns which
