"""Sweeping deposit addresses to the hot wallet (docs/deposits.md, "Sweeps").

A deposit address whose credited token balance reaches the token's
``TokenPolicy.sweep_threshold_units`` (converted to base units) is swept: when its native
balance cannot pay the transfer's gas, the gas station first sends it a top-up (a
GAS_TOPUP transaction), then the address itself sends ``transfer(hot, amount)`` (a SWEEP
transaction signed by its HD key ``hd:<account>/<index>``). Both go through the one sender
(wallets.chain.sender), which also posts their gas as CHAIN_FEE entries; the tokens move
between two platform addresses, so no other ledger entry is written (CUSTODY is the
platform's holding wherever on-chain it sits).

States: TOPPING_UP (top-up sent) -> SWEEPING (transfer sent) -> DONE, or FAILED (a
reverted or dropped transaction: the address is tried again after SWEEP_RETRY_AFTER). One
sweep in flight per (address, token): the ``sweep_one_in_flight`` partial unique index.

"Credited" balance: balanceOf at the latest block minus the deposits still SEEN (not yet
credited: a reorg could take them away), so only money the ledger already counts moves.

Why a top-up and not EIP-7702: see docs/deposits.md ("Why a gas top-up").
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from fastpay.locks import rows_locked
from wallets.chain.fees import Fees, fees_quote, gas_estimate
from wallets.chain.models import (
    AddressRole,
    Chain,
    Deposit,
    DepositAddress,
    DepositState,
    OutgoingTransaction,
    PlatformAddress,
    Sweep,
    SweepState,
    TokenPolicy,
    TxPurpose,
    TxState,
)
from wallets.chain.rpc import RpcError, rpc_for
from wallets.chain.sender import (
    NATIVE_ADDRESS,
    nonce_cursor_ensure,
    on_outcome,
    tx_broadcast,
    tx_create,
)
from wallets.chain.sender_errors import SenderError
from wallets.chain.signer import signer_hd
from wallets.models import Token

logger = logging.getLogger("wallets.chain.sweeps")

TRANSFER_SELECTOR = "0xa9059cbb"
#: the top-up pays the transfer's gas at its quoted fee cap plus this headroom (percent),
#: so that two +12.5% replacements of a stuck sweep are still paid for
TOPUP_HEADROOM_PCT = 30
GAS_TOPUP_LIMIT = 21_000
#: an address whose sweep failed is not tried again before this
SWEEP_RETRY_AFTER = timedelta(minutes=10)
IN_FLIGHT = (SweepState.TOPPING_UP, SweepState.SWEEPING)


class SweepUnavailable(SenderError):
    code = "sweep_unavailable"
    default_message = "This chain has no gas station or hot wallet (run wallet_init)."


def transfer_data(to: str, amount: int) -> str:
    """ERC-20 transfer(to, amount) call data."""
    return TRANSFER_SELECTOR + "00" * 12 + to[2:].lower() + f"{amount:064x}"


def _factor(token: Token) -> int:
    return 10 ** (token.decimals - token.ledger_decimals)


def threshold_base_units(token: Token) -> int:
    """The sweep threshold in the token's on-chain base units (0: never swept)."""
    policy = TokenPolicy.objects.filter(token=token).first()
    return policy.sweep_threshold_units * _factor(token) if policy else 0


def _platform(chain: Chain, role: str) -> PlatformAddress:
    found = PlatformAddress.objects.filter(chain=chain, role=role).select_related("account")
    row = found.first()
    if row is None or row.account is None:
        raise SweepUnavailable(f"chain {chain.chain_id} has no derived {role} address")
    return row


def _signer_of(row) -> str:
    return signer_hd(row.account.account_index, row.index)


def credited_balance(address: DepositAddress, token: Token, *, rpc) -> int:
    """balanceOf(address) at the latest block less the deposits not credited yet."""
    onchain = rpc.balance_of(token.contract_address, address.address, "latest")
    seen = Deposit.objects.filter(address=address, token=token, state=DepositState.SEEN)
    pending = sum(int(amount) for amount in seen.values_list("amount_onchain", flat=True))
    return max(0, onchain - pending)


def sweep_candidates(chain: Chain, token: Token):
    """Deposit addresses with a credited deposit of ``token`` since their last sweep,
    none in flight and none failed lately (a query: balances are read afterwards)."""
    last_done = Sweep.objects.filter(
        address=OuterRef("address_id"), token=token, state=SweepState.DONE
    ).order_by("-created_at")
    credited_since = Deposit.objects.filter(
        address=OuterRef("pk"), token=token, state=DepositState.CONFIRMED
    ).exclude(Exists(last_done.filter(created_at__gte=OuterRef("confirmed_at"))))
    busy = Sweep.objects.filter(address=OuterRef("pk"), token=token).filter(
        Q(state__in=IN_FLIGHT)
        | Q(state=SweepState.FAILED, updated_at__gte=timezone.now() - SWEEP_RETRY_AFTER)
    )
    return (
        DepositAddress.objects.filter(chain=chain)
        .filter(Exists(credited_since))
        .exclude(Exists(busy))
        .select_related("account")
        .order_by("pk")
    )


