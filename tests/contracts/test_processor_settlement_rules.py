"""The settlement rules every path shares (attacks of issue 11, section 2):

- any order: a sender's redemptions settle in any order, each exactly once, whatever the
  path (processOfflinePayment, submitBatch, submitCommitteeBatch) and in any mix of them;
- a bounded window: certificates of epoch e settle only until settlesUntil(e), so a retired
  committee cannot certify a redemption that still settles;
- a committee batch names its processor and vault: it cannot be replayed on a redeployed
  processor nor against another vault.
"""

import brownie
import pytest
from batch_signing import redeemed, sign_batch
from brownie import chain
from certificates import certify
from conftest import UNIT, USDT, advance_epoch, sleep_until
from revert_reasons import certificate_invalid, error, selector, selector_of

from fastpay_protocol import typed_data as td
from scripts.deploy import deploy_settlement

WINDOW_CLOSED = selector_of("SettlementWindowClosed(uint64,uint64)")


def items(*redemptions):
    return td.pack_batch_items(
        td.BatchItem.redemption(str(s), q, t, a) for s, q, t, a in redemptions
    )


def committee_batch(processor, domain, committee, settler, batch_id, words, epoch=1):
    signatures = sign_batch(domain, processor, epoch, batch_id, words, committee[:3])
    return processor.submitCommitteeBatch(epoch, batch_id, words, signatures, {"from": settler})


def reasons(tx):
    if "CertificateRejected" not in tx.events:
        return []
    return [(e["index"], bytes(e["reason"])) for e in tx.events["CertificateRejected"]]


# ---------------------------------------------------------------- any order, once


def test_a_later_certificate_settled_first_strands_nothing_in_a_batch(
    funded, processor, vault, usdt, alice, settler, domain, committee, make_order
):
    # attack: a certificate-holder front-runs with the sender's later redemption
    later, earlier = make_order(sequence=9, amount=UNIT), make_order(sequence=3, amount=2 * UNIT)
    processor.processOfflinePayment(later.as_tuple(), certify(domain, later, committee[:3]))
    tx = processor.submitBatch(
        [earlier.as_tuple()], [certify(domain, earlier, committee[:3])], {"from": settler}
    )
    assert tx.return_value == 1
    assert vault.balanceOf(alice, usdt) == 3 * USDT
    assert redeemed(processor, alice, 3, 9, 4) == [True, True, False]


def test_an_out_of_order_committee_batch_settles_every_item(
    funded, processor, vault, usdt, alice, bob, settler, domain, committee
):
    # items in descending sequence order, and batch 7 settled before batch 2
    tx = committee_batch(
        processor,
        domain,
        committee,
        settler,
        7,
        items((alice, 5, 0, UNIT), (bob, 1, 0, UNIT), (alice, 2, 0, UNIT), (alice, 0, 0, UNIT)),
    )
    assert tx.return_value == 4 and reasons(tx) == []
    tx = committee_batch(processor, domain, committee, settler, 2, items((alice, 1, 0, UNIT)))
    assert tx.return_value == 1
    assert redeemed(processor, alice, 0, 1, 2, 3, 4, 5) == [True, True, True, False, False, True]
    assert vault.balanceOf(alice, usdt) == 4 * USDT and vault.balanceOf(bob, usdt) == USDT
    assert processor.isBatchSettled(7) and processor.isBatchSettled(2)
    assert not processor.isBatchSettled(0)


def test_a_sequence_repeated_inside_one_committee_batch_settles_once(
    funded, processor, vault, usdt, alice, settler, domain, committee
):
    words = items((alice, 4, 0, UNIT), (alice, 4, 0, 7 * UNIT))
    tx = committee_batch(processor, domain, committee, settler, 0, words)
    assert tx.return_value == 1
    assert reasons(tx) == [(1, selector("SequenceAlreadyRedeemed"))]
    assert vault.balanceOf(alice, usdt) == USDT


