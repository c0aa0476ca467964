"""fastpay_protocol.membership: the one quorum rule, the one validator and the one
committee-file loader (docs/protocol.md, "The committee file"). No Django."""

import json
import logging
from fractions import Fraction

import pytest

from fastpay_protocol import typed_data as td
from fastpay_protocol.membership import (
    Committee,
    CommitteeFileError,
    Member,
    committee_load,
    quorum_stake,
)
from fastpay_protocol.wire import MessageError

ADDRESSES = ["0x" + f"{i + 1:040x}" for i in range(10)]


def a_committee(stakes, epoch=1):
    return Committee(
        epoch=epoch,
        chain_id=31337,
        verifying_contract="0x" + "aa" * 20,
        redemption_address="0x" + "bb" * 20,
        members=tuple(
            Member(f"a{i}", ADDRESSES[i], stake, f"http://127.0.0.1:{9000 + i}")
            for i, stake in enumerate(stakes)
        ),
    )


def member(i, **changes):
    data = {
        "name": f"authority-{i}",
        "address": ADDRESSES[i],
        "stake": 10**19,
        "url": f"http://127.0.0.1:{9100 + i}",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def document(members=None, **extra):
    return {
        "epoch": 2,
        "chain_id": 31337,
        "verifying_contract": "0x" + "aa" * 20,
        "redemption_address": "0x" + "bb" * 20,
        "members": [member(i) for i in range(4)] if members is None else members,
        **extra,
    }


# ------------------------------------------------------------------ the quorum rule


@pytest.mark.parametrize("f", [0, 1, 2, 3])
def test_with_equal_stakes_a_quorum_is_2f_plus_1_of_3f_plus_1(f):
    committee = a_committee([7] * (3 * f + 1))

    assert committee.has_quorum(ADDRESSES[: 2 * f + 1])
    assert not committee.has_quorum(ADDRESSES[: 2 * f])


def test_exactly_two_thirds_of_the_stake_is_not_a_quorum():
    committee = a_committee([2, 1])  # the first member holds exactly 2/3

    assert committee.quorum_stake == 3
    assert not committee.has_quorum([ADDRESSES[0]])
    assert committee.has_quorum(ADDRESSES[:2])
    # 6 equal members: 4 of them are exactly 2/3
    assert not a_committee([1] * 6).has_quorum(ADDRESSES[:4])
    assert a_committee([1] * 6).has_quorum(ADDRESSES[:5])


def test_with_unequal_stakes_the_stake_counts_not_the_heads():
    # total 100, quorum 67; nobody holds a third (refused in committees of 4 or more)
    committee = a_committee([30, 30, 20, 10, 10])

    assert committee.quorum_stake == 67
    assert committee.has_quorum(ADDRESSES[:3])  # 80: three of five members
    assert not committee.has_quorum(ADDRESSES[2:5])  # 40: three of five members too
    assert not committee.has_quorum([ADDRESSES[0], ADDRESSES[2], ADDRESSES[3]])  # 60


def test_a_signer_counts_once_in_any_case_and_strangers_count_zero():
    committee = a_committee([1, 1, 1, 1])
    first = ADDRESSES[0]
    shouting = "0x" + first[2:].upper()

    assert not committee.has_quorum([first, shouting, first, "0x" + "ee" * 20])
    assert committee.has_quorum([first, shouting, ADDRESSES[1], ADDRESSES[2]])
    assert committee.is_member(shouting)
    assert not committee.is_member("0x" + "ee" * 20)


def test_the_rule_is_exact_with_stakes_far_above_a_float():
    big = 10**30 + 1  # wei: a float would round these
    committee = a_committee([big, big, big + 1])
    total = 3 * big + 1

    assert committee.quorum_stake == 2 * total // 3 + 1
    assert committee.has_quorum(ADDRESSES[:2]) == (3 * 2 * big > 2 * total)
    assert committee.has_quorum([ADDRESSES[0], ADDRESSES[2]])


@pytest.mark.parametrize("total", [*range(1, 200), 10**19 * 4, 2**256 - 1])
def test_quorum_stake_is_the_least_stake_above_two_thirds(total):
    q = quorum_stake(total)

    assert Fraction(q, total) > Fraction(2, 3)
    assert Fraction(q - 1, total) <= Fraction(2, 3)


def test_typed_data_and_the_voucher_verifier_use_the_same_rule():
    stakes = {ADDRESSES[0]: 2, ADDRESSES[1]: 1}

    assert not td.quorum_reached(stakes, [ADDRESSES[0]])
    assert td.quorum_reached(stakes, ADDRESSES[:2])


def test_more_than_a_third_is_what_vouches_for_a_view():
    committee = a_committee([1, 1, 1])  # total 3: one member is exactly 1/3

    assert not committee.more_than_a_third(ADDRESSES[:1])
    assert committee.more_than_a_third(ADDRESSES[:2])


# ------------------------------------------------------------------ the validator


def test_a_committee_needs_members_and_refuses_a_duplicate_address():
    with pytest.raises(MessageError, match="1 to 255 members"):
        a_committee([])
    twice = Member("b", ADDRESSES[0].upper().replace("0X", "0x"), 1, "http://127.0.0.1:2")
    with pytest.raises(MessageError, match="duplicate member address") as caught:
        Committee(1, 31337, "0x" + "aa" * 20, "0x" + "bb" * 20, (*a_committee([1]).members, twice))
    assert caught.value.param == "members[1].address"


@pytest.mark.parametrize("stake", [0, -1, 1.0, 10.5, True, "10.0", None])
def test_a_member_stake_is_a_positive_integer(stake):
    with pytest.raises(MessageError, match="positive integer"):
        Member("a", ADDRESSES[0], stake, "http://127.0.0.1:1")


def test_members_holding_a_third_or_more_are_reported():
    assert a_committee([1, 1, 1, 1]).concentrated() == []
    assert [m.address for m in a_committee([1, 1, 1]).concentrated()] == ADDRESSES[:3]
    assert [m.address for m in a_committee([2, 1, 1]).concentrated()] == ADDRESSES[:1]


# ------------------------------------------------------------------ the committee file


def test_the_documented_file_loads_with_previous_epochs_and_tokens(tmp_path):
    path = tmp_path / "committee.json"
    path.write_text(
        json.dumps(
            document(
                previous_epochs=[{"epoch": 1, "members": [member(i) for i in range(4, 8)]}],
                activates_at=99,
                tokens=[{"symbol": "USDT", "address": "0x" + "55" * 20, "id": 0}],
            )
        )
    )

    loaded = committee_load(path)

    assert loaded.committee.epoch == 2
    assert loaded.committee.total_stake == 4 * 10**19
    assert sorted(loaded.committees) == [1, 2]
    assert loaded.previous[1].domain == loaded.committee.domain
    assert [m.address.lower() for m in loaded.previous[1].members] == ADDRESSES[4:8]
    assert loaded.activates_at == {1: 0, 2: 99}
    assert loaded.token_ids == {td._address("0x" + "55" * 20, "token"): 0}
    assert committee_load(json.loads(path.read_text())) == loaded


def test_a_stake_may_be_a_string_of_digits_for_values_json_writers_round():
    loaded = committee_load(document([member(0, stake="100000000000000000001"), member(1)]))

    assert loaded.committee.members[0].stake == 100000000000000000001


@pytest.mark.parametrize(
    "stake", [10.5, 1e19, 10.0, "10.5", "1e19", " 10", "+10", "-10", "0x10", "\u0661\u0660", True]
)
def test_a_decimal_or_non_integer_stake_is_refused_naming_the_member(stake):
    with pytest.raises(CommitteeFileError) as caught:
        committee_load(document([member(0), member(1, stake=stake)]))

    assert caught.value.param == "members[1].stake"
    assert "positive integer" in caught.value.message


@pytest.mark.parametrize("stake", [0, "0"])
def test_a_zero_stake_is_refused(stake):
    with pytest.raises(CommitteeFileError, match=r"members\[0\]\.stake: must be a positive"):
        committee_load(document([member(0, stake=stake), member(1)]))


def test_a_member_without_a_name_loads_with_an_empty_one():
    loaded = committee_load(document([member(0, name=None), member(1)]))

    assert loaded.committee.members[0].name == ""


@pytest.mark.parametrize(
    ("changes", "param", "message"),
    [
        ({"url": None}, "members[1].url", "is required"),
        ({"url": "127.0.0.1:9101"}, "members[1].url", "http:// or https://"),
        ({"address": None}, "members[1].address", "is required"),
        ({"stake": None}, "members[1].stake", "is required"),
        ({"address": "0x1234"}, "members[1].address", "20-byte hex address"),
        ({"name": 7}, "members[1].name", "string"),
    ],
)
def test_a_member_missing_what_it_needs_is_refused_naming_the_field(changes, param, message):
    with pytest.raises(CommitteeFileError) as caught:
        committee_load(document([member(0), member(1, **changes)]))

    assert caught.value.param == param
    assert message in caught.value.message


def test_a_duplicate_member_is_refused_in_any_case():
    twice = member(1, address=ADDRESSES[0].upper().replace("0X", "0x"))

    with pytest.raises(CommitteeFileError, match="duplicate member address") as caught:
        committee_load(document([member(0), twice]))
    assert caught.value.param == "members[1].address"


@pytest.mark.parametrize(
    ("previous", "param"),
    [
        ([{"epoch": 1, "members": [member(0)], "voting_until": "soon"}], "voting_until"),
        ([{"epoch": 2, "members": [member(0)]}], "must be below 2"),
        ([{"members": [member(0)]}], "previous_epochs[0].epoch"),
        (["epoch 1"], "previous_epochs[0]"),
        ([{"epoch": 1, "members": []}], "previous_epochs[0].members"),
        ([{"epoch": 1, "members": [member(0)]}] * 2, "listed twice"),
        ([{"epoch": 1, "members": [member(0, stake=1.5)]}], "previous_epochs[0].members[0].stake"),
    ],
)
def test_a_wrong_previous_epoch_names_what_to_fix(previous, param):
    with pytest.raises(CommitteeFileError) as caught:
        committee_load(document(previous_epochs=previous))

    assert param in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"epoch": "2"}, "epoch"),
        ({"chain_id": 1.0}, "chain_id"),
        ({"verifying_contract": "0xnope"}, "verifying_contract"),
        ({"redemption_address": None}, "redemption_address"),
        ({"members": {}}, "members"),
        ({"tokens": [{"address": "0x" + "55" * 20, "id": "0"}]}, "tokens[0].id"),
    ],
)
def test_a_wrong_top_level_field_is_refused_naming_it(changes, param):
    data = {k: v for k, v in {**document(), **changes}.items() if v is not None}

    with pytest.raises(CommitteeFileError) as caught:
        committee_load(data)
    assert caught.value.param == param


def test_an_unreadable_or_non_json_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommitteeFileError, match="cannot read"):
        committee_load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(CommitteeFileError, match="is not JSON"):
        committee_load(tmp_path / "broken.json")


def test_loading_warns_about_a_member_holding_a_third_of_the_stake(caplog):
    caplog.set_level(logging.WARNING, logger="fastpay_protocol.committee")
    committee_load(document())
    assert caplog.records == []

    committee_load(document([member(0, stake=2 * 10**19), member(1), member(2)]))

    (record,) = caplog.records
    assert "a third or more" in record.getMessage()
    assert ADDRESSES[0] in record.getMessage().lower()
