"""fastpay_protocol.handoff: the epoch schedule, the vote and apply decisions, the
handover quorum (docs/protocol.md, "Epochs and the handover").

The rules are pure: each test gives the node's state and reads the decision. The
committee simulation (tests/protocol/simulation/) runs the same functions under faults."""

import pytest

from fastpay_protocol import handoff, wire
from fastpay_protocol import typed_data as td
from fastpay_protocol.handoff import EpochInfo, Refusal, Schedule, ScheduleError
from fastpay_protocol.membership import Committee, Member

VERIFIER = "0x" + "ab" * 20
REDEMPTION = "0x" + "cd" * 20
TOKEN = "0x" + "55" * 20
SENDER = "0x" + "11" * 20
ALICE = "0x" + "77" * 20
BOB = "0x" + "88" * 20


def node(i):
    return "0x" + f"{i:02x}" * 20


def committee(epoch, members, stakes=None):
    stakes = stakes or [1] * len(members)
    return Committee(
        epoch=epoch,
        chain_id=56,
        verifying_contract=VERIFIER,
        redemption_address=REDEMPTION,
        members=tuple(
            Member(name=f"n{i}", address=node(i), stake=s, url=f"http://n{i}.test")
            for i, s in zip(members, stakes, strict=True)
        ),
    )


# the attack layout: epoch 1 = n1..n4 from genesis, epoch 2 = n1,n2,n5,n6 at t=1000
SCHEDULE = Schedule(
    [
        EpochInfo(1, committee(1, [1, 2, 3, 4]), 0),
        EpochInfo(2, committee(2, [1, 2, 5, 6]), 1000),
    ]
)


def order(**changes):
    fields = {
        "sender": SENDER,
        "recipient": ALICE,
        "token": TOKEN,
        "amount": 100,
        "sequence": 0,
        "epoch": 1,
    }
    fields.update(changes)
    return td.TransferOrder(**fields)


def decide(**changes):
    state = {
        "order": order(),
        "now": 10,
        "schedule": SCHEDULE,
        "me": node(1),
        "handed_over": set(),
        "next_sequence": 0,
        "pending": None,
        "carried": (),
        "balance": 100,
    }
    state.update(changes)
    return handoff.vote_decision(**state)


# ------------------------------------------------------------------ the schedule


def test_the_active_epoch_is_the_latest_that_has_activated():
    assert SCHEDULE.active_epoch(0) == 1
    assert SCHEDULE.active_epoch(999.999) == 1
    assert SCHEDULE.active_epoch(1000) == 2
    assert SCHEDULE.active_epoch(10**12) == 2


def test_before_the_first_epoch_nothing_is_active():
    late = Schedule([EpochInfo(1, committee(1, [1, 2, 3, 4]), 50)])
    assert late.active_epoch(49) is None
    assert late.active_epoch(50) == 1


def test_an_epoch_closes_when_its_successor_activates():
    assert SCHEDULE.closes_at(1) == 1000
    assert SCHEDULE.closes_at(2) is None
    assert SCHEDULE.closes_at(7) is None
    assert not SCHEDULE.is_closed(1, 999)
    assert SCHEDULE.is_closed(1, 1000)
    assert not SCHEDULE.is_closed(2, 10**12)


def test_it_gives_each_epochs_committee_and_the_latest():
    assert SCHEDULE.committee(2).is_member(node(5))
    assert not SCHEDULE.committee(2).is_member(node(3))
    assert SCHEDULE.committee(3) is None
    assert SCHEDULE.committee(0) is None
    assert SCHEDULE.latest().epoch == 2


def test_settlement_runs_until_the_close_plus_the_window():
    assert SCHEDULE.settles_until(1, 3600) == 4600
    assert SCHEDULE.settles_until(2, 3600) is None


def test_announcing_an_epoch_gives_a_new_schedule():
    longer = SCHEDULE.with_epoch(EpochInfo(3, committee(3, [2, 5, 6, 7]), 2000))
    assert longer.latest().epoch == 3
    assert longer.closes_at(2) == 2000
    assert SCHEDULE.latest().epoch == 2  # unchanged


def test_a_schedule_needs_an_epoch():
    with pytest.raises(ScheduleError) as raised:
        Schedule([])
    assert raised.value.param == "epochs"


def test_it_refuses_a_gap_between_epochs():
    with pytest.raises(ScheduleError) as raised:
        Schedule(
            [
                EpochInfo(1, committee(1, [1, 2, 3, 4]), 0),
                EpochInfo(3, committee(3, [1, 2, 3, 4]), 100),
            ]
        )
    assert raised.value.param == "epochs[1].epoch"


