import brownie
from brownie import MockUSDC
from revert_reasons import error, unauthorized


def test_it_lists_a_token_with_its_decimals_and_scale(vault, usdt, usdc):
    assert vault.tokenCount() == 2
    assert vault.tokens(0) == usdt and vault.tokens(1) == usdc
    scale, token_id, decimals, ledger_decimals, enabled = vault.tokenConfig(usdt)
    assert (scale, token_id, decimals, ledger_decimals, enabled) == (10**12, 0, 18, 6, True)
    assert vault.scaleOf(usdc) == 1


def test_it_emits_token_added(vault, admin, governance):
    token = MockUSDC.deploy({"from": admin})
    tx = governance(vault.addToken, token, 6)  # the admin is the timelock
    assert tx.events["TokenAdded"] == {
        "token": token,
        "id": 2,
        "decimals": 6,
        "ledgerDecimals": 6,
    }


def test_it_refuses_a_token_twice(vault, usdt, governance):
    with brownie.reverts(error("TokenAlreadyListed", usdt)):
        governance(vault.addToken, usdt, 6)


def test_it_refuses_fewer_decimals_than_the_ledger(vault, admin, governance):
    token = MockUSDC.deploy({"from": admin})
    with brownie.reverts(error("UnsupportedDecimals", 6, 8)):
        governance(vault.addToken, token, 8)


def test_nobody_but_the_timelock_lists_a_token(vault, stranger, admin):
    token = MockUSDC.deploy({"from": admin})
    for account in (stranger, admin):  # the deployer holds no role on the vault
        with brownie.reverts(unauthorized(account, vault.DEFAULT_ADMIN_ROLE())):
            vault.addToken(token, 6, {"from": account})


def test_deposits_can_be_disabled_and_enabled(vault, usdt, governance):
    tx = governance(vault.setDepositsEnabled, usdt, False)
    assert tx.events["DepositsEnabled"] == {"token": usdt, "enabled": False}
    assert vault.tokenConfig(usdt)[4] is False


def test_unknown_token_has_no_scale(vault, admin):
    with brownie.reverts(error("TokenNotListed", admin)):
        vault.scaleOf(admin)
