"""BatchTransfer: many transfers from the caller's own balance in one call, all or nothing,
one Paid event per transfer (merchant payouts, settlement/payouts)."""

import brownie
import pytest
from brownie import BatchTransfer, FreezableToken, MockUSDT, accounts
from revert_reasons import error

USDT = 10**18
MAX = 2**256 - 1


def ref(n):
    return n.to_bytes(32, "big")


@pytest.fixture(scope="module")
def hot():
    return accounts[1]


@pytest.fixture(scope="module")
def batch():
    return BatchTransfer.deploy({"from": accounts[0]})


@pytest.fixture(scope="module")
def usdt(hot, batch):
    token = MockUSDT.deploy({"from": accounts[0]})
    token.mint(hot, 1_000 * USDT, {"from": accounts[0]})
    token.approve(batch, MAX, {"from": hot})
    return token


@pytest.fixture(autouse=True)
def _isolate(fn_isolation):
    pass


def test_pays_every_recipient_with_one_event_each(batch, usdt, hot):
    recipients = [accounts[2], accounts[3], accounts[4]]
    amounts = [10 * USDT, 20 * USDT, 30 * USDT]
    before = usdt.balanceOf(hot)

    tx = batch.batchTransfer(usdt, recipients, amounts, [ref(1), ref(2), ref(3)], {"from": hot})

    assert tx.return_value == 60 * USDT
    assert usdt.balanceOf(hot) == before - 60 * USDT
    for account, amount in zip(recipients, amounts, strict=True):
        assert usdt.balanceOf(account) == amount
    paid = tx.events["Paid"]
    assert [(e["to"], e["amount"], bytes(e["ref"])) for e in paid] == [
        (str(r), a, ref(i + 1)) for i, (r, a) in enumerate(zip(recipients, amounts, strict=True))
    ]
    assert all(e["from"] == hot and e["token"] == usdt for e in paid)
    assert tx.events["BatchPaid"]["count"] == 3
    assert tx.events["BatchPaid"]["total"] == 60 * USDT


def test_moves_only_the_callers_tokens(batch, usdt, hot):
    """The hot wallet's unlimited approval is not usable by anyone else: another caller
    spends from its own balance (none here), never from the hot wallet's."""
    thief = accounts[5]
    with brownie.reverts():
        batch.batchTransfer(usdt, [thief], [USDT], [ref(1)], {"from": thief})
    assert usdt.balanceOf(thief) == 0
    assert usdt.balanceOf(hot) == 1_000 * USDT


def test_one_bad_item_reverts_the_whole_batch(batch, hot):
    token = FreezableToken.deploy({"from": accounts[0]})
    token.mint(hot, 100 * 10**6, {"from": accounts[0]})
    token.approve(batch, MAX, {"from": hot})
    token.setFrozen(accounts[3], True, {"from": accounts[0]})

    with brownie.reverts(error("AccountFrozen", accounts[3])):
        batch.batchTransfer(
            token, [accounts[2], accounts[3]], [10**6, 10**6], [ref(1), ref(2)], {"from": hot}
        )
    assert token.balanceOf(accounts[2]) == 0
    assert token.balanceOf(hot) == 100 * 10**6


def test_short_balance_reverts_everything(batch, usdt, hot):
    with brownie.reverts():
        batch.batchTransfer(
            usdt, [accounts[2], accounts[3]], [USDT, 1_000 * USDT], [ref(1), ref(2)], {"from": hot}
        )
    assert usdt.balanceOf(accounts[2]) == 0


def test_bad_input_is_refused(batch, usdt, hot):
    zero = "0x" + "0" * 40
    with brownie.reverts(error("EmptyBatch")):
        batch.batchTransfer(usdt, [], [], [], {"from": hot})
    with brownie.reverts(error("LengthMismatch")):
        batch.batchTransfer(usdt, [accounts[2]], [USDT, USDT], [ref(1)], {"from": hot})
    with brownie.reverts(error("LengthMismatch")):
        batch.batchTransfer(usdt, [accounts[2]], [USDT], [], {"from": hot})
    with brownie.reverts(error("ZeroRecipient", 1)):
        batch.batchTransfer(
            usdt, [accounts[2], zero], [USDT, USDT], [ref(1), ref(2)], {"from": hot}
        )
    with brownie.reverts(error("ZeroAmount", 0)):
        batch.batchTransfer(usdt, [accounts[2]], [0], [ref(1)], {"from": hot})
    many = 257
    with brownie.reverts(error("TooManyItems", many)):
        batch.batchTransfer(usdt, [accounts[2]] * many, [1] * many, [ref(1)] * many, {"from": hot})


def test_takes_no_ether(batch, hot):
    with brownie.reverts():
        hot.transfer(batch, 1)


def test_gas_per_item_of_a_large_batch_is_under_a_plain_transfer(batch, usdt, hot):
    """Figures, not the benchmark: a fresh recipient per item, as payouts are."""
    plain = usdt.transfer(accounts[6], USDT, {"from": hot}).gas_used
    recipients = [f"0x{n:040x}" for n in range(0x1000, 0x1000 + 50)]
    tx = batch.batchTransfer(
        usdt, recipients, [USDT] * 50, [ref(n) for n in range(50)], {"from": hot}
    )
    per_item = tx.gas_used / 50
    print(f"plain transfer {plain} gas, batch of 50: {per_item:.0f} gas per item")
    assert per_item < plain