def test_a_certificate_repeated_inside_one_batch_settles_once(
    funded, processor, vault, usdt, alice, settler, domain, committee, make_order
):
    order = make_order(sequence=2)
    certificate = certify(domain, order, committee[:3])
    tx = processor.submitBatch(
        [order.as_tuple()] * 2,
        [certificate, certify(domain, order, committee[1:])],
        {"from": settler},
    )
    assert tx.return_value == 1
    assert reasons(tx) == [(1, selector("SequenceAlreadyRedeemed"))]
    assert vault.balanceOf(alice, usdt) == 25 * USDT


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("single", "batch"),
        ("single", "committee"),
        ("batch", "single"),
        ("batch", "committee"),
        ("committee", "single"),
        ("committee", "batch"),
        ("committee", "committee"),
    ],
)
def test_a_redemption_settled_in_one_path_is_refused_in_every_other(
    funded, processor, vault, usdt, alice, settler, domain, committee, make_order, first, second
):
    order = make_order(sequence=11, amount=4 * UNIT)
    batch_ids = iter(range(100))

    def settle(path):
        if path == "single":
            return processor.processOfflinePayment(
                order.as_tuple(), certify(domain, order, committee[:3])
            )
        if path == "batch":
            return processor.submitBatch(
                [order.as_tuple()], [certify(domain, order, committee[:3])], {"from": settler}
            )
        words = items((alice, 11, 0, 4 * UNIT))
        return committee_batch(processor, domain, committee, settler, next(batch_ids), words)

    settle(first)
    assert vault.balanceOf(alice, usdt) == 4 * USDT
    if second == "single":
        with brownie.reverts(certificate_invalid("SequenceAlreadyRedeemed")):
            settle(second)
    else:
        tx = settle(second)
        assert tx.return_value == 0
        assert reasons(tx) == [(0, selector("SequenceAlreadyRedeemed"))]
    assert vault.balanceOf(alice, usdt) == 4 * USDT
    assert vault.poolBalance(usdt) == 996 * USDT


def test_a_replayed_committee_batch_is_refused_as_a_whole(
    funded, processor, alice, settler, domain, committee
):
    words = items((alice, 0, 0, UNIT))
    signatures = sign_batch(domain, processor, 1, 3, words, committee[:3])
    processor.submitCommitteeBatch(1, 3, words, signatures, {"from": settler})
    with brownie.reverts(error("BatchAlreadySettled", 3)):
        processor.submitCommitteeBatch(1, 3, words, signatures, {"from": settler})


# ---------------------------------------------------------------- bounded settlement window


@pytest.fixture
def retired(
    funded, processor, consensus, governance, manager, alice, domain, committee, make_order
):
    """Three epoch-1 redemptions certified, then epoch 2 installed and active: epoch 1 is
    retired and its certificates settle only until settlesUntil(1)."""
    orders = [make_order(sequence=s, amount=UNIT, epoch=1) for s in range(3)]
    certificates = [certify(domain, o, committee[:3]) for o in orders]
    assert consensus.settlesUntil(1) == 0  # no successor yet: no limit
    advance_epoch(governance, manager)
    until = int(consensus.settlesUntil(1))
    assert until == int(consensus.activatesAt(2)) + int(consensus.settlementWindow())
    assert processor.settlesUntil(1) == until
    return orders, certificates, until


def test_a_retired_committee_certificate_settles_within_the_window(
    retired, processor, vault, usdt, alice
):
    orders, certificates, until = retired
    assert chain.time() < until
    processor.processOfflinePayment(orders[0].as_tuple(), certificates[0])
    assert vault.balanceOf(alice, usdt) == USDT


def test_a_retired_committee_certificate_fails_after_the_window(
    retired, processor, vault, usdt, alice, settler, domain, committee, make_order
):
    # attack: a retired committee (its stake withdrawn, nothing left to slash) certifies a
    # redemption of the pool long after its epoch; it must not settle any more
    orders, certificates, until = retired
    sleep_until(until + 1)
    with brownie.reverts(error("SettlementWindowClosed", 1, until)):
        processor.processOfflinePayment(orders[0].as_tuple(), certificates[0])
    tx = processor.submitBatch(
        [o.as_tuple() for o in orders[1:]], certificates[1:], {"from": settler}
    )
    assert tx.return_value == 0
    assert reasons(tx) == [(0, WINDOW_CLOSED), (1, WINDOW_CLOSED)]
    words = items((alice, 0, 0, UNIT))
    with brownie.reverts(error("SettlementWindowClosed", 1, until)):
        committee_batch(processor, domain, committee, settler, 0, words, epoch=1)
    assert vault.balanceOf(alice, usdt) == 0
    # the current committee's certificates settle as before
    current = make_order(sequence=5, amount=UNIT, epoch=2)
    processor.processOfflinePayment(current.as_tuple(), certify(domain, current, committee[:3]))
    tx = committee_batch(processor, domain, committee, settler, 0, items((alice, 6, 0, UNIT)), 2)
    assert tx.return_value == 1
    assert vault.balanceOf(alice, usdt) == 2 * USDT