def test_it_refuses_epochs_out_of_order():
    with pytest.raises(ScheduleError) as raised:
        Schedule(
            [
                EpochInfo(2, committee(2, [1, 2, 3, 4]), 0),
                EpochInfo(1, committee(1, [1, 2, 3, 4]), 100),
            ]
        )
    assert raised.value.param == "epochs[1].epoch"


@pytest.mark.parametrize("second", [0, -1, 100])
def test_it_refuses_an_activation_that_is_not_after_the_previous_one(second):
    with pytest.raises(ScheduleError) as raised:
        Schedule(
            [
                EpochInfo(1, committee(1, [1, 2, 3, 4]), 100),
                EpochInfo(2, committee(2, [1, 2, 3, 4]), second),
            ]
        )
    assert raised.value.param == "epochs[1].activates_at"


@pytest.mark.parametrize("bad", [1.5, "0", -1, True])
def test_it_refuses_an_activation_that_is_not_a_non_negative_integer(bad):
    with pytest.raises(ScheduleError) as raised:
        Schedule([EpochInfo(1, committee(1, [1, 2, 3, 4]), bad)])
    assert raised.value.param == "epochs[0].activates_at"


def test_it_refuses_a_committee_of_another_epoch():
    with pytest.raises(ScheduleError) as raised:
        Schedule([EpochInfo(2, committee(1, [1, 2, 3, 4]), 0)])
    assert raised.value.param == "epochs[0].committee"


def test_it_refuses_what_is_not_an_epoch_info():
    with pytest.raises(ScheduleError) as raised:
        Schedule([(1, committee(1, [1, 2, 3, 4]), 0)])
    assert raised.value.param == "epochs[0]"


def test_a_schedule_error_is_a_message_error():
    assert issubclass(ScheduleError, wire.MessageError)


# ------------------------------------------------------------------ payments


def test_the_same_payment_ignores_the_epoch_and_the_address_case():
    a = order(epoch=1)
    b = wire.Order(SENDER.lower(), ALICE.lower(), TOKEN.lower(), 100, 0, 2)
    assert handoff.same_payment(a, b)
    assert handoff.payment_key(a) == (SENDER, ALICE, TOKEN, 100, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": BOB},
        {"amount": 101},
        {"sequence": 1},
        {"token": "0x" + "56" * 20},
        {"sender": BOB},
    ],
)
def test_any_other_field_makes_another_payment(change):
    assert not handoff.same_payment(order(), order(**change))


def test_an_equivocation_is_two_payments_at_one_sender_and_sequence_across_epochs():
    assert handoff.equivocation(order(epoch=1), order(epoch=2, recipient=BOB))
    assert handoff.equivocation(order(amount=1), order(amount=2))


def test_a_re_epoched_order_is_not_an_equivocation():
    assert not handoff.equivocation(order(epoch=1), order(epoch=2))


def test_orders_of_other_sequences_or_senders_are_not_an_equivocation():
    assert not handoff.equivocation(order(sequence=0), order(sequence=1, recipient=BOB))
    assert not handoff.equivocation(order(), order(sender=BOB, recipient=BOB))


# ------------------------------------------------------------------ vote_decision


def test_a_member_votes_for_a_fresh_order_of_the_active_epoch():
    assert decide() == "vote"


def test_the_pending_order_again_gets_the_same_vote():
    assert decide(pending=order()) == "same"


def test_the_pending_order_in_the_other_address_form_is_the_same():
    pending = wire.Order(SENDER.lower(), ALICE.lower(), TOKEN.lower(), 100, 0, 1)
    assert decide(pending=pending) == "same"


def test_an_order_of_a_closed_epoch_is_the_wrong_epoch():
    assert decide(now=1000, order=order(epoch=1)) == Refusal("wrong_epoch", {"epoch": 2})


def test_an_order_of_a_future_epoch_is_the_wrong_epoch():
    assert decide(now=999, order=order(epoch=2)) == Refusal("wrong_epoch", {"epoch": 1})


def test_an_order_of_an_unknown_epoch_is_the_wrong_epoch():
    assert decide(order=order(epoch=9)) == Refusal("wrong_epoch", {"epoch": 1})


