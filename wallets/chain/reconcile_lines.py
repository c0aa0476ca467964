"""The arithmetic of custody reconciliation (no database, no network): from what the
ledger and the platform's records say and what the chain holds at block B, the lines of a
run for one token. wallets.chain.reconcile gathers the inputs and stores the result;
docs/deposits.md ("Reconciliation") says what reconciles against what.

All amounts here are the token's on-chain base units (exact ints); the run's lines are
stored in ledger units.

- Per address (deposit addresses and PlatformAddress rows): the balance at B against what
  the records expect there: live deposits in, the platform's own confirmed outgoing
  transactions (sweeps, withdrawals ...) out and in, their gas out (native). A difference
  equal to what in-flight transactions of the address would move is explained.
- Holdings registered by other apps (the offline app's FastPay side, settlement's in-flight
  withdrawals): counted in the chain's total, or explanations of a known difference.
- The token's total: the chain's (addresses + holdings) against -CUSTODY; explained by
  deposits seen but not credited yet, dust, deposits credited after B and the holders'
  explanations. What is left is drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

ERC20_TRANSFER = "0xa9059cbb"
#: BatchTransfer.batchTransfer(address,address[],uint256[],bytes32[]) (settlement's merchant
#: payouts): the contract pulls each amount from the sender to its recipient
BATCH_TRANSFER = "0xdaef2056"
#: outgoing transactions that moved tokens (and paid gas) for good
DONE_TX_STATES = ("confirmed",)
#: gas is paid by a mined transaction whatever its outcome
GAS_PAID_TX_STATES = ("confirmed", "failed")
IN_FLIGHT_TX_STATES = ("signed", "broadcast", "mined")


@dataclass(frozen=True)
class Holding:
    """What a holder registered with ``holdings_register`` returns for (chain, token,
    block): ``base_units`` held at ``address`` (counted in the chain's total), or, with
    ``explanation=True``, a known difference (chain minus ledger, signed) that is not a
    holding, e.g. a withdrawal the ledger has paid and the chain not yet."""

    kind: str
    address: str
    base_units: int
    note: str = ""
    explanation: bool = False


@dataclass
class LineDraft:
    kind: str
    address: str
    onchain: int  # base units
    ledger: int  # base units
    explained: bool
    note: str = ""

    @property
    def difference(self) -> int:
        return self.onchain - self.ledger


@dataclass
class TokenInput:
    symbol: str
    contract: str  # "" for the native coin
    scale: int  # base units per ledger unit
    native: bool
    custody_units: int  # the CUSTODY account's balance (negative: the platform holds)
    addresses: list[tuple[str, str]]  # (kind, address)
    balances: dict[str, int]  # address -> base units at B
    deposits: list[dict] = field(default_factory=list)
    txs: list[dict] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)


@dataclass
class TokenResult:
    lines: list[LineDraft]
    unexplained: int  # base units, chain minus ledger (0: reconciled)
    differences: bool  # any line differs (explained or not)


def erc20_transfer(tx: dict, contract: str) -> tuple[str, int] | None:
    """(recipient, amount) when ``tx`` calls transfer(to, amount) on ``contract``."""
    data = (tx.get("data") or "").lower()
    if not contract or (tx.get("to") or "").lower() != contract.lower():
        return None
    if not data.startswith(ERC20_TRANSFER) or len(data) != 10 + 128:
        return None
    return "0x" + data[10 + 24 : 10 + 64], int(data[10 + 64 :], 16)


def batch_transfer(tx: dict, contract: str) -> list[tuple[str, int]] | None:
    """[(recipient, amount)] when ``tx`` calls batchTransfer(token=``contract``, ...)."""
    data = (tx.get("data") or "").lower()
    if not contract or not data.startswith(BATCH_TRANSFER):
        return None
    try:
        token, recipients, amounts, _ = abi_decode(
            ["address", "address[]", "uint256[]", "bytes32[]"], bytes.fromhex(data[10:])
        )
    except (DecodingError, ValueError):
        return None
    if token.lower() != contract.lower() or len(recipients) != len(amounts):
        return None
    return list(zip(recipients, amounts, strict=True))


def _moves(tx: dict, token: TokenInput) -> dict[str, int]:
    """Address (lowercase) -> base units this transaction moves of the token, if it
    succeeds; gas not included."""
    moves: dict[str, int] = defaultdict(int)
    sender = tx["from"].lower()
    if token.native:
        value = int(tx.get("value") or 0)
        if value:
            moves[sender] -= value
            moves[tx["to"].lower()] += value
        return moves
    transfer = erc20_transfer(tx, token.contract)
    if transfer is not None:
        moves[sender] -= transfer[1]
        moves[transfer[0]] += transfer[1]
    for recipient, amount in batch_transfer(tx, token.contract) or ():
        moves[sender] -= amount
        moves[recipient.lower()] += amount
    return moves


def _mined_by(tx: dict, block: int) -> bool:
    return tx.get("block_number") is not None and tx["block_number"] <= block


def reconcile_token(token: TokenInput, block: int) -> TokenResult:
    ours = {address.lower() for _, address in token.addresses}
    expected: dict[str, int] = defaultdict(int)
    in_flight: dict[str, int] = defaultdict(int)
    flight_notes: dict[str, list[str]] = defaultdict(list)
    explanations: list[LineDraft] = []

    for dep in token.deposits:
        if dep["block_number"] <= block and dep["state"] in ("seen", "confirmed", "dust"):
            expected[dep["address"].lower()] += dep["amount_onchain"]
    for tx in token.txs:
        done = tx["state"] in DONE_TX_STATES and _mined_by(tx, block)
        gas = tx["state"] in GAS_PAID_TX_STATES and _mined_by(tx, block)
        moves = _moves(tx, token)
        if token.native and gas and tx.get("fee_wei"):
            expected[tx["from"].lower()] -= int(tx["fee_wei"])
        if done:
            for address, amount in moves.items():
                expected[address] += amount
        elif tx["state"] in IN_FLIGHT_TX_STATES:
            for address, amount in moves.items():
                if address in ours:
                    in_flight[address] += amount
                    flight_notes[address].append(f"{tx['purpose']} tx {tx['id']} ({tx['state']})")

    address_lines = []
    for kind, address in token.addresses:
        key = address.lower()
        onchain, exp = token.balances.get(address, 0), expected.get(key, 0)
        if not onchain and not exp:
            continue
        diff = onchain - exp
        note = ""
        explained = diff == 0
        if not explained and in_flight.get(key) and diff == in_flight[key]:
            explained, note = True, "in flight: " + ", ".join(flight_notes[key])[:200]
        elif not explained and token.native:
            explained, note = True, "gas funded outside the ledger (native coin: not custody)"
        elif not explained:
            note = "not in the platform's records (arrived or left outside them)"
        address_lines.append(LineDraft(kind, address, onchain, exp, explained, note))

    # ---- the token's total against -CUSTODY, and what explains the difference
    held = [h for h in token.holdings if not h.explanation]
    holder_lines = [LineDraft(h.kind, h.address, h.base_units, 0, True, h.note[:255]) for h in held]
    onchain_total = sum(token.balances.get(a, 0) for _, a in token.addresses) + sum(
        h.base_units for h in held
    )
    ledger_total = -token.custody_units * token.scale
    explanations += _deposit_explanations(token, block)
    explanations += [
        LineDraft(h.kind, h.address, h.base_units, 0, True, h.note[:255])
        for h in token.holdings
        if h.explanation
    ]
    unexplained = onchain_total - ledger_total - sum(e.difference for e in explanations)
    if token.native and unexplained:
        explanations.append(
            LineDraft(
                "own_gas",
                "",
                unexplained,
                0,
                True,
                "the platform's own gas: the ledger books only gas spent (CHAIN_FEE)",
            )
        )
        unexplained = 0
    total = LineDraft(
        "total",
        "",
        onchain_total,
        ledger_total,
        unexplained == 0,
        "" if unexplained == 0 else f"unexplained: {unexplained} base units",
    )
    lines = [*address_lines, *holder_lines, *explanations, total]
    if unexplained:
        note = "unexplained: the chain minus the ledger after every explanation"
        lines.append(LineDraft("drift", "", unexplained, 0, False, note))
    # the native coin is the platform's own gas, not custody: its lines inform, its
    # differences never make a run EXPLAINED or DRIFT
    differences = not token.native and (
        any(line.difference for line in address_lines + explanations) or bool(unexplained)
    )
    return TokenResult(lines=lines, unexplained=unexplained, differences=differences)


def _deposit_explanations(token: TokenInput, block: int) -> Iterable[LineDraft]:
    """On the chain and not credited (yet, or ever: dust), or credited and above B."""
    seen: dict[str, list[int]] = defaultdict(list)
    dust_total, dust_count, later_total, later_count = 0, 0, 0, 0
    for dep in token.deposits:
        if dep["block_number"] > block:
            if dep["state"] == "confirmed":
                later_total += dep["amount_units"] * token.scale
                later_count += 1
            continue
        if dep["state"] == "seen":
            seen[dep["address"]].append(dep["amount_onchain"])
        elif dep["state"] == "dust":
            dust_total += dep["amount_onchain"]
            dust_count += 1
        elif dep["state"] == "confirmed" and dep["dust_onchain"]:
            dust_total += dep["dust_onchain"]
            dust_count += 1
    for address, amounts in sorted(seen.items()):
        note = f"{len(amounts)} deposit(s) seen, waiting for confirmations"
        yield LineDraft("seen_deposit", address, sum(amounts), 0, True, note)
    if dust_total:
        note = f"dust of {dust_count} deposit(s): below one ledger unit or the dust limit"
        yield LineDraft("dust", "", dust_total, 0, True, note)
    if later_total:
        note = f"{later_count} deposit(s) credited in blocks after {block}"
        yield LineDraft("credited_after_block", "", 0, later_total, True, note)
