"""What settlement reads from the chain and the committee: where the processor and the
vault are, the settlement window of an epoch, a token's vault id. Network I/O: call these
outside any database transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from authorities import gateway as committee_gateway
from authorities.errors import CommitteeUnavailable
from settlement.batches import contract
from settlement.batches.errors import SettlementUnavailable
from wallets.chain.models import AddressRole, Chain, PlatformAddress
from wallets.chain.rpc import RpcError, rpc_for
from wallets.chain.signer import CHAIN_SENDER, signer_address, signer_hd


@dataclass(frozen=True)
class Target:
    """The processor a redemption settles with, on its chain."""

    chain: Chain
    processor: str
    vault: str


def target(epoch: int | None = None) -> Target:
    """The chain, processor (the committee's redemption address) and vault of ``epoch``'s
    committee (default: the active one). SettlementUnavailable without a vault or chain."""
    try:
        gw = committee_gateway.gateway()
    except CommitteeUnavailable as exc:
        raise SettlementUnavailable(str(exc)) from None
    committee = gw.committee_of(epoch)
    if committee is None:
        raise SettlementUnavailable(f"epoch {epoch} is unknown to the platform", param="epoch")
    if not committee.vault_address:
        raise SettlementUnavailable("the committee names no vault (vault_address)")
    chain = Chain.objects.filter(chain_id=committee.chain_id, enabled=True).first()
    if chain is None:
        raise SettlementUnavailable(f"chain {committee.chain_id} is not configured")
    return Target(chain, committee.redemption_address, committee.vault_address)


def settler(chain: Chain) -> tuple[str, str]:
    """(signer, address) the batches of ``chain`` are sent with: the settler
    PlatformAddress (operations account, index 2) when wallet_init made one, else the
    sealed ``key:chain-sender``. The processor must grant it SETTLER_ROLE."""
    row = PlatformAddress.objects.filter(chain=chain, role=AddressRole.SETTLER).first()
    if row is not None and row.account_id is not None:
        return signer_hd(row.account.account_index, row.index), row.address
    return CHAIN_SENDER, signer_address(CHAIN_SENDER)


@dataclass(frozen=True)
class Window:
    epoch: int
    settles_until: int  # unix seconds; 0: no limit yet (no successor)
    now: int  # the chain's latest block timestamp

    @property
    def closed(self) -> bool:
        return self.settles_until != 0 and self.now > self.settles_until

    def detail(self) -> str:
        until = dt.datetime.fromtimestamp(self.settles_until, tz=dt.UTC)
        return f"epoch {self.epoch} settled on-chain until {until:%Y-%m-%d %H:%M:%S} UTC"


def windows(chain: Chain, processor: str, epochs, *, rpc=None) -> dict[int, Window]:
    """The settlement window of each epoch, as the processor sees it at the latest block."""
    rpc = rpc or rpc_for(chain)
    try:
        now = rpc.block("latest")["timestamp"]
        return {
            e: Window(
                e,
                contract.decode_uint(rpc.call(contract.settles_until_call(processor, e))),
                now,
            )
            for e in set(epochs)
        }
    except RpcError as exc:
        raise SettlementUnavailable(f"chain {chain.chain_id}: {exc}") from None


def token_config(chain: Chain, vault: str, token: str, *, rpc=None) -> contract.TokenConfig:
    rpc = rpc or rpc_for(chain)
    try:
        return contract.decode_token_config(rpc.call(contract.token_config_call(vault, token)))
    except RpcError as exc:
        raise SettlementUnavailable(f"chain {chain.chain_id}: {exc}") from None
