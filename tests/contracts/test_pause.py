"""Emergency stop: the guardian pauses; everything that moves money stops; the pause ends by
itself after MAX_PAUSE_DURATION (or earlier through the admin, the timelock), and a new one
waits PAUSE_COOLDOWN: no key can keep users from their money indefinitely."""

import brownie
import pytest
from batch_signing import sign_batch
from brownie import chain
from certificates import certify
from conftest import UNIT, USDT
from revert_reasons import error, unauthorized

from fastpay_protocol import typed_data as td

PAUSED = error("EnforcedPause")
DAY = 86400


def test_a_paused_vault_stops_deposits_and_withdrawals_not_settlement(
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
    # settlement credits move nothing out of the vault: they go on (only the processor's
    # pause stops settlement, so the vault's and the processor's pauses taken in turn
    # cannot outlast a closed epoch's settlement window)
    before = vault.balanceOf(alice, usdt)
    nxt = make_order(sequence=1)
    processor.processOfflinePayment(nxt.as_tuple(), certify(domain, nxt, committee[:3]))
    assert processor.isRedeemed(alice, 1)
    third = make_order(sequence=2)
    tx = processor.submitBatch(
        [third.as_tuple()], [certify(domain, third, committee[:3])], {"from": settler}
    )
    assert "CertificateRejected" not in tx.events
    assert processor.isRedeemed(alice, 2)
    words = td.pack_batch_items([td.BatchItem.redemption(str(alice), 3, 0, UNIT)])
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    assert processor.isRedeemed(alice, 3)
    assert vault.balanceOf(alice, usdt) > before
    # ... but nothing leaves until the pause ends
    with brownie.reverts(PAUSED):
        vault.withdraw(usdt, USDT, bob, {"from": alice})


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
            1,
            0,
            words,
            sign_batch(domain, processor, 1, 0, words, committee[:3]),
            {"from": settler},
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


def test_only_the_admin_resumes_early(
    funded, vault, registry, usdt, alice, guardian, admin, governance, timelock
):
    vault.pause({"from": guardian})
    for account in (guardian, admin):
        with brownie.reverts(unauthorized(account, vault.DEFAULT_ADMIN_ROLE())):
            vault.unpause({"from": account})
    tx = governance(vault.unpause)  # the timelock's delay is shorter than the pause
    assert tx.events["Unpaused"] == {"account": timelock}
    registry.depositTokens(usdt, USDT, {"from": alice})
    assert vault.poolBalance(usdt) == 1_001 * USDT


@pytest.mark.parametrize("name", ["vault", "registry", "processor"])
def test_a_pause_ends_by_itself_and_cannot_be_renewed_at_once(fastpay, guardian, name):
    # attack (issue 11): the guardian paused withdrawals indefinitely. A pause now lasts
    # MAX_PAUSE_DURATION at most, and the next one waits PAUSE_COOLDOWN after it.
    contract = getattr(fastpay, name)
    assert contract.MAX_PAUSE_DURATION() == 3 * DAY and contract.PAUSE_COOLDOWN() == DAY
    tx = contract.pause({"from": guardian})
    until = tx.timestamp + 3 * DAY
    assert contract.pausedUntil() == until and contract.paused()
    with brownie.reverts(PAUSED):
        contract.pause({"from": guardian})
    chain.sleep(3 * DAY + 1)
    chain.mine()
    assert not contract.paused()
    with brownie.reverts(error("PauseCooldown", until + DAY)):
        contract.pause({"from": guardian})
    chain.sleep(DAY)
    chain.mine()
    contract.pause({"from": guardian})
    assert contract.paused()


def test_users_withdraw_once_the_pause_expires(
    funded, vault, processor, usdt, alice, guardian, domain, committee, make_order
):
    order = make_order()
    processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))
    vault.pause({"from": guardian})
    with brownie.reverts(PAUSED):
        vault.withdraw(usdt, USDT, alice, {"from": alice})
    chain.sleep(3 * DAY + 1)
    vault.withdraw(usdt, 25 * USDT, alice, {"from": alice})  # nobody had to unpause
    assert vault.balanceOf(alice, usdt) == 0
