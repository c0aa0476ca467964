"""Withdrawing on-chain vault balances (credited by redemptions), directly or via the registry."""

import brownie
from certificates import certify
from conftest import UNIT, USDT
from revert_reasons import error


def redeem_for_bob(processor, domain, committee, make_order, bob, units=30):
    """Bob redeems ``units`` (a redemption certificate of his): his vault balance grows."""
    order = make_order(sender=bob, amount=units * UNIT)
    processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))


def test_a_redeemer_withdraws_its_balance(
    funded, processor, vault, usdt, bob, carol, domain, committee, make_order
):
    redeem_for_bob(processor, domain, committee, make_order, bob)
    before = usdt.balanceOf(carol)
    tx = vault.withdraw(usdt, 20 * USDT, carol, {"from": bob})
    assert tx.events["Withdrawn"] == {
        "account": bob,
        "token": usdt,
        "to": carol,
        "amount": 20 * USDT,
    }
    assert usdt.balanceOf(carol) - before == 20 * USDT
    assert vault.balanceOf(bob, usdt) == 10 * USDT


def test_withdraw_tokens_through_the_registry_pays_the_caller(
    funded, processor, registry, vault, usdt, bob, domain, committee, make_order
):
    redeem_for_bob(processor, domain, committee, make_order, bob)
    before = usdt.balanceOf(bob)
    registry.withdrawTokens(usdt, 30 * USDT, {"from": bob})
    assert usdt.balanceOf(bob) - before == 30 * USDT
    assert registry.getUserBalance(bob, usdt) == 0


def test_nobody_withdraws_more_than_their_balance(
    funded, processor, vault, registry, usdt, bob, alice, domain, committee, make_order
):
    redeem_for_bob(processor, domain, committee, make_order, bob)
    with brownie.reverts(error("InsufficientBalance", 30 * USDT, 30 * USDT + 1)):
        vault.withdraw(usdt, 30 * USDT + 1, bob, {"from": bob})
    # the pool (Alice's deposit) is not Alice's withdrawable balance: it belongs to FastPay
    with brownie.reverts(error("InsufficientBalance", 0, USDT)):
        registry.withdrawTokens(usdt, USDT, {"from": alice})


def test_zero_amounts_and_the_zero_address_are_refused(
    funded, processor, vault, usdt, bob, domain, committee, make_order
):
    redeem_for_bob(processor, domain, committee, make_order, bob)
    with brownie.reverts(error("ZeroAmount")):
        vault.withdraw(usdt, 0, bob, {"from": bob})
    with brownie.reverts(error("ZeroAddress")):
        vault.withdraw(usdt, USDT, "0x" + "00" * 20, {"from": bob})