def test_a_node_that_left_stops_voting_at_the_close_by_its_own_clock():
    n3 = node(3)
    assert decide(me=n3, now=999) == "vote"
    assert decide(me=n3, now=1000, order=order(epoch=2)) == Refusal("wrong_epoch", {"epoch": 2})


def test_a_node_that_joins_does_not_vote_before_its_epoch():
    assert decide(me=node(5), now=999) == Refusal("wrong_epoch", {"epoch": 1})


def test_before_the_first_epoch_there_is_no_active_epoch():
    late = Schedule([EpochInfo(1, committee(1, [1, 2, 3, 4]), 50)])
    assert decide(schedule=late, now=49) == Refusal("wrong_epoch", {"epoch": None})


def test_a_member_of_the_new_epoch_waits_for_the_handover():
    for me in (node(1), node(5)):  # kept and new members alike
        refused = decide(me=me, now=1000, order=order(epoch=2))
        assert refused == Refusal("handover_pending", {"epoch": 2})


def test_after_the_handover_it_votes_in_the_new_epoch():
    assert decide(me=node(5), now=1000, order=order(epoch=2), handed_over={1}) == "vote"


def test_the_wrong_epoch_comes_before_the_handover():
    refused = decide(me=node(3), now=1000, order=order(epoch=2), handed_over=set())
    assert refused.code == "wrong_epoch"


def test_the_first_epoch_needs_no_handover():
    assert decide(handed_over=set()) == "vote"


def test_an_other_sequence_is_a_sequence_mismatch():
    assert decide(order=order(sequence=1)) == Refusal("sequence_mismatch", {"next_sequence": 0})
    assert decide(order=order(sequence=0), next_sequence=1) == Refusal(
        "sequence_mismatch", {"next_sequence": 1}
    )


def test_an_other_payment_at_the_pending_sequence_is_locked():
    pending = order()
    refused = decide(order=order(recipient=BOB), pending=pending)
    assert refused == Refusal("sequence_locked", {"order": pending})


def test_a_pending_order_of_an_earlier_sequence_does_not_lock_the_next_one():
    assert decide(order=order(sequence=1), next_sequence=1, pending=order(sequence=0)) == "vote"


def test_its_own_pending_vote_of_the_closed_epoch_locks_an_other_payment():
    pending = order(epoch=1)
    refused = decide(now=1000, order=order(epoch=2, amount=5), pending=pending, handed_over={1})
    assert refused == Refusal("sequence_locked", {"order": pending})


def test_its_own_pending_vote_of_the_closed_epoch_lets_the_re_epoched_order_through():
    assert decide(now=1000, order=order(epoch=2), pending=order(epoch=1), handed_over={1}) == (
        "vote"
    )


def test_a_carried_lock_of_an_other_payment_locks_the_sequence():
    candidate = order(epoch=1, recipient=BOB)
    refused = decide(
        me=node(5), now=1000, order=order(epoch=2), handed_over={1}, carried=[candidate]
    )
    assert refused == Refusal("sequence_locked", {"order": candidate})


def test_carried_locks_of_the_same_payment_let_the_re_epoched_order_through():
    carried = [order(epoch=1), order(epoch=1)]
    decision = decide(me=node(5), now=1000, order=order(epoch=2), handed_over={1}, carried=carried)
    assert decision == "vote"


def test_one_conflicting_candidate_among_same_ones_is_enough_to_lock():
    other = order(epoch=1, amount=7)
    refused = decide(
        me=node(5),
        now=1000,
        order=order(epoch=2),
        handed_over={1},
        carried=[order(epoch=1), other],
    )
    assert refused == Refusal("sequence_locked", {"order": other})


def test_the_sequence_mismatch_comes_before_the_locks():
    refused = decide(order=order(sequence=3), carried=[order(recipient=BOB, sequence=3)])
    assert refused.code == "sequence_mismatch"


def test_a_balance_below_the_amount_is_refused():
    assert decide(balance=99) == Refusal("insufficient_balance", {"balance": 99})
    assert decide(balance=-5) == Refusal("insufficient_balance", {"balance": -5})


def test_a_balance_equal_to_the_amount_is_enough():
    assert decide(balance=100) == "vote"


def test_the_locks_come_before_the_balance():
    refused = decide(order=order(recipient=BOB), pending=order(), balance=0)
    assert refused.code == "sequence_locked"


# ------------------------------------------------------------------ apply_decision


def apply(**changes):
    state = {"order": order(), "next_sequence": 0, "applied_at_sequence": None}
    state.update(changes)
    return handoff.apply_decision(**state)