def test_the_window_floor_outlasts_the_longest_pause(consensus, processor, vault):
    # pins the relation CommitteeConsensus derives MIN_SETTLEMENT_WINDOW from: the longest
    # pause plus the shortest gap between two pauses plus a margin (7 days)
    pause, cooldown = int(processor.MAX_PAUSE_DURATION()), int(processor.PAUSE_COOLDOWN())
    floor = int(consensus.MIN_SETTLEMENT_WINDOW())
    assert floor == pause + cooldown + int(consensus.SETTLEMENT_MARGIN()) == 7 * 86400
    assert int(consensus.SETTLEMENT_MARGIN()) > 0
    assert (vault.MAX_PAUSE_DURATION(), vault.PAUSE_COOLDOWN()) == (pause, cooldown)
    assert int(consensus.settlementWindow()) >= floor


def test_a_closed_epoch_settles_right_after_the_longest_pause(
    retired, processor, consensus, vault, usdt, alice, guardian, settler, domain, committee
):
    # attack (review of issue 11): the guardian pauses the processor as epoch 1 closes, for
    # the longest pause, hoping epoch 1's window ends first (its senders were already
    # debited in FastPay). The window's floor outlasts the pause and the cooldown after it.
    orders, certificates, until = retired
    assert int(consensus.settlementWindow()) == int(consensus.MIN_SETTLEMENT_WINDOW())
    tx = processor.pause({"from": guardian})
    assert tx.timestamp >= consensus.activatesAt(2)  # paused after epoch 1 closed
    paused_until = int(processor.pausedUntil())
    assert paused_until == tx.timestamp + int(processor.MAX_PAUSE_DURATION())
    sleep_until(paused_until)
    assert not processor.paused()
    # the guardian cannot pause again at once, and a cooldown plus a margin is left
    cooldown = int(processor.PAUSE_COOLDOWN())
    with brownie.reverts(error("PauseCooldown", paused_until + cooldown)):
        processor.pause({"from": guardian})
    assert until - paused_until >= cooldown + int(consensus.SETTLEMENT_MARGIN()) - 60
    processor.processOfflinePayment(orders[0].as_tuple(), certificates[0])
    tx = processor.submitBatch(
        [o.as_tuple() for o in orders[1:]], certificates[1:], {"from": settler}
    )
    assert tx.return_value == 2
    assert vault.balanceOf(alice, usdt) == 3 * USDT


# ---------------------------------------------------------------- the batch binds processor + vault


@pytest.fixture
def redeployed(funded, verifier, admin, guardian, settler, alice, usdt):
    """A second vault + registry + processor on the same committee (a redeployment or the
    successor of a migration), funded with 100 USDT of Alice's."""
    vault, registry, processor = deploy_settlement(
        admin, verifier, admin=admin, guardian=guardian, settler=settler
    )
    vault.addToken(usdt, 6, {"from": admin})
    registry.registerUser({"from": alice})
    usdt.approve(vault, 2**256 - 1, {"from": alice})
    registry.depositTokens(usdt, 100 * USDT, {"from": alice})
    return vault, processor


def test_an_old_batch_replayed_on_a_redeployed_processor_fails(
    redeployed, processor, alice, settler, domain, committee
):
    new_vault, new_processor = redeployed
    words = items((alice, 0, 0, UNIT))
    old_signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    processor.submitCommitteeBatch(1, 0, words, old_signatures, {"from": settler})
    # the same batch, with the same id, on the new processor: the signatures name the old one
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        new_processor.submitCommitteeBatch(1, 0, words, old_signatures, {"from": settler})
    assert new_vault.balanceOf(alice, new_vault.tokens(0)) == 0
    # a batch signed for the new processor settles there
    new_signatures = sign_batch(domain, new_processor, 1, 0, words, committee[:3])
    tx = new_processor.submitCommitteeBatch(1, 0, words, new_signatures, {"from": settler})
    assert tx.return_value == 1


def test_a_batch_signed_for_another_vault_fails(
    redeployed, processor, alice, settler, domain, committee
):
    new_vault, _ = redeployed
    words = items((alice, 0, 0, UNIT))
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3], vault=new_vault)
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
