"""Fixtures of the withdrawal tests: the chain rows of the seeded tokens (no node: the
request side never calls the chain), a USDT policy with small thresholds, two reviewers,
and the hot wallet of the dev mnemonic sealed for the signer (tx_create signs offline).

The anvil tests (test_e2e_anvil.py) use tests/wallets/chain/conftest.py's fixtures,
imported there."""

from itertools import count

import pytest

from tests.wallets.factories import StaffFactory, UserFactory

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DESTINATION = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"
WRONG_CHECKSUM = "0x8Ba1f109551bD432803012645Ac136ddd64DBA72"
TOKENS = 10**6  # USDT ledger units per token


@pytest.fixture(autouse=True)
def _plain_risk(settings):
    """The minimal large-amount assessor (review at FASTPAY_REVIEW_ABOVE_TOKENS): the
    fraud rules' own windows are tested with the fraud app; test_fraud.py uses them."""
    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 10_000


@pytest.fixture
def offchain(db, usdt):
    """The Chain row of the seeded tokens' chain (its RPC is never called here)."""
    from wallets.chain.models import Chain

    chain, _ = Chain.objects.get_or_create(
        chain_id=usdt.chain_id, defaults={"name": "bsc", "rpc_urls": ["http://127.0.0.1:9"]}
    )
    return chain


@pytest.fixture
def policy(db, usdt):
    """USDT: fee 0.5, 1,000 a day, one approval from 100, four eyes from 500, a 1 h
    time-lock from 800, merchants' new addresses usable after 1 h."""
    from settlement.models import WithdrawalPolicy

    row, _ = WithdrawalPolicy.objects.update_or_create(
        token=usdt,
        defaults={
            "fee_units": TOKENS // 2,
            "min_amount_units": TOKENS,
            "daily_limit_units": 1_000 * TOKENS,
            "approval_above_units": 100 * TOKENS,
            "four_eyes_above_units": 500 * TOKENS,
            "timelock_above_units": 800 * TOKENS,
            "timelock_s": 3600,
            "merchant_cooldown_s": 3600,
        },
    )
    return row


@pytest.fixture
def rev1(db):
    return StaffFactory(username="rev1", group="reviewer")


@pytest.fixture
def rev2(db):
    return StaffFactory(username="rev2", group="reviewer")


@pytest.fixture
def merchant(db):
    from wallets.models import UserRole

    return UserFactory(username="shop", role=UserRole.MERCHANT)


@pytest.fixture
def funded(fund, usdt):
    """funded(user, whole_tokens): credit AVAILABLE."""

    def _funded(user, whole: int):
        fund(user, usdt, whole)
        return user

    return _funded


_keys = count()


@pytest.fixture
def request_withdrawal(usdt, offchain, policy):
    """request_withdrawal(user, whole_tokens, destination=DESTINATION, **draft fields)."""
    from settlement.services.withdrawals import WithdrawalDraft, withdrawal_request

    def _request(user, whole, destination=DESTINATION, **fields):
        draft = WithdrawalDraft(
            token=fields.pop("token", usdt),
            amount_units=int(whole * TOKENS),
            destination=destination,
            **fields,
        )
        withdrawal, _ = withdrawal_request(user=user, draft=draft)
        return withdrawal

    return _request


@pytest.fixture
def hd_seed(settings, tmp_path):
    """The dev mnemonic's seed sealed where the signer looks, with the HD accounts it was
    "wallet_init"ed with; returns the seed."""
    from fastpay import keyvault
    from wallets.chain import hd
    from wallets.chain.models import HDAccount

    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    hd.seed_seal(seed)
    fingerprint = hd.seed_fingerprint(seed)
    for name, index in hd.ACCOUNTS.items():
        HDAccount.objects.update_or_create(
            name=name,
            defaults={
                "account_index": index,
                "xpub": hd.account_xpub(seed, index),
                "seed_fingerprint": fingerprint,
            },
        )
    return seed


@pytest.fixture
def hot_wallet_row(hd_seed):
    """hot_wallet_row(chain) -> the PlatformAddress of the hot wallet (operations/0)."""
    from wallets.chain import hd
    from wallets.chain.models import AddressRole, HDAccount, PlatformAddress

    def _make(chain):
        account = HDAccount.objects.get(name="operations")
        row, _ = PlatformAddress.objects.update_or_create(
            chain=chain,
            role=AddressRole.HOT,
            defaults={"address": hd.address_at(account.xpub, 0), "account": account, "index": 0},
        )
        return row

    return _make