def test_the_next_sequence_is_applied_whatever_the_epoch():
    assert apply() == "apply"
    assert apply(order=order(epoch=1, sequence=4), next_sequence=4) == "apply"


def test_a_certificate_past_the_next_sequence_is_missing_earlier_ones():
    assert apply(order=order(sequence=2)) == Refusal("missing_sequence", {"next_sequence": 0})


def test_the_same_payment_again_is_a_noop():
    assert apply(next_sequence=1, applied_at_sequence=order()) == "noop"


def test_the_same_payment_of_another_epoch_is_a_noop():
    assert apply(order=order(epoch=2), next_sequence=1, applied_at_sequence=order(epoch=1)) == (
        "noop"
    )


def test_an_other_payment_at_an_applied_sequence_is_a_conflicting_certificate():
    applied = order()
    refused = apply(
        order=order(epoch=2, recipient=BOB), next_sequence=1, applied_at_sequence=applied
    )
    assert refused == Refusal("conflicting_certificate", {"order": applied})


def test_a_sequence_before_the_known_history_is_a_noop():
    assert apply(order=order(sequence=0), next_sequence=5) == "noop"


# ------------------------------------------------------------------ the handover


def test_the_handover_needs_more_than_two_thirds_of_the_stake():
    old = SCHEDULE.committee(1)
    assert handoff.handover_sources_enough(old, [node(1), node(2), node(3)])
    assert not handoff.handover_sources_enough(old, [node(1), node(2)])


def test_exactly_two_thirds_of_the_stake_is_not_enough():
    # total 9, 2/3 = 6; no member holds a third (refused in committees of 4 or more)
    weighted = committee(1, [1, 2, 3, 4, 5, 6], [2, 2, 2, 1, 1, 1])
    assert not handoff.handover_sources_enough(weighted, [node(1), node(2), node(3)])  # 6
    assert not handoff.handover_sources_enough(weighted, [node(1), node(4), node(5), node(6)])
    assert handoff.handover_sources_enough(weighted, [node(1), node(2), node(3), node(4)])  # 7


def test_the_handover_quorum_is_exact_with_huge_stakes():
    big = 10**30
    weighted = committee(1, [1, 2, 3], [big, big, big + 1])  # total 3*big + 1
    # 2*big + 1 > 2/3 * (3*big + 1) = 2*big + 2/3: a float would call it equal
    assert handoff.handover_sources_enough(weighted, [node(2), node(3)])
    assert not handoff.handover_sources_enough(weighted, [node(1), node(2)])  # 2*big


def test_sources_count_once_and_outsiders_count_nothing():
    old = SCHEDULE.committee(1)
    assert not handoff.handover_sources_enough(old, [node(1), node(1), node(1).upper()[2:]])
    assert not handoff.handover_sources_enough(old, [node(1), node(2), node(5), node(6)])
    assert handoff.handover_sources_enough(old, [node(1), node(2), "0x" + "03" * 20])


def test_a_source_serves_frozen_state_only_once_its_clock_passed_the_close():
    assert not handoff.serves_frozen(SCHEDULE, 1, 999)
    assert handoff.serves_frozen(SCHEDULE, 1, 1000)
    assert not handoff.serves_frozen(SCHEDULE, 2, 10**9)


def test_a_source_that_missed_the_previous_handover_does_not_serve_frozen_state():
    longer = SCHEDULE.with_epoch(EpochInfo(3, committee(3, [1, 2, 5, 7]), 2000))
    assert not handoff.serves_frozen(longer, 2, 2000, handed_over=set())
    assert handoff.serves_frozen(longer, 2, 2000, handed_over={1})
    assert handoff.serves_frozen(longer, 1, 1000, handed_over=set())  # the first epoch


def test_the_epoch_to_hand_over_is_the_previous_known_one():
    assert handoff.handover_epoch(SCHEDULE, 2) == 1
    assert handoff.handover_epoch(SCHEDULE, 1) is None


def test_a_pending_entry_is_carried_only_at_the_next_sequence_without_a_certificate():
    entry = order(sequence=3)
    assert handoff.carried_candidate(entry=entry, next_sequence=3, certified_at_sequence=False)
    assert not handoff.carried_candidate(entry=entry, next_sequence=3, certified_at_sequence=True)
    assert not handoff.carried_candidate(entry=entry, next_sequence=4, certified_at_sequence=False)
    assert not handoff.carried_candidate(entry=entry, next_sequence=2, certified_at_sequence=False)
