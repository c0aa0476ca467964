"""Emergency stop: the guardian pauses; everything that moves money stops; the admin resumes."""

import brownie
from certificates import certify, sign_batch
from conftest import UNIT, USDT
from revert_reasons import error, selector_of, unauthorized

from fastpay_protocol import typed_data as td

PAUSED = error("EnforcedPause")


def test_a_paused_vault_stops_deposits_withdrawals_and_credits(
    funded,
    vault,
    registry,
    processor,
    usdt,
    alice,
    bob,
    guardian,
    settler,
    domain,
    committee,
    make_order,
):
    order = make_order()
    processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))
    tx = vault.pause({"from": guardian})
    assert tx.events["Paused"] == {"account": guardian}

    with brownie.reverts(PAUSED):
        registry.depositTokens(usdt, USDT, {"from": alice})
    with brownie.reverts(PAUSED):
        vault.withdraw(usdt, USDT, bob, {"from": alice})
    with brownie.reverts(PAUSED):
        registry.withdrawTokens(usdt, USDT, {"from": alice})
    nxt = make_order(sequence=1)
    with brownie.reverts(PAUSED):
        processor.processOfflinePayment(nxt.as_tuple(), certify(domain, nxt, committee[:3]))
    # per-certificate batches skip each item with the vault's reason, nothing redeemed
    tx = processor.submitBatch(
        [nxt.as_tuple()], [certify(domain, nxt, committee[:3])], {"from": settler}
    )
    assert bytes(tx.events["CertificateRejected"]["reason"]) == selector_of("EnforcedPause()")
    assert processor.redeemedUpTo(alice) == 1
    # a committee batch credits through one vault call, so it reverts as a whole
    words = td.pack_batch_items([td.BatchItem.redemption(str(alice), 1, 0, UNIT)])
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    with brownie.reverts(PAUSED):
        processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    assert processor.redeemedUpTo(alice) == 1


def test_a_paused_processor_stops_every_settlement_path(
    funded, processor, alice, guardian, settler, domain, committee, make_order
):
    processor.pause({"from": guardian})
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    with brownie.reverts(PAUSED):
        processor.processOfflinePayment(order.as_tuple(), certificate)
    with brownie.reverts(PAUSED):
        processor.submitBatch([order.as_tuple()], [certificate], {"from": settler})
    words = td.pack_batch_items([td.BatchItem.redemption(str(alice), 0, 0, UNIT)])
    with brownie.reverts(PAUSED):
        processor.submitCommitteeBatch(
            1, 0, words, sign_batch(domain, 1, 0, words, committee[:3]), {"from": settler}
        )


def test_a_paused_registry_stops_registrations_deposits_and_withdrawals(
    funded, registry, usdt, alice, stranger, guardian
):
    registry.pause({"from": guardian})
    with brownie.reverts(PAUSED):
        registry.registerUser({"from": stranger})
    with brownie.reverts(PAUSED):
        registry.depositTokens(usdt, USDT, {"from": alice})
    with brownie.reverts(PAUSED):
        registry.withdrawTokens(usdt, USDT, {"from": alice})


def test_only_the_admin_resumes(funded, vault, registry, usdt, alice, guardian, admin):
    vault.pause({"from": guardian})
    with brownie.reverts(unauthorized(guardian, vault.DEFAULT_ADMIN_ROLE())):
        vault.unpause({"from": guardian})
    tx = vault.unpause({"from": admin})
    assert tx.events["Unpaused"] == {"account": admin}
    registry.depositTokens(usdt, USDT, {"from": alice})
    assert vault.poolBalance(usdt) == 1_001 * USDT
