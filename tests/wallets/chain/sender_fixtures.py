"""Fixtures of the sender and sweep tests (import them into a test module).

- ``hd_keys``: the development mnemonic ("test test ... junk") sealed under a fresh KEK in a
  temporary FASTPAY_HD_SEED_FILE, with the HDAccount rows "deposits" (account 0) and
  "operations" (account 1). Account 0 indexes 0..9 are anvil's prefunded accounts (the
  chain fixtures deploy and mint from index 0): deposit addresses here start at 100.
- ``platform``: PlatformAddress rows hot (1/0), gas station (1/1), settler (1/2) of
  ``chain``; {"hot": row, "gas_station": row, "settler": row}.
- ``set_native(address, wei)``: anvil_setBalance.
- ``sender_deposit_address(user=None)``: a DepositAddress derived from the seed (account 0,
  a fresh index >= 100) with no gas.
- ``credit(address, token, amount_base)``: a CONFIRMED Deposit of that many base units to
  the address, credited in the ledger as the watcher does (CUSTODY -> the user).
- ``automine_off``: anvil stops mining on its own for the test (``anvil.mine`` mines).
"""

from __future__ import annotations

import itertools

import pytest

DEV_MNEMONIC = "test test test test test test test test test test test junk"
_deposit_indexes = itertools.count(100)


@pytest.fixture
def hd_keys(db, settings, tmp_path):
    from fastpay import keyvault
    from wallets.chain import hd
    from wallets.chain.models import HDAccount

    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    hd.seed_seal(seed)
    fingerprint = hd.seed_fingerprint(seed)
    accounts = {}
    for name, index in (("deposits", 0), ("operations", 1)):
        accounts[name], _ = HDAccount.objects.update_or_create(
            name=name,
            defaults={
                "account_index": index,
                "xpub": hd.account_xpub(seed, index),
                "seed_fingerprint": fingerprint,
            },
        )
    return accounts


@pytest.fixture
def platform(chain, hd_keys):
    from wallets.chain import hd
    from wallets.chain.models import AddressRole, PlatformAddress

    operations = hd_keys["operations"]
    rows = {}
    for role, index in (
        (AddressRole.HOT, 0),
        (AddressRole.GAS_STATION, 1),
        (AddressRole.SETTLER, 2),
    ):
        rows[str(role)], _ = PlatformAddress.objects.update_or_create(
            chain=chain,
            role=role,
            defaults={
                "address": hd.address_at(operations.xpub, index),
                "account": operations,
                "index": index,
            },
        )
    return rows


@pytest.fixture
def set_native(anvil):
    def _set(address: str, wei: int) -> None:
        answer = anvil.w3.provider.make_request("anvil_setBalance", [address, hex(wei)])
        assert "error" not in answer, answer

    return _set


@pytest.fixture
def sender_deposit_address(chain, hd_keys, set_native):
    from tests.wallets.factories import UserFactory
    from wallets.chain import hd
    from wallets.chain.models import DepositAddress

    deposits = hd_keys["deposits"]

    def _make(user=None):
        index = next(_deposit_indexes)
        address = hd.address_at(deposits.xpub, index)
        set_native(address, 0)  # a fresh deposit address holds no gas
        return DepositAddress.objects.create(
            chain=chain,
            account=deposits,
            index=index,
            address=address,
            user=user or UserFactory(),
        )

    return _make


@pytest.fixture
def credit(anvil):
    """credit(address_row, token, amount_base): mint to the address on-chain and record
    the deposit CONFIRMED with its ledger entry."""
    from django.db import transaction
    from django.utils import timezone

    from wallets.chain.models import Deposit, DepositState
    from wallets.models import AccountKind, EntryKind
    from wallets.services.ledger import Line, ledger_post, system_account, user_account

    def _credit(address, token, amount_base: int):
        receipt = anvil.mint(token, address.address, amount_base)
        factor = 10 ** (token.decimals - token.ledger_decimals)
        units = amount_base // factor
        with transaction.atomic():
            entry = ledger_post(
                kind=EntryKind.DEPOSIT,
                reference=f"test-deposit:{receipt.blockNumber}",
                lines=[
                    Line(system_account(token, AccountKind.CUSTODY), -units),
                    Line(user_account(address.user, token), units),
                ],
            )
            return Deposit.objects.create(
                chain=address.chain,
                token=token,
                address=address,
                tx_hash=receipt.transactionHash.to_0x_hex(),
                log_index=0,
                block_number=receipt.blockNumber,
                block_hash=receipt.blockHash.to_0x_hex(),
                from_address="0x" + "00" * 20,
                amount_onchain=str(amount_base),
                amount_units=units,
                dust_onchain=str(amount_base % factor),
                state=DepositState.CONFIRMED,
                confirmations_required=1,
                entry=entry,
                confirmed_at=timezone.now(),
            )

    return _credit


@pytest.fixture
def automine_off(anvil):
    w3 = anvil.w3
    assert "error" not in w3.provider.make_request("evm_setAutomine", [False])
    try:
        yield anvil
    finally:
        # the next tests start from a zero base fee again (anvil runs with --base-fee 0),
        # and whatever this one left pending goes out of the way
        w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", ["0x0"])
        w3.provider.make_request("evm_setAutomine", [True])
        anvil.mine(1)
