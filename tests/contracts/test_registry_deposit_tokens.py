import brownie
from conftest import UNIT, USDC, USDT
from revert_reasons import error


def test_a_deposit_funds_the_pool_in_base_units_and_announces_ledger_units(
    funded, registry, vault, usdt, alice
):
    before = usdt.balanceOf(vault)
    tx = registry.depositTokens(usdt, 12 * USDT + USDT // 2, {"from": alice})
    assert tx.events["FastPayDeposit"] == {
        "depositId": 3,  # the funded fixture made deposits 1 and 2
        "account": alice,
        "token": usdt,
        "units": 12_500_000,
        "amount": 12 * USDT + USDT // 2,
    }
    assert tx.return_value == 3
    assert usdt.balanceOf(vault) - before == 12 * USDT + USDT // 2
    assert vault.poolBalance(usdt) == 1_000 * USDT + 12 * USDT + USDT // 2


def test_six_decimal_tokens_map_one_to_one(funded, registry, vault, usdc, alice):
    tx = registry.depositTokens(usdc, 7 * USDC, {"from": alice})
    assert tx.events["FastPayDeposit"]["units"] == 7 * UNIT
    assert tx.events["PoolDeposit"] == {
        "token": usdc,
        "from": alice,
        "amount": 7 * USDC,
        "units": 7 * UNIT,
    }


def test_dust_below_one_ledger_unit_reverts(funded, registry, usdt, alice):
    with brownie.reverts(error("NotWholeLedgerUnits", USDT + 1, 10**12)):
        registry.depositTokens(usdt, USDT + 1, {"from": alice})


def test_an_unregistered_account_cannot_deposit(funded, registry, usdt, stranger):
    with brownie.reverts(error("NotRegistered", stranger)):
        registry.depositTokens(usdt, USDT, {"from": stranger})


def test_an_unlisted_token_is_refused(funded, registry, alice, admin):
    from brownie import MockUSDT

    token = MockUSDT.deploy({"from": admin})
    with brownie.reverts(error("TokenNotListed", token)):
        registry.depositTokens(token, USDT, {"from": alice})


def test_zero_is_refused(funded, registry, usdt, alice):
    with brownie.reverts(error("ZeroAmount")):
        registry.depositTokens(usdt, 0, {"from": alice})


def test_deposits_of_a_disabled_token_are_refused(funded, registry, vault, usdt, alice, governance):
    governance(vault.setDepositsEnabled, usdt, False)
    with brownie.reverts(error("DepositsDisabled", usdt)):
        registry.depositTokens(usdt, USDT, {"from": alice})


def test_only_the_registry_may_pull_deposits(funded, vault, usdt, alice):
    with brownie.reverts(error("AccessControlUnauthorizedAccount", alice, vault.DEPOSITOR_ROLE())):
        vault.depositToPool(alice, usdt, USDT, {"from": alice})
