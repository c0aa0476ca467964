"""The committee file as nodes and the platform read it: one loader (fastpay_protocol.
membership), so both accept and refuse the same files; previous epochs, and the window in
which a node keeps voting in a previous epoch (docs/authorities.md)."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from authorities import gateway as gateway_module
from authorities.gateway import CommitteeUnavailable
from authorities.node.runtime import NodeRuntime, committee_file
from fastpay_protocol.membership import Committee, Member

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


def test_a_previous_epoch_with_a_voting_window_is_parsed():
    parsed = committee_file(
        _json(document(previous_epochs=[{"epoch": 1, "members": [member(A)], "voting_until": 99}]))
    )
    assert sorted(parsed.committees) == [1, 2]
    assert parsed.voting_until == {1: 99}


@pytest.mark.parametrize(
    "previous, message",
    [
        ([{"epoch": 1, "members": [member(A)], "voting_until": "soon"}], "voting_until"),
        ([{"epoch": 2, "members": [member(A)]}], "must be below 2"),
        ([{"members": [member(A)]}], "previous_epochs[0].epoch"),
        (["epoch 1"], "previous_epochs[0]"),
    ],
)
def test_a_wrong_previous_epoch_names_what_to_fix(previous, message):
    with pytest.raises(ImproperlyConfigured) as error:
        committee_file(_json(document(previous_epochs=previous)))
    assert message in str(error.value)
    assert "AUTHORITY_COMMITTEE_FILE" in str(error.value)


def test_a_node_votes_in_a_previous_epoch_only_inside_its_window():
    members = (Member("a", A, 10, "http://a:1"), Member("b", B, 10, "http://b:1"))

    def committee(epoch):
        return Committee(epoch, 31337, "0x" + "aa" * 20, "0x" + "bb" * 20, members)

    runtime = NodeRuntime(
        name="a",
        signer=None,
        address=A,
        domain=None,
        digests=None,
        committee=committee(2),
        committees={1: committee(1), 2: committee(2)},
        voting_until={1: 1000},
    )
    assert runtime.votes_in(2, now=5000)
    assert runtime.votes_in(1, now=1000)
    assert not runtime.votes_in(1, now=1001)
    assert not runtime.votes_in(0, now=0)


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
        document(previous_epochs=[{"epoch": 1, "members": [member(C)], "voting_until": 5}]),
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
