"""The platform's FastPay side in custody reconciliation (wallets.chain.reconcile; the
accounting is in docs/deposits.md, "Reconciliation").

The TokenVault holds, per token, one pool for every FastPay account; which share is whose
is the committee's ledger. The platform's share is what its FastPay accounts
(PlatformAccount: FUNDs go out from them, defunds come back to account 0) hold at the
committee, plus any withdrawable vault balance credited to them on-chain.

The ledger does not hold that share under CUSTODY: the float is deposited into the vault
from outside the ledger (``make run`` mints it to the platform's wallet and deposits it,
tools/run_local.py fund_platform; an operator does the same in production), and a FUND
moves the user's AVAILABLE to CLEARING while the platform's account pays the user's at
the committee, a DEFUND the reverse. So, per token, the FastPay side is whole when

    committee balance + vault withdrawable + CLEARING == float deposited

(float deposited = the FastPayDeposit amounts of the platform accounts up to block B,
less what they withdrew from the vault). This holder returns those terms as lines that sum
to zero when it is whole, so the reconciliation's total (-CUSTODY against the chain) moves
by exactly what the FastPay side is off: a FUND the committee has not paid yet is an
explained difference; anything else is drift.

Network I/O (the committee, the chain): called by reconcile_run outside any transaction.
"""

from __future__ import annotations

from fastpay_protocol.keccak import keccak
from wallets.chain.reconcile_lines import Holding
from wallets.models import AccountKind, LedgerAccount

DEPOSIT_TOPIC = "0x" + keccak(b"FastPayDeposit(uint256,address,address,uint256,uint256)").hex()
WITHDRAWN_TOPIC = "0x" + keccak(b"Withdrawn(address,address,address,uint256)").hex()
_BALANCE_OF2 = "0xf7888aec"  # balanceOf(address,address): the vault's withdrawable balances
#: FUND states whose money sits in CLEARING while the committee has not paid the user
FUND_UNPAID = ("pending", "stuck", "failed")


class FastPaySideUnavailable(RuntimeError):
    """The FastPay side cannot be read (no committee answer, no deployment)."""


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address.lower()[2:]


def _deployment() -> dict | None:
    from authorities.chain import ChainUnavailable, deployment

    try:
        return deployment()
    except ChainUnavailable:
        return None


def fastpay_side_holdings(chain, token, block: int) -> list[Holding]:
    from offline.models import OfflineTransfer, PlatformAccount, TransferDirection

    if token.contract_address.lower() == "0x" + "00" * 20:
        return []  # the native coin: not in the vault
    scale = 10 ** (token.decimals - token.ledger_decimals)
    clearing = (
        LedgerAccount.objects.filter(token=token, owner__isnull=True, kind=AccountKind.CLEARING)
        .values_list("balance", flat=True)
        .first()
        or 0
    )
    accounts = list(
        PlatformAccount.objects.order_by("index", "pk").values_list("address", flat=True)
    )
    deployment = _deployment()
    if deployment is None:
        if clearing:
            raise FastPaySideUnavailable(
                f"CLEARING holds {clearing} units of {token.symbol} but the vault's deployment "
                "file cannot be read"
            )
        return []
    if int(deployment.get("chain_id", 0)) != chain.chain_id:
        return []  # the vault is on another chain: its reconciliation counts this side
    if not accounts and not clearing:
        return []

    from wallets.chain.rpc import ChainRpc

    rpc = ChainRpc(chain)
    contracts = deployment["contracts"]
    registry = contracts["FastPayRegistry"]["address"]
    vault = contracts["TokenVault"]["address"]
    start = int(deployment.get("block_number") or 0)
    lines = []
    for index, address in enumerate(accounts):
        held = _committee_balance(address, token) * scale + _withdrawable(
            rpc, vault, address, token, block
        )
        note = f"platform FastPay account #{index}: its committee balance and vault withdrawable"
        lines.append(Holding("fastpay_side", address, held, note))
    who, what = [_topic(a) for a in accounts], _topic(token.contract_address)
    # FastPayDeposit(depositId, account, token, ...) and Withdrawn(account, token, ...)
    deposited = withdrawn = 0
    if accounts:
        deposited = _logs_sum(rpc, chain, registry, [DEPOSIT_TOPIC, None, who, what], start, block)
        withdrawn = _logs_sum(rpc, chain, vault, [WITHDRAWN_TOPIC, who, what], start, block)
    lines.append(
        Holding(
            "fastpay_clearing",
            "",
            clearing * scale,
            "ledger CLEARING: users' money moved offline, paid from the float",
        )
    )
    lines.append(
        Holding(
            "fastpay_float",
            vault,
            -(deposited - withdrawn),
            f"float the platform accounts deposited into the vault by block {block} "
            "(outside the ledger), less their withdrawals",
        )
    )
    unpaid = OfflineTransfer.objects.filter(
        direction=TransferDirection.FUND, token=token, state__in=FUND_UNPAID
    ).values_list("pk", "amount")
    for pk, amount in unpaid:
        note = f"FUND {pk}: in CLEARING, not yet paid by the committee"
        lines.append(Holding("fund_unpaid", "", amount * scale, note, explanation=True))
    return lines


def _committee_balance(address: str, token) -> int:
    from authorities.gateway import CommitteeUnavailable
    from offline.services.transfers import gateway

    try:
        state = gateway().account_state(address)
    except CommitteeUnavailable as exc:
        raise FastPaySideUnavailable(f"the committee did not answer for {address}: {exc}") from exc
    balances = {k.lower(): int(v) for k, v in (state.get("balances") or {}).items()}
    return balances.get(token.contract_address.lower(), 0)


def _withdrawable(rpc, vault: str, address: str, token, block: int) -> int:
    data = _BALANCE_OF2 + _topic(address)[2:] + _topic(token.contract_address)[2:]
    raw = rpc.call({"to": vault, "data": data}, block)
    return int.from_bytes(raw, "big") if raw else 0


def _logs_sum(rpc, chain, contract: str, topics: list, start: int, block: int) -> int:
    """Sum of the ``amount`` (the last data word) of ``contract``'s logs matching
    ``topics`` over [start, block], in ranges of Chain.max_log_range."""
    total = 0
    for low in range(start, block + 1, chain.max_log_range):
        for log in rpc.logs(low, min(block, low + chain.max_log_range - 1), [contract], topics):
            data = str(log.get("data") or "0x")[2:]
            if len(data) < 64:
                raise FastPaySideUnavailable(f"malformed log from {contract}: {log}")
            total += int(data[-64:], 16)
    return total