def sweep_start(address: DepositAddress, token: Token, *, rpc=None) -> Sweep | None:
    """Start sweeping ``token`` from ``address`` when its credited balance reaches the
    threshold: a Sweep with its first transaction (a top-up when the address lacks gas,
    else the transfer), committed, then broadcast. None below the threshold or when a
    sweep of this address and token is already in flight. Network I/O: outside any
    transaction."""
    chain = address.chain
    rpc = rpc or rpc_for(chain)
    threshold = threshold_base_units(token)
    if threshold <= 0:
        return None
    amount = credited_balance(address, token, rpc=rpc)
    if amount < threshold:
        return None
    hot = _platform(chain, AddressRole.HOT)
    station = _platform(chain, AddressRole.GAS_STATION)
    data = transfer_data(hot.address, amount)
    gas_limit = gas_estimate(
        chain, from_address=address.address, to=token.contract_address, data=data, rpc=rpc
    )
    fees = fees_quote(chain, rpc=rpc)
    need = gas_limit * fees.max_price * (100 + TOPUP_HEADROOM_PCT) // 100
    native = rpc.native_balance(address.address, "pending")
    topup = max(0, need - native)
    nonce_cursor_ensure(chain, address.address, rpc=rpc)
    if topup:
        nonce_cursor_ensure(chain, station.address, rpc=rpc)
    try:
        with transaction.atomic():
            sweep = Sweep.objects.create(
                address=address,
                token=token,
                amount_onchain=str(amount),
                state=SweepState.TOPPING_UP if topup else SweepState.SWEEPING,
            )
            if topup:
                sweep.topup = tx_create(
                    chain=chain,
                    signer=_signer_of(station),
                    from_address=station.address,
                    to=address.address,
                    value_wei=topup,
                    gas_limit=GAS_TOPUP_LIMIT,
                    fees=fees,
                    purpose=TxPurpose.GAS_TOPUP,
                    reference=f"sweep:{sweep.pk}",
                    idempotency_key=f"sweep:{sweep.pk}:topup",
                    confirmations=1,
                )
            else:
                sweep.transfer = _transfer_create(sweep, gas_limit=gas_limit, fees=fees)
            sweep.save(update_fields=["topup", "transfer", "updated_at"])
    except IntegrityError:
        return None  # sweep_one_in_flight: another sweep of this address and token runs
    tx_broadcast(sweep.topup or sweep.transfer, rpc=rpc)
    logger.info(
        "chain %s: sweep %s of %s %s from %s (top-up %s wei)",
        chain.chain_id,
        sweep.pk,
        amount,
        token.symbol,
        address.address,
        topup,
    )
    return sweep


def _transfer_create(sweep: Sweep, *, gas_limit: int, fees: Fees) -> OutgoingTransaction:
    address, token = sweep.address, sweep.token
    hot = _platform(address.chain, AddressRole.HOT)
    return tx_create(
        chain=address.chain,
        signer=_signer_of(address),
        from_address=address.address,
        to=token.contract_address,
        data=transfer_data(hot.address, int(sweep.amount_onchain)),
        gas_limit=gas_limit,
        fees=fees,
        purpose=TxPurpose.SWEEP,
        reference=f"sweep:{sweep.pk}",
        idempotency_key=f"sweep:{sweep.pk}:transfer",
    )


def sweep_continue(sweep: Sweep, *, rpc=None) -> Sweep:
    """After a confirmed top-up: send the transfer, with fees quoted now (the top-up's
    headroom pays for them unless the market more than rose by it). Network I/O."""
    if sweep.state != SweepState.TOPPING_UP or sweep.topup.state != TxState.CONFIRMED:
        return sweep
    chain = sweep.address.chain
    rpc = rpc or rpc_for(chain)
    data = transfer_data(_platform(chain, AddressRole.HOT).address, int(sweep.amount_onchain))
    gas_limit = gas_estimate(
        chain,
        from_address=sweep.address.address,
        to=sweep.token.contract_address,
        data=data,
        rpc=rpc,
    )
    fees = fees_quote(chain, rpc=rpc)
    native = rpc.native_balance(sweep.address.address, "pending")
    if gas_limit * fees.max_price > native and not fees.legacy:
        # pay what the top-up allows: the cap only bounds the price, the base fee decides
        cap = native // gas_limit
        fees = Fees(
            max_fee_per_gas=cap, max_priority_fee_per_gas=min(fees.max_priority_fee_per_gas, cap)
        )
    with transaction.atomic():
        locked = rows_locked(Sweep.objects.filter(pk=sweep.pk))[0]
        if locked.state != SweepState.TOPPING_UP or locked.transfer_id is not None:
            return locked
        locked.transfer = _transfer_create(locked, gas_limit=gas_limit, fees=fees)
        locked.state = SweepState.SWEEPING
        locked.save(update_fields=["transfer", "state", "updated_at"])
    tx_broadcast(locked.transfer, rpc=rpc)
    return locked


