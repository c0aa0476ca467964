"""TokenVault.creditBatch and tokenState, called directly by a stand-in processor."""

import brownie
import pytest
from conftest import UNIT, USDC, USDT
from revert_reasons import error, unauthorized


@pytest.fixture(scope="module")
def processor_account(vault, admin, carol):
    vault.grantRole(vault.PROCESSOR_ROLE(), carol, {"from": admin})
    return carol


def credit(account, units):
    return (int(str(account), 16) << 96) | units


def test_it_credits_runs_of_tokens_and_debits_each_pool(
    funded, vault, usdt, usdc, alice, bob, processor_account
):
    vault.creditBatch(
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
    assert vault.balanceOf(alice, usdt) == 2 * USDT
    assert vault.balanceOf(bob, usdt) == 4 * USDT
    assert vault.balanceOf(bob, usdc) == USDC
    assert vault.poolBalance(usdt) == 994 * USDT
    assert vault.poolBalance(usdc) == 999 * USDC


def test_it_refuses_to_overdraw_a_pool(funded, vault, usdt, bob, processor_account):
    with brownie.reverts(error("InsufficientPool", usdt, 1_000 * USDT, 1_001 * USDT)):
        vault.creditBatch(
            [0, credit(bob, 1_000 * UNIT), 0, credit(bob, UNIT)], {"from": processor_account}
        )


def test_it_refuses_an_unknown_token_id(funded, vault, bob, processor_account):
    with brownie.reverts(error("UnknownTokenId", 5)):
        vault.creditBatch([5, credit(bob, UNIT)], {"from": processor_account})


def test_it_refuses_a_truncated_pair(funded, vault, processor_account):
    with brownie.reverts():
        vault.creditBatch([0], {"from": processor_account})


def test_it_is_for_the_processor_only(funded, vault, bob, stranger):
    with brownie.reverts(unauthorized(stranger, vault.PROCESSOR_ROLE())):
        vault.creditBatch([0, credit(bob, UNIT)], {"from": stranger})


def test_token_state_reports_address_scale_and_pool(funded, vault, usdt, usdc):
    for token_id, token, scale, pool in (
        (0, usdt, 10**12, 1_000 * USDT),
        (1, usdc, 1, 1_000 * USDC),
    ):
        address, actual_scale, actual_pool = vault.tokenState(token_id)
        assert (address, int(actual_scale), int(actual_pool)) == (token.address, scale, pool)
    with brownie.reverts(error("UnknownTokenId", 2)):
        vault.tokenState(2)


def test_it_refuses_the_zero_address(funded, vault, processor_account):
    with brownie.reverts(error("ZeroAddress")):
        vault.creditBatch([0, UNIT], {"from": processor_account})
