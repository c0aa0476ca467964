"""The committee client's equivocation watch, alone and inside a client talking to fake
authorities that sign two orders for one (sender, sequence). No Django."""

import threading

import pytest
from eth_account import Account

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee import VoteWatch

DOMAIN = td.Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
AUTHORITY = Account.from_key(b"\x07" * 32)
SENDER = Account.from_key(b"\x09" * 32).address


def order(amount, sequence=0, epoch=1):
    return td.TransferOrder(SENDER, "0x" + "78" * 20, "0x" + "55" * 20, amount, sequence, epoch)


def vote(o, key=AUTHORITY.key):
    return td.sign_vote(DOMAIN, o, key)


def test_the_same_order_again_is_not_equivocation():
    found = []
    watch = VoteWatch(on_equivocation=found.append)
    a = order(5)
    assert watch.observe(AUTHORITY.address, a, vote(a)) is None
    assert watch.observe(AUTHORITY.address, a, vote(a)) is None
    assert watch.observe(AUTHORITY.address, order(5, sequence=1), vote(order(5, 1))) is None
    assert found == [] and watch.found == 0


def test_two_orders_for_one_sequence_are_reported_once_in_the_order_seen():
    found = []
    watch = VoteWatch(on_equivocation=found.append)
    a, b, c = order(5), order(6), order(7)
    watch.observe(AUTHORITY.address, a, vote(a))

    result = watch.observe(AUTHORITY.address.lower(), b, vote(b))  # any address case
    watch.observe(AUTHORITY.address, c, vote(c))

    assert found == [result]
    assert (result.first.order, result.second.order) == (a, b)
    assert result.first.vote.signature == vote(a)
    assert signing.signed_by(
        signing.Hasher(DOMAIN).vote_digest(b), result.second.vote.signature, AUTHORITY.address
    )


def test_another_payment_at_the_same_sequence_in_another_epoch_is_equivocation_too():
    watch = VoteWatch()
    a, b = order(5, epoch=1), order(6, epoch=2)
    watch.observe(AUTHORITY.address, a, vote(a))
    assert watch.observe(AUTHORITY.address, b, vote(b)) is not None


def test_the_same_payment_re_signed_for_the_next_epoch_is_not_equivocation():
    """The handover rule makes a member of epoch 2 vote for the payment it voted for in
    epoch 1, re-signed by the sender for epoch 2: that is no evidence, whichever comes
    first."""
    found = []
    watch = VoteWatch(on_equivocation=found.append)
    a, moved = order(5, epoch=1), order(5, epoch=2)
    assert watch.observe(AUTHORITY.address, a, vote(a)) is None
    assert watch.observe(AUTHORITY.address, moved, vote(moved)) is None
    other = td.TransferOrder(SENDER, "0x" + "79" * 20, "0x" + "55" * 20, 5, 0, 2)
    assert watch.observe(AUTHORITY.address, other, vote(other)) is not None  # other recipient
    assert len(found) == 1


def test_votes_under_unrelated_scopes_are_never_compared():
    watch = VoteWatch()
    a, b = order(5), order(6)
    watch.observe(AUTHORITY.address, a, vote(a), scope=(1, "0xaa"))
    assert watch.observe(AUTHORITY.address, b, vote(b), scope=(2, "0xbb")) is None
    assert watch.observe(AUTHORITY.address, b, vote(b), scope=(1, "0xaa")) is not None


def test_it_remembers_only_the_last_size_keys():
    watch = VoteWatch(size=2)
    for sequence in range(3):
        o = order(5, sequence)
        watch.observe(AUTHORITY.address, o, vote(o))
    assert len(watch) == 2
    forgotten = order(6, 0)
    assert watch.observe(AUTHORITY.address, forgotten, vote(forgotten)) is None
    remembered = order(6, 2)
    assert watch.observe(AUTHORITY.address, remembered, vote(remembered)) is not None


def test_a_failing_handler_does_not_reach_the_caller():
    def boom(found):
        raise RuntimeError("database down")

    watch = VoteWatch(on_equivocation=boom)
    a, b = order(5), order(6)
    watch.observe(AUTHORITY.address, a, vote(a))
    assert watch.observe(AUTHORITY.address, b, vote(b)) is not None


def test_concurrent_conflicting_votes_are_reported_exactly_once():
    found = []
    watch = VoteWatch(on_equivocation=found.append)
    orders = [order(amount) for amount in range(1, 17)]
    votes = [vote(o) for o in orders]
    start = threading.Barrier(len(orders))

    def observe(i):
        start.wait()
        watch.observe(AUTHORITY.address, orders[i], votes[i])

    threads = [threading.Thread(target=observe, args=(i,)) for i in range(len(orders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 1


def test_size_must_be_positive():
    with pytest.raises(ValueError):
        VoteWatch(size=0)
