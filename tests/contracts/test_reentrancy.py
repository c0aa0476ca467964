"""A hostile token calls back into FastPay during its own transfers: every re-entry fails."""

import pytest
from brownie import ReentrantToken
from certificates import certify
from conftest import UNIT
from revert_reasons import selector_of

REENTRANT = selector_of("ReentrancyGuardReentrantCall()")


@pytest.fixture(scope="module")
def hostile(fastpay, vault, registry, admin, governance, alice, bob):
    token = ReentrantToken.deploy({"from": admin})
    governance(vault.addToken, token, 6)
    for user in (alice, bob):
        registry.registerUser({"from": user})
        token.mint(user, 1_000 * UNIT, {"from": user})
        token.approve(vault, 2**256 - 1, {"from": user})
    registry.depositTokens(token, 500 * UNIT, {"from": alice})
    return token


def test_re_entering_the_registry_during_a_withdrawal_hits_the_guard(
    hostile, vault, registry, processor, bob, domain, committee, make_order
):
    # the token holds a vault balance (it redeemed as a FastPay sender) and tries to withdraw
    # it through the registry while the vault is in the middle of paying Bob
    for sender in (hostile, bob):
        order = make_order(sender=sender, token=hostile, amount=100 * UNIT)
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))
    hostile.arm(registry, registry.withdrawTokens.encode_input(hostile, 100 * UNIT), {"from": bob})
    vault.withdraw(hostile, 50 * UNIT, bob, {"from": bob})

    assert hostile.attempts() == 1 and not hostile.attackSucceeded()
    assert bytes(hostile.attackRevertData()) == REENTRANT
    assert vault.balanceOf(hostile, hostile) == 100 * UNIT
    assert vault.balanceOf(bob, hostile) == 50 * UNIT
    assert hostile.balanceOf(vault) == vault.poolBalance(hostile) + 150 * UNIT


def test_re_entering_withdraw_from_the_token_itself_hits_the_guard(
    hostile, vault, processor, domain, committee, make_order, bob
):
    order = make_order(sender=hostile, token=hostile, amount=100 * UNIT)
    processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))
    # the token holds a vault balance itself and tries to withdraw it mid-transfer
    order2 = make_order(sender=bob, token=hostile, amount=10 * UNIT)
    processor.processOfflinePayment(order2.as_tuple(), certify(domain, order2, committee[:3]))
    hostile.arm(vault, vault.withdraw.encode_input(hostile, 100 * UNIT, hostile), {"from": bob})
    vault.withdraw(hostile, 10 * UNIT, bob, {"from": bob})

    assert not hostile.attackSucceeded()
    assert bytes(hostile.attackRevertData()) == REENTRANT
    assert vault.balanceOf(hostile, hostile) == 100 * UNIT


def test_re_entering_deposit_during_a_deposit_hits_the_guard(hostile, vault, registry, alice):
    pool = vault.poolBalance(hostile)
    # the token first registers itself as a FastPay user (a mint triggers its callback)
    hostile.arm(registry, registry.registerUser.encode_input(), {"from": alice})
    hostile.mint(alice, 0, {"from": alice})
    assert hostile.attackSucceeded() and registry.isRegistered(hostile)
    hostile.arm(registry, registry.depositTokens.encode_input(hostile, UNIT), {"from": alice})
    registry.depositTokens(hostile, 10 * UNIT, {"from": alice})

    assert not hostile.attackSucceeded()
    assert bytes(hostile.attackRevertData()) == REENTRANT
    assert vault.poolBalance(hostile) == pool + 10 * UNIT
    assert hostile.balanceOf(vault) == vault.poolBalance(hostile)
