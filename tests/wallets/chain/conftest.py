"""Fixtures of the chain tests (issue 13): one anvil per test module with MockUSDT (18
decimals) and MockUSDC (6 decimals) deployed from build/contracts, the Chain row for it and
the seeded USDT/USDC Token rows pointed at the deployed contracts.

- ``anvil`` (module): an ``Anvil`` (``.w3``, ``.url``, ``.chain_id``, ``.usdt``/``.usdc``
  web3 contracts, ``.contract(token)``, ``.mint``, ``.transfer_from``, ``.mine``,
  ``.head()``, ``.snapshot()``/``.revert()``, ``.reorg(depth, txs)``).
- ``chain``: the Chain row (confirmations 3, block_window 64, poll 50 ms) and its
  WatcherCursor at the anvil's head when the test starts (earlier blocks are not watched).
- ``chain_tokens``: {"USDT": Token, "USDC": Token} updated to the anvil contracts, each with
  a TokenPolicy (min_deposit_units 1). In this folder the ``usdt`` / ``usdc`` fixtures of
  tests/conftest.py return these same rows (so a test never holds a stale copy).
- ``mint(token, to, amount_base)``, ``transfer_from(token, sender, to, amount_base)``,
  ``mine(n)``: a Token row or a symbol; amounts in the token's base units; one block per
  transaction (anvil automines).
- ``deposit_address(user=None)``: a DepositAddress of ``chain`` for a fresh eth_account key
  (returns ``(row, account)``; the account signs for the address), on an HDAccount
  "test-deposits" (a placeholder xpub: these keys are not derived from a seed).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from tests.authorities.anvil import _deploy, require_chain_tools, running_anvil, transact

ZERO = "0x" + "00" * 20


@dataclass
class Anvil:
    w3: object
    usdt: object
    usdc: object
    url: str
    chain_id: int
    _contracts: dict = field(default_factory=dict)

    def contract(self, token):
        """The web3 contract of a Token row, a symbol or a contract address."""
        key = getattr(token, "symbol", token)
        if key in ("USDT", "USDC"):
            return self.usdt if key == "USDT" else self.usdc
        for contract in (self.usdt, self.usdc, *self._contracts.values()):
            if contract.address.lower() == str(getattr(token, "contract_address", key)).lower():
                return contract
        raise KeyError(token)

    def mint(self, token, to: str, amount_base: int):
        """Mint ``amount_base`` to ``to``: a Transfer(0x0 -> to) log, one block."""
        return transact(
            self.w3,
            self.contract(token).functions.mint(self.w3.to_checksum_address(to), amount_base),
            self.w3.eth.accounts[0],
        )

    def transfer_from(self, token, sender, to: str, amount_base: int):
        """``sender``: an unlocked anvil account (address) or an eth_account LocalAccount
        (signed locally; it needs gas: ``fund_gas``)."""
        call = self.contract(token).functions.transfer(self.w3.to_checksum_address(to), amount_base)
        if isinstance(sender, str):
            return transact(self.w3, call, sender)
        tx = call.build_transaction(
            {
                "from": sender.address,
                "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
                "gas": 100_000,
                "maxFeePerGas": 10**9,
                "maxPriorityFeePerGas": 0,
                "chainId": self.chain_id,
            }
        )
        raw = sender.sign_transaction(tx).raw_transaction
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(raw))
        assert receipt.status == 1
        return receipt

    def fund_gas(self, to: str, wei: int = 10**17):
        to = self.w3.to_checksum_address(to)
        tx_hash = self.w3.eth.send_transaction(
            {"from": self.w3.eth.accounts[0], "to": to, "value": wei}
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt.status == 1
        return receipt

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` empty blocks; returns the new head number."""
        if n:
            self.w3.provider.make_request("anvil_mine", [hex(n)])
        return self.w3.eth.block_number

    def head(self):
        return self.w3.eth.get_block("latest")

    def snapshot(self) -> str:
        return self.w3.provider.make_request("evm_snapshot", [])["result"]

    def revert(self, snapshot_id: str) -> None:
        assert self.w3.provider.make_request("evm_revert", [snapshot_id])["result"] is True

    def reorg(self, depth: int, txs: list | None = None) -> None:
        """anvil_reorg: replace the top ``depth`` blocks by as many new ones (new hashes);
        ``txs``: [(raw signed tx hex or tx dict, block offset from the fork point)] to put
        in them (a deposit re-included elsewhere)."""
        answer = self.w3.provider.make_request("anvil_reorg", [depth, txs or []])
        assert "error" not in answer, answer


