"""TokenVault.creditBatch and tokenState, called directly by a stand-in processor: a vault
of its own whose fixed processor is Carol (the wiring roles are set at deployment only)."""

import brownie
import pytest
from brownie import TokenVault
from conftest import UNIT, USDC, USDT
from revert_reasons import error, unauthorized

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def processor_account(carol):
    return carol


@pytest.fixture(scope="module")
def direct(funded, admin, guardian, alice, usdt, usdc, processor_account):
    """Processor Carol, depositor the admin account, the same two tokens and a pool of
    1,000 of each (from Alice)."""
    vault = TokenVault.deploy(
        0, admin, guardian, admin, processor_account, ZERO, 2 * 86400, {"from": admin}
    )
    for token, one in ((usdt, USDT), (usdc, USDC)):
        vault.addToken(token, 6, {"from": admin})
        token.approve(vault, 2**256 - 1, {"from": alice})
        vault.depositToPool(alice, token, 1_000 * one, {"from": admin})
    return vault


def credit(account, units):
    return (int(str(account), 16) << 96) | units


def test_it_credits_runs_of_tokens_and_debits_each_pool(
    funded, direct, usdt, usdc, alice, bob, processor_account
):
    direct.creditBatch(
        [
            0,
            credit(alice, 2 * UNIT),
            0,
            credit(bob, 3 * UNIT),
            1,
            credit(bob, UNIT),
            0,
            credit(bob, UNIT),
        ],
        {"from": processor_account},
    )
    assert direct.balanceOf(alice, usdt) == 2 * USDT
    assert direct.balanceOf(bob, usdt) == 4 * USDT
    assert direct.balanceOf(bob, usdc) == USDC
    assert direct.poolBalance(usdt) == 994 * USDT
    assert direct.poolBalance(usdc) == 999 * USDC


def test_it_refuses_to_overdraw_a_pool(funded, direct, usdt, bob, processor_account):
    with brownie.reverts(error("InsufficientPool", usdt, 1_000 * USDT, 1_001 * USDT)):
        direct.creditBatch(
            [0, credit(bob, 1_000 * UNIT), 0, credit(bob, UNIT)], {"from": processor_account}
        )


def test_it_refuses_an_unknown_token_id(funded, direct, bob, processor_account):
    with brownie.reverts(error("UnknownTokenId", 5)):
        direct.creditBatch([5, credit(bob, UNIT)], {"from": processor_account})


def test_it_refuses_a_truncated_pair(funded, direct, processor_account):
    with brownie.reverts():
        direct.creditBatch([0], {"from": processor_account})


def test_it_is_for_the_processor_only(funded, direct, bob, stranger):
    with brownie.reverts(unauthorized(stranger, direct.PROCESSOR_ROLE())):
        direct.creditBatch([0, credit(bob, UNIT)], {"from": stranger})


def test_token_state_reports_address_scale_and_pool(funded, direct, usdt, usdc):
    for token_id, token, scale, pool in (
        (0, usdt, 10**12, 1_000 * USDT),
        (1, usdc, 1, 1_000 * USDC),
    ):
        address, actual_scale, actual_pool = direct.tokenState(token_id)
        assert (address, int(actual_scale), int(actual_pool)) == (token.address, scale, pool)
    with brownie.reverts(error("UnknownTokenId", 2)):
        direct.tokenState(2)


def test_it_refuses_the_zero_address(funded, direct, processor_account):
    with brownie.reverts(error("ZeroAddress")):
        direct.creditBatch([0, UNIT], {"from": processor_account})
