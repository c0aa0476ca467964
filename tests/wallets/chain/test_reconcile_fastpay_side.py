"""The offline app's FastPay side in custody reconciliation (offline/chain_holdings.py):
the platform's float is deposited into the TokenVault outside the ledger; a FUND moves a
user's AVAILABLE to CLEARING while the platform's FastPay account pays the user's at the
committee. The side is whole when committee balance + CLEARING == float deposited, and
then the run is clean; a committee balance that is off is drift; a FUND the committee has
not paid yet is explained. On anvil with the real vault and registry; the committee's
answer comes from a stand-in gateway (the platform asks it for the account's balance)."""

from __future__ import annotations

import pytest
from django.db import transaction

from authorities.gateway import CommitteeUnavailable
from offline.models import OfflineTransfer, PlatformAccount, TransferDirection, TransferState
from offline.services import transfers
from tests.authorities.anvil import deploy_deposits, deposit
from tests.wallets.chain.reconcile_fixtures import cursor_to_head, deposit_record
from wallets.chain.models import ReconciliationLine, ReconciliationState
from wallets.chain.reconcile import reconcile_run
from wallets.models import AccountKind, EntryKind, Token
from wallets.services.ledger import Line, ledger_post, system_account, user_account

pytestmark = pytest.mark.django_db

UNIT = 10**6  # ledger units per USDT
TOKEN = 10**18  # base units per USDT
FLOAT_TOKENS = 1_000


class Committee:
    """What the gateway answers: the platform account's balance at the committee."""

    def __init__(self):
        self.balances: dict[str, int] = {}
        self.down = False

    def account_state(self, address):
        if self.down:
            raise CommitteeUnavailable("no quorum answered")
        return {"address": address, "balances": dict(self.balances)}


@pytest.fixture
def side(chain, chain_tokens, anvil, settings, tmp_path, monkeypatch):
    """The vault and registry deployed, the platform's account 0 (anvil account 1)
    registered and funded with the float by a vault deposit, as `make run` does."""
    w3 = anvil.w3
    contracts = deploy_deposits(w3, tmp_path, members=[])
    settings.FASTPAY_DEPLOYMENT_JSON = contracts["path"]
    usdt = Token.objects.get(symbol="USDT")
    usdt.contract_address = contracts["usdt"].address
    usdt.save()
    anvil._contracts["vault-usdt"] = contracts["usdt"]  # anvil.mint(usdt.contract_address, ...)
    platform = w3.eth.accounts[1]
    deposit(w3, contracts, platform, FLOAT_TOKENS)
    PlatformAccount.objects.create(address=platform, index=0)
    committee = Committee()
    committee.balances[usdt.contract_address] = FLOAT_TOKENS * UNIT
    monkeypatch.setattr(transfers, "gateway", lambda: committee)
    return {"usdt": usdt, "platform": platform, "committee": committee, "contracts": contracts}


def _fund(user, token, units):
    """The ledger side of a FUND (offline.services.transfers._fund_reserve)."""
    with transaction.atomic():
        ledger_post(
            kind=EntryKind.OFFLINE_FUND,
            reference=f"offline:{user.pk}",
            lines=[
                Line(user_account(user, token, AccountKind.AVAILABLE), -units),
                Line(system_account(token, AccountKind.CLEARING), units),
            ],
        )


def _line(run, kind):
    return ReconciliationLine.objects.get(run=run, kind=kind, token__symbol="USDT")


def test_the_fastpay_side_reconciles_after_a_fund(side, chain, anvil, deposit_address):
    usdt, committee = side["usdt"], side["committee"]
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt.contract_address, alice.address, 100 * TOKEN))
    _fund(alice.user, usdt, 30 * UNIT)  # alice moves 30 offline: the platform account pays
    committee.balances[usdt.contract_address] = (FLOAT_TOKENS - 30) * UNIT
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.CLEAN, list(run.lines.values_list("kind", "note"))
    assert _line(run, "fastpay_side").onchain_units == (FLOAT_TOKENS - 30) * UNIT
    assert _line(run, "fastpay_side").address == side["platform"]
    assert _line(run, "fastpay_clearing").onchain_units == 30 * UNIT
    assert _line(run, "fastpay_float").onchain_units == -FLOAT_TOKENS * UNIT
    total = ReconciliationLine.objects.get(run=run, token=usdt, kind="total")
    assert (total.onchain_units, total.ledger_units) == (100 * UNIT, 100 * UNIT)


def test_a_committee_balance_that_is_off_is_drift(side, chain, anvil):
    usdt, committee = side["usdt"], side["committee"]
    committee.balances[usdt.contract_address] = (FLOAT_TOKENS - 10) * UNIT  # 10 gone
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.DRIFT
    assert run.drift_units == 10 * UNIT
    assert _line(run, "drift").difference_units == -10 * UNIT


def test_a_fund_not_yet_paid_by_the_committee_is_explained(side, chain, anvil, deposit_address):
    usdt = side["usdt"]
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt.contract_address, alice.address, 50 * TOKEN))
    _fund(alice.user, usdt, 5 * UNIT)
    OfflineTransfer.objects.create(
        user=alice.user,
        direction=TransferDirection.FUND,
        token=usdt,
        amount=5 * UNIT,
        state=TransferState.PENDING,
        sender=side["platform"],
        recipient="0x" + "cd" * 20,
        sequence=0,
        epoch=1,
    )
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.EXPLAINED
    unpaid = _line(run, "fund_unpaid")
    assert unpaid.difference_units == 5 * UNIT and unpaid.explained
    assert run.drift_units == 0


def test_an_unreachable_committee_makes_an_error_run(side, chain, anvil):
    side["committee"].down = True
    cursor_to_head(chain, anvil)
    run = reconcile_run(chain=chain)
    assert run.state == ReconciliationState.ERROR
    assert "committee did not answer" in run.error
