import brownie
from brownie import MockUSDC
from revert_reasons import error, unauthorized


def test_it_lists_a_token_with_its_decimals_and_scale(vault, usdt, usdc):
    assert vault.tokenCount() == 2
    assert vault.tokens(0) == usdt and vault.tokens(1) == usdc
    scale, token_id, decimals, ledger_decimals, enabled = vault.tokenConfig(usdt)
    assert (scale, token_id, decimals, ledger_decimals, enabled) == (10**12, 0, 18, 6, True)
    assert vault.scaleOf(usdc) == 1


def test_it_emits_token_added(vault, admin):
    token = MockUSDC.deploy({"from": admin})
    tx = vault.addToken(token, 6, {"from": admin})
    assert tx.events["TokenAdded"] == {
        "token": token,
        "id": 2,
        "decimals": 6,
        "ledgerDecimals": 6,
    }


def test_it_refuses_a_token_twice(vault, usdt, admin):
    with brownie.reverts(error("TokenAlreadyListed", usdt)):
        vault.addToken(usdt, 6, {"from": admin})


def test_it_refuses_fewer_decimals_than_the_ledger(vault, admin):
    token = MockUSDC.deploy({"from": admin})
    with brownie.reverts(error("UnsupportedDecimals", 6, 8)):
        vault.addToken(token, 8, {"from": admin})


def test_a_stranger_cannot_list_a_token(vault, stranger, admin):
    token = MockUSDC.deploy({"from": admin})
    with brownie.reverts(unauthorized(stranger, vault.DEFAULT_ADMIN_ROLE())):
        vault.addToken(token, 6, {"from": stranger})


def test_deposits_can_be_disabled_and_enabled(vault, usdt, admin):
    tx = vault.setDepositsEnabled(usdt, False, {"from": admin})
    assert tx.events["DepositsEnabled"] == {"token": usdt, "enabled": False}
    assert vault.tokenConfig(usdt)[4] is False


def test_unknown_token_has_no_scale(vault, admin):
    with brownie.reverts(error("TokenNotListed", admin)):
        vault.scaleOf(admin)