def sweeps_run(chain: Chain, *, rpc=None, limit: int = 200) -> dict[str, int]:
    """The beat's pass over a chain: continue topped-up sweeps, settle sweeps whose
    transaction has an outcome the hooks did not see (a follow loop in a process without
    them), start new ones. Counts by what happened."""
    rpc = rpc or rpc_for(chain)
    counts = {"started": 0, "continued": 0, "below_threshold": 0, "errors": 0}
    waiting = Sweep.objects.filter(address__chain=chain, state__in=IN_FLIGHT).select_related(
        "address__chain", "address__account", "token", "topup", "transfer"
    )
    for sweep in waiting:
        tx = sweep.transfer if sweep.state == SweepState.SWEEPING else sweep.topup
        if tx is not None and tx.state in (TxState.CONFIRMED, TxState.FAILED, TxState.DROPPED):
            with transaction.atomic():
                _settle(rows_locked(Sweep.objects.filter(pk=sweep.pk))[0], tx)
            sweep.refresh_from_db()
        if sweep.state == SweepState.TOPPING_UP and sweep.topup.state == TxState.CONFIRMED:
            try:
                sweep_continue(sweep, rpc=rpc)
                counts["continued"] += 1
            except (RpcError, SenderError) as exc:
                counts["errors"] += 1
                logger.warning("sweep %s: cannot send the transfer yet: %s", sweep.pk, exc)
    tokens = Token.objects.filter(chain_id=chain.chain_id, enabled=True).exclude(
        contract_address=NATIVE_ADDRESS
    )
    for token in tokens:
        if threshold_base_units(token) <= 0:
            continue
        for address in sweep_candidates(chain, token)[:limit]:
            try:
                started = sweep_start(address, token, rpc=rpc)
            except (RpcError, SenderError) as exc:
                counts["errors"] += 1
                logger.warning("sweep of %s %s: %s", address.address, token.symbol, exc)
                continue
            counts["started" if started else "below_threshold"] += 1
    return counts


# ------------------------------------------------------------------ outcomes


def _settle(sweep: Sweep, tx: OutgoingTransaction) -> None:
    """Record what ``tx``'s outcome means for the (locked) sweep."""
    if sweep.state not in IN_FLIGHT:
        return
    if tx.state == TxState.CONFIRMED:
        if tx.purpose == TxPurpose.SWEEP and sweep.transfer_id == tx.pk:
            sweep.state = SweepState.DONE
        else:
            return  # a confirmed top-up: sweeps_run sends the transfer (fees quoted then)
    elif tx.state in (TxState.FAILED, TxState.DROPPED):
        sweep.state = SweepState.FAILED
        sweep.error = f"{tx.purpose} {tx.state}: {tx.error}"[:2000]
        logger.error("sweep %s failed: %s", sweep.pk, sweep.error)
    else:
        return
    sweep.save(update_fields=["state", "error", "updated_at"])


def _on_sweep_tx(tx: OutgoingTransaction) -> None:
    # inside the sender's outcome transaction
    field = "transfer" if tx.purpose == TxPurpose.SWEEP else "topup"
    found = rows_locked(Sweep.objects.filter(**{field: tx}))
    if found:
        _settle(found[0], tx)


on_outcome(TxPurpose.SWEEP, _on_sweep_tx)
on_outcome(TxPurpose.GAS_TOPUP, _on_sweep_tx)


def sweeps_run_all() -> dict[int, dict[str, int]]:
    """``sweeps_run`` over every enabled chain (the beat task)."""
    out: dict[int, dict[str, int]] = {}
    for chain in Chain.objects.filter(enabled=True):
        try:
            out[chain.chain_id] = sweeps_run(chain)
        except (RpcError, SweepUnavailable) as exc:
            logger.warning("chain %s: no sweeps now: %s", chain.chain_id, exc)
            out[chain.chain_id] = {"errors": 1}
    return out