@pytest.fixture(scope="module")
def anvil():
    require_chain_tools()
    with running_anvil() as w3:
        usdt = _deploy(w3, "MockUSDT")
        usdc = _deploy(w3, "MockUSDC")
        assert usdt.functions.decimals().call() == 18
        assert usdc.functions.decimals().call() == 6
        yield Anvil(
            w3=w3, usdt=usdt, usdc=usdc, url=w3.provider.endpoint_uri, chain_id=w3.eth.chain_id
        )


@pytest.fixture
def chain(db, anvil):
    from wallets.chain.models import Chain, WatcherCursor

    chain, _ = Chain.objects.update_or_create(
        chain_id=anvil.chain_id,
        defaults={
            "name": "anvil",
            "rpc_urls": [anvil.url],
            "confirmations": 3,
            "block_window": 64,
            "max_log_range": 500,
            "poll_interval_ms": 50,
            "native_symbol": "ETH",
        },
    )
    head = anvil.head()
    WatcherCursor.objects.update_or_create(
        chain=chain,
        defaults={
            "block_number": head.number,
            "block_hash": head.hash.to_0x_hex(),
            "head_number": head.number,
        },
    )
    return chain


@pytest.fixture
def chain_tokens(chain, anvil):
    from wallets.chain.models import TokenPolicy
    from wallets.models import Token

    tokens = {}
    for symbol, contract, decimals in (("USDT", anvil.usdt, 18), ("USDC", anvil.usdc, 6)):
        # the seeded row (migration 0002); recreated when a transactional test flushed it
        token, _ = Token.objects.get_or_create(
            symbol=symbol,
            defaults={
                "name": symbol,
                "chain_id": chain.chain_id,
                "contract_address": contract.address,
                "decimals": decimals,
            },
        )
        token.chain_id = chain.chain_id
        token.contract_address = contract.address
        token.decimals = decimals
        token.ledger_decimals = min(token.ledger_decimals, decimals)
        token.enabled = True
        token.save()
        TokenPolicy.objects.get_or_create(token=token)
        tokens[symbol] = token
    return tokens


@pytest.fixture
def usdt(chain_tokens):
    return chain_tokens["USDT"]


@pytest.fixture
def usdc(chain_tokens):
    return chain_tokens["USDC"]


@pytest.fixture
def mint(anvil):
    return anvil.mint


@pytest.fixture
def transfer_from(anvil):
    return anvil.transfer_from


@pytest.fixture
def mine(anvil):
    return anvil.mine


_indexes = itertools.count(1)


@pytest.fixture
def deposit_address(chain):
    """deposit_address(user=None) -> (DepositAddress, eth_account LocalAccount)."""
    from eth_account import Account

    from tests.wallets.factories import UserFactory
    from wallets.chain.models import DepositAddress, HDAccount

    account, _ = HDAccount.objects.get_or_create(
        name="test-deposits",
        defaults={"account_index": 90, "xpub": "xpub-test-placeholder", "seed_fingerprint": "test"},
    )

    def _make(user=None):
        index = next(_indexes)
        key = Account.create()
        if user is None:
            user = UserFactory()
        row = DepositAddress.objects.create(
            chain=chain, account=account, index=index, address=key.address, user=user
        )
        return row, key

    return _make
