"""The committee file as nodes and the platform read it: previous epochs, and the window
in which a node keeps voting in a previous epoch (docs/authorities.md)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from authorities.gateway import committees_from_document
from authorities.node.runtime import committee_of, parse_committee_file
from fastpay_protocol.messages import MessageError

A, B, C = ("0x" + f"{i:040x}" for i in (1, 2, 3))


def member(address, url="http://127.0.0.1:1"):
    return {"name": address[-4:], "address": address, "stake": 10, "url": url}


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
    parsed = parse_committee_file(
        _json(document(previous_epochs=[{"epoch": 1, "members": [member(A)], "voting_until": 99}]))
    )
    assert sorted(parsed["committees"]) == [1, 2]
    assert parsed["voting_until"] == {1: 99}


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
        parse_committee_file(_json(document(previous_epochs=previous)))
    assert message in str(error.value)


def test_a_node_votes_in_a_previous_epoch_only_inside_its_window():
    from authorities.node.runtime import Member, NodeRuntime

    members = (Member("a", A, 10, ""), Member("b", B, 10, ""))
    runtime = NodeRuntime(
        name="a",
        signer=None,
        address=A,
        domain=None,
        digests=None,
        committee=committee_of(2, members),
        committees={1: committee_of(1, members), 2: committee_of(2, members)},
        voting_until={1: 1000},
    )
    assert runtime.votes_in(2, now=5000)
    assert runtime.votes_in(1, now=1000)
    assert not runtime.votes_in(1, now=1001)
    assert not runtime.votes_in(0, now=0)


def test_the_platform_reads_the_previous_committees_from_the_same_file():
    current, previous = committees_from_document(
        document(previous_epochs=[{"epoch": 1, "members": [member(C)], "voting_until": 5}])
    )
    assert current.epoch == 2
    assert list(previous) == [1]
    assert [m.address.lower() for m in previous[1].members] == [C]
    assert previous[1].domain == current.domain
    with pytest.raises(MessageError):
        committees_from_document(document(previous_epochs=[{"epoch": 1, "members": []}]))


def _json(data) -> str:
    import json

    return json.dumps(data)
