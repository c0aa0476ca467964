"""Hot and cold wallets: levels, refills from the cold Safe, excess to it
(docs/treasury.md).

- ``hot_wallet_can_pay(chain, token, base_units)``: the pay loops ask it before they sign a
  transfer from the hot wallet. False (the payment waits, it never fails) when the hot
  wallet's balance, less the ERC-20 transfers it signed that are not mined yet, does not
  cover it; a refill is then requested (once: one open refill per token), as it is when
  paying would leave the hot wallet below its minimum.
- ``refill_request`` proposes a Safe transaction (the token's ``transfer(hot, amount)``
  from the cold Safe) bringing the hot wallet back to its target; its EIP-712 hash is
  checked against the Safe's own ``getTransactionHash``. Owners sign the hash off the
  server (tools/safe_sign.py, ``cast wallet sign --no-hash``) and staff paste each
  signature in the admin: ``signature_add`` accepts it only when it recovers to a current
  owner (read from the Safe), once per owner. At the Safe's threshold the transaction is
  EXECUTABLE and ``safe_tx_execute`` (the treasury tick, in the worker) sends
  ``execTransaction`` from the hot wallet through the one sender; its outcome hook marks it
  EXECUTED or FAILED.
- ``excess_send``: above its maximum, the hot wallet's excess down to the target goes to
  the Safe (a plain transfer through the sender), one in flight per token.

No ledger entry here: hot and cold are both custody (the sender books the gas as
CHAIN_FEE). Network I/O (balances, the Safe's owners, fees) happens outside transactions;
each change is one short transaction with its rows locked through fastpay.locks and an
outbox event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from eth_utils import to_checksum_address

from fastpay.errors import DomainError
from fastpay.events import event_record
from fastpay.locks import for_update, rows_locked
from fastpay.money import onchain_to_units, units_to_onchain
from settlement.services.paying import NOT_MINED, TRANSFER_SELECTOR, transfer_data
from settlement.treasury import safe as safelib
from settlement.treasury.errors import (
    BadSignature,
    DuplicateSignature,
    HashMismatch,
    NoColdSafe,
    NoHotWallet,
    NotAnOwner,
    RefillNotNeeded,
    SafeTxClosed,
    SafeTxNotReady,
    SafeUnavailable,
)
from settlement.treasury.models import (
    SAFE_TX_OPEN,
    ColdTransfer,
    ColdTransferState,
    HotWalletThreshold,
    SafeSignature,
    SafeTransaction,
    SafeTxKind,
    SafeTxState,
)
from wallets.chain import sender
from wallets.chain.models import (
    AddressRole,
    Chain,
    OutgoingTransaction,
    PlatformAddress,
    TxPurpose,
    TxState,
)
from wallets.chain.rpc import RpcError, rpc_for
from wallets.chain.sender_errors import BadTransaction, SenderError
from wallets.chain.signer import signer_hd
from wallets.models import Token

logger = logging.getLogger("settlement.treasury")


def _outside_transaction(what: str) -> None:
    # the atomic block a test case wraps every test in does not count (Django marks it)
    blocks = transaction.get_connection().atomic_blocks
    if any(not getattr(block, "_from_testcase", False) for block in blocks):
        raise RuntimeError(f"{what} does network I/O: never inside a database transaction")


# ------------------------------------------------------------------ the wallets


@dataclass(frozen=True, slots=True)
class Hot:
    chain: Chain
    address: str
    signer: str


def hot_of(chain: Chain) -> Hot | None:
    row = (
        PlatformAddress.objects.filter(chain=chain, role=AddressRole.HOT)
        .select_related("account")
        .first()
    )
    if row is None or row.account_id is None:
        return None
    return Hot(
        chain, to_checksum_address(row.address), signer_hd(row.account.account_index, row.index)
    )


def cold_of(chain: Chain) -> str | None:
    row = PlatformAddress.objects.filter(chain=chain, role=AddressRole.COLD).first()
    return to_checksum_address(row.address) if row else None


def cold_set(chain: Chain, address: str) -> PlatformAddress:
    """Record ``address`` as the chain's cold Safe (PlatformAddress role cold, external:
    no HD key). The caller checked it answers as a Safe."""
    row, _ = PlatformAddress.objects.update_or_create(
        chain=chain, role=AddressRole.COLD, defaults={"address": to_checksum_address(address)}
    )
    return row


def _units(token: Token, base: int) -> int:
    units, _ = onchain_to_units(
        base, decimals=token.decimals, ledger_decimals=token.ledger_decimals
    )
    return units


def _base(token: Token, units: int) -> int:
    return units_to_onchain(units, decimals=token.decimals, ledger_decimals=token.ledger_decimals)


def in_flight_out(hot: Hot, token: Token) -> int:
    """Base units of ``token`` that transfers the hot wallet signed, not mined yet, will
    take from it (withdrawals, excess to cold: any ``transfer`` call it sends)."""
    rows = OutgoingTransaction.objects.filter(
        chain=hot.chain,
        from_address=hot.address,
        to_address__iexact=token.contract_address,
        state__in=NOT_MINED,
        data__startswith=TRANSFER_SELECTOR,
    ).values_list("data", flat=True)
    return sum(int(data[74:138], 16) for data in rows if len(data) == 138)


@dataclass(frozen=True, slots=True)
class Level:
    token: Token
    block: int
    balance_base: int
    in_flight_base: int

    @property
    def available_base(self) -> int:
        return self.balance_base - self.in_flight_base

    @property
    def units(self) -> int:
        return _units(self.token, max(0, self.available_base))


def hot_level(chain: Chain, token: Token, *, hot: Hot | None = None, rpc=None) -> Level:
    """The hot wallet's balance of ``token`` at the latest block less its unmined transfers
    (network I/O; RpcError when the chain does not answer)."""
    hot = hot or hot_of(chain)
    if hot is None:
        raise NoHotWallet()
    rpc = rpc or rpc_for(chain)
    block = rpc.block_number()
    balance = rpc.balance_of(token.contract_address, hot.address, block)
    return Level(token, block, balance, in_flight_out(hot, token))


def _threshold(token: Token) -> HotWalletThreshold | None:
    return HotWalletThreshold.objects.filter(token=token, enabled=True).first()


def level_record(threshold: HotWalletThreshold, level: Level) -> None:
    HotWalletThreshold.objects.filter(pk=threshold.pk).update(
        level_units=level.units, level_block=level.block, level_at=timezone.now()
    )


def hot_wallet_can_pay(chain: Chain, token: Token, base_units: int, *, rpc=None) -> bool:
    """May the hot wallet send ``base_units`` of ``token`` now? False when its balance less
    its unmined transfers does not cover it, or the chain cannot be read: the payment
    waits. Requests a refill (idempotent) when it cannot pay, or when paying would leave it
    below its minimum. Network I/O: call it outside any transaction."""
    _outside_transaction("hot_wallet_can_pay")
    hot = hot_of(chain)
    if hot is None:
        return False
    rpc = rpc or rpc_for(chain)
    try:
        level = hot_level(chain, token, hot=hot, rpc=rpc)
    except RpcError as exc:
        logger.warning("chain %s: hot wallet level of %s unknown: %s", chain.chain_id, token, exc)
        return False
    can = level.available_base >= base_units
    threshold = _threshold(token)
    if threshold is not None:
        level_record(threshold, level)
        after = _units(token, max(0, level.available_base - (base_units if can else 0)))
        if not can or after < threshold.min_units:
            try:
                refill_request(
                    chain, token, rpc=rpc, level=level, short_base=0 if can else base_units
                )
            except (RefillNotNeeded, NoColdSafe, SafeUnavailable, HashMismatch, RpcError) as exc:
                logger.warning("chain %s: no refill of %s proposed: %s", chain.chain_id, token, exc)
    return can


# ------------------------------------------------------------------ proposing a refill


def _event(row: SafeTransaction, **extra) -> None:
    event_record(
        topic="treasury.safe_tx",
        aggregate_type="safe_transaction",
        aggregate_id=row.pk,
        payload={
            "safe_tx_id": row.pk,
            "chain_id": row.chain.chain_id,
            "safe": row.safe_address,
            "nonce": row.nonce,
            "safe_tx_hash": row.safe_tx_hash,
            "kind": row.kind,
            "token": row.token.symbol if row.token_id else None,
            "amount_units": row.amount_units,
            "signatures": row.signatures.count(),
            "threshold": row.threshold,
            "state": row.state,
            **extra,
        },
    )


def safe_tx_of(row: SafeTransaction) -> safelib.SafeTx:
    return safelib.SafeTx(
        safe=row.safe_address,
        chain_id=row.chain.chain_id,
        to=row.to_address,
        value=int(row.value_wei),
        data=bytes.fromhex(row.data[2:]),
        nonce=row.nonce,
        operation=row.operation,
    )


def _open_refill(chain: Chain, token: Token) -> SafeTransaction | None:
    return SafeTransaction.objects.filter(
        chain=chain, token=token, kind=SafeTxKind.REFILL, state__in=SAFE_TX_OPEN
    ).first()


def _next_nonce(chain: Chain, safe: str, onchain_nonce: int) -> int:
    top = SafeTransaction.objects.filter(
        chain=chain, safe_address=safe, state__in=SAFE_TX_OPEN
    ).aggregate(top=Max("nonce"))["top"]
    return max(onchain_nonce, -1 if top is None else top + 1)


def refill_request(
    chain: Chain,
    token: Token,
    *,
    amount_units: int | None = None,
    proposed_by=None,
    level: Level | None = None,
    short_base: int = 0,
    rpc=None,
) -> tuple[SafeTransaction, bool]:
    """Propose the Safe transaction that refills the hot wallet with ``token`` (default:
    up to its target, plus ``short_base`` a waiting payment needs). Returns (row, created):
    the open refill of the token when there is one (nothing proposed twice)."""
    _outside_transaction("refill_request")
    existing = _open_refill(chain, token)
    if existing is not None:
        return existing, False
    safe = cold_of(chain)
    if safe is None:
        raise NoColdSafe()
    hot = hot_of(chain)
    if hot is None:
        raise NoHotWallet()
    rpc = rpc or rpc_for(chain)
    if amount_units is None:
        threshold = _threshold(token)
        if threshold is None:
            raise RefillNotNeeded("no hot wallet threshold for this token: give the amount")
        if level is None:
            level = hot_level(chain, token, hot=hot, rpc=rpc)
            level_record(threshold, level)
        short_units = -(-short_base // (10 ** (token.decimals - token.ledger_decimals)))
        amount_units = threshold.target_units - level.units + short_units
    if amount_units <= 0:
        raise RefillNotNeeded(param="amount_units")
    amount_base = _base(token, amount_units)
    try:
        state = safelib.safe_state(rpc, safe)
    except RpcError as exc:
        raise SafeUnavailable(f"{safe}: {exc}") from None
    for _ in range(3):
        nonce = _next_nonce(chain, safe, state.nonce)
        tx = safelib.SafeTx(
            safe=safe,
            chain_id=chain.chain_id,
            to=to_checksum_address(token.contract_address),
            value=0,
            data=bytes.fromhex(transfer_data(hot.address, amount_base)[2:]),
            nonce=nonce,
        )
        digest = safelib.safe_tx_hash(tx)
        try:
            onchain = safelib.safe_tx_hash_onchain(rpc, tx)
        except RpcError as exc:
            raise SafeUnavailable(f"{safe}: {exc}") from None
        if onchain != digest:
            raise HashMismatch(f"ours 0x{digest.hex()}, the Safe's 0x{onchain.hex()}")
        try:
            with transaction.atomic():
                # proposals of one Safe queue on its PlatformAddress row (nonces in order)
                rows_locked(PlatformAddress.objects.filter(chain=chain, role=AddressRole.COLD))
                existing = _open_refill(chain, token)
                if existing is not None:
                    return existing, False
                if _next_nonce(chain, safe, state.nonce) != nonce:
                    continue  # another proposal took this nonce meanwhile
                row = SafeTransaction.objects.create(
                    chain=chain,
                    safe_address=safe,
                    nonce=nonce,
                    to_address=tx.to,
                    value_wei="0",
                    data="0x" + tx.data.hex(),
                    safe_tx_hash="0x" + digest.hex(),
                    kind=SafeTxKind.REFILL,
                    token=token,
                    amount_units=amount_units,
                    amount_onchain=str(amount_base),
                    threshold=state.threshold,
                    proposed_by=proposed_by,
                )
                _event(row, owners=state.owners)
        except IntegrityError:
            existing = _open_refill(chain, token)
            if existing is not None:
                return existing, False
            continue  # the nonce went to a concurrent proposal: the next one
        logger.info("chain %s: refill of %s proposed: %s", chain.chain_id, token, row)
        return row, True
    raise SafeUnavailable("the Safe's nonces kept moving: try again")


# ------------------------------------------------------------------ signatures


def signature_add(safe_tx_id: int, signature: str, *, added_by=None, rpc=None) -> SafeTransaction:
    """Add an owner's signature of the transaction's safeTxHash (pasted 0x-hex, 65 bytes).
    Refused: a malformed or unrecoverable signature (BadSignature), one that recovers to
    an address that is not a current owner (NotAnOwner), an owner who already signed
    (DuplicateSignature), a transaction no longer open (SafeTxClosed). At the Safe's
    threshold of current owners the transaction becomes EXECUTABLE."""
    _outside_transaction("signature_add")
    row = SafeTransaction.objects.select_related("chain").get(pk=safe_tx_id)
    if row.state not in (SafeTxState.PROPOSED, SafeTxState.EXECUTABLE):
        raise SafeTxClosed(f"this Safe transaction is {row.get_state_display().lower()}")
    try:
        raw = safelib.signature_bytes(signature)
    except safelib.SignatureInvalid as exc:
        raise BadSignature(str(exc), param="signature") from None
    try:
        state = safelib.safe_state(rpc or rpc_for(row.chain), row.safe_address)
    except RpcError as exc:
        raise SafeUnavailable(f"{row.safe_address}: {exc}") from None
    digest = bytes.fromhex(row.safe_tx_hash[2:])
    try:
        owner, encoded = safelib.signature_owner(digest, raw, state.owners)
    except safelib.SignatureInvalid as exc:
        raise BadSignature(str(exc), param="signature") from None
    if owner.lower() not in {o.lower() for o in state.owners}:
        raise NotAnOwner(
            f"this signature of {row.safe_tx_hash} recovers to {owner}, which is not an owner "
            f"of the Safe (owners: {', '.join(state.owners)}); check the hash that was signed",
            param="signature",
        )
    with transaction.atomic():
        (row,) = rows_locked(SafeTransaction.objects.filter(pk=safe_tx_id))
        if row.state not in (SafeTxState.PROPOSED, SafeTxState.EXECUTABLE):
            raise SafeTxClosed(f"this Safe transaction is {row.get_state_display().lower()}")
        if row.signatures.filter(owner__iexact=owner).exists():
            raise DuplicateSignature(
                f"{owner} has already signed this transaction", param="signature"
            )
        SafeSignature.objects.create(
            safe_tx=row, owner=owner, signature="0x" + encoded.hex(), added_by=added_by
        )
        _readiness(row, state)
        row.save(update_fields=["state", "threshold", "updated_at"])
        _event(row, signer=owner)
    return row


def _valid_signatures(row: SafeTransaction, owners: list[str]) -> list[tuple[str, bytes]]:
    current = {o.lower() for o in owners}
    return [
        (sig.owner, bytes.fromhex(sig.signature[2:]))
        for sig in row.signatures.all()
        if sig.owner.lower() in current
    ]


def _readiness(row: SafeTransaction, state: safelib.SafeState) -> None:
    row.threshold = state.threshold
    enough = len(_valid_signatures(row, state.owners)) >= state.threshold
    row.state = SafeTxState.EXECUTABLE if enough else SafeTxState.PROPOSED


# ------------------------------------------------------------------ execution


def _close(row_id: int, state: str, error: str) -> SafeTransaction:
    with transaction.atomic():
        (row,) = rows_locked(SafeTransaction.objects.filter(pk=row_id))
        if row.state in (SafeTxState.PROPOSED, SafeTxState.EXECUTABLE):
            row.state = state
            row.error = error[:2000]
            row.save(update_fields=["state", "error", "updated_at"])
            _event(row, note=row.error)
    return row


def safe_tx_execute(safe_tx_id: int, *, rpc=None, broadcast: bool = True) -> SafeTransaction:
    """Send ``execTransaction`` for an EXECUTABLE Safe transaction from the hot wallet
    (which pays the gas) through the sender. Re-reads the Safe first: a nonce already
    used on the Safe fails the proposal (superseded), a later one waits for the earlier
    transactions, owners gone since they signed no longer count. Worker processes only
    (the hot wallet's key signs)."""
    _outside_transaction("safe_tx_execute")
    row = SafeTransaction.objects.select_related("chain").get(pk=safe_tx_id)
    if row.state != SafeTxState.EXECUTABLE:
        raise SafeTxNotReady(f"this Safe transaction is {row.get_state_display().lower()}")
    chain = row.chain
    rpc = rpc or rpc_for(chain)
    try:
        state = safelib.safe_state(rpc, row.safe_address)
    except RpcError as exc:
        raise SafeUnavailable(f"{row.safe_address}: {exc}") from None
    if state.nonce > row.nonce:
        _close(row.pk, SafeTxState.FAILED, f"superseded: the Safe's nonce is {state.nonce}")
        raise SafeTxNotReady(f"the Safe already used nonce {row.nonce}: superseded")
    if state.nonce < row.nonce:
        raise SafeTxNotReady(f"waits for the Safe's nonce {state.nonce} to be used first")
    signatures = _valid_signatures(row, state.owners)
    if len(signatures) < state.threshold:
        with transaction.atomic():
            (locked,) = rows_locked(SafeTransaction.objects.filter(pk=row.pk))
            if locked.state == SafeTxState.EXECUTABLE:
                _readiness(locked, state)
                locked.save(update_fields=["state", "threshold", "updated_at"])
        raise SafeTxNotReady(
            f"{len(signatures)} signatures of current owners, the Safe needs {state.threshold}"
        )
    packed = safelib.signatures_packed(
        sorted(signatures, key=lambda item: int(item[0], 16))[: state.threshold]
    )
    data = safelib.exec_data(safe_tx_of(row), packed)
    hot = hot_of(chain)
    if hot is None:
        raise NoHotWallet()
    try:
        fees = sender.fees_quote(chain, rpc=rpc)
        gas = sender.gas_estimate(
            chain, from_address=hot.address, to=row.safe_address, data=data, rpc=rpc
        )
        sender.nonce_cursor_ensure(chain, hot.address, rpc=rpc)
    except (BadTransaction, SenderError) as exc:  # the Safe would revert (GS0xx)
        SafeTransaction.objects.filter(pk=row.pk).update(error=str(exc)[:2000])
        raise SafeTxNotReady(f"execTransaction would revert: {exc}") from None
    except RpcError as exc:
        raise SafeUnavailable(str(exc)) from None
    with transaction.atomic():
        (row,) = rows_locked(SafeTransaction.objects.filter(pk=safe_tx_id))
        if row.state != SafeTxState.EXECUTABLE:
            raise SafeTxNotReady(f"this Safe transaction is {row.get_state_display().lower()}")
        tx = sender.tx_create(
            chain=chain,
            signer=hot.signer,
            from_address=hot.address,
            to=row.safe_address,
            data=data,
            gas_limit=gas,
            fees=fees,
            purpose=TxPurpose.REFILL,
            reference=f"safe-tx:{row.pk}",
            idempotency_key=f"safe-tx:{row.pk}:{row.exec_attempt}",
        )
        row.exec_tx = tx
        row.state = SafeTxState.EXECUTING
        row.error = ""
        row.save(update_fields=["exec_tx", "state", "error", "updated_at"])
        _event(row, tx_id=tx.pk)
    if broadcast:
        sender.tx_broadcast(tx, rpc=rpc)
    return row


# ------------------------------------------------------------------ excess to cold


def excess_send(chain: Chain, token: Token, *, rpc=None, broadcast: bool = True):
    """Send the hot wallet's ``token`` above its maximum, down to its target, to the cold
    Safe. None when there is no excess, one transfer is already in flight, or a refill of
    the token is open (the two would chase each other)."""
    _outside_transaction("excess_send")
    threshold = _threshold(token)
    safe = cold_of(chain)
    hot = hot_of(chain)
    if threshold is None or safe is None or hot is None:
        return None
    rpc = rpc or rpc_for(chain)
    level = hot_level(chain, token, hot=hot, rpc=rpc)
    level_record(threshold, level)
    if level.units <= threshold.max_units:
        return None
    if _open_refill(chain, token) is not None:
        return None
    amount_units = level.units - threshold.target_units
    amount_base = _base(token, amount_units)
    data = transfer_data(safe, amount_base)
    fees = sender.fees_quote(chain, rpc=rpc)
    gas = sender.gas_estimate(
        chain, from_address=hot.address, to=token.contract_address, data=data, rpc=rpc
    )
    sender.nonce_cursor_ensure(chain, hot.address, rpc=rpc)
    with transaction.atomic():
        list(for_update(HotWalletThreshold.objects.filter(pk=threshold.pk)))
        if ColdTransfer.objects.filter(
            chain=chain, token=token, state=ColdTransferState.SENT
        ).exists():
            return None
        if in_flight_out(hot, token) != level.in_flight_base:
            return None  # a payment was signed meanwhile: the next tick looks again
        count = ColdTransfer.objects.filter(chain=chain, token=token).count()
        tx = sender.tx_create(
            chain=chain,
            signer=hot.signer,
            from_address=hot.address,
            to=token.contract_address,
            data=data,
            gas_limit=gas,
            fees=fees,
            purpose=TxPurpose.REFILL,
            reference=f"cold:{token.symbol}",
            idempotency_key=f"cold:{chain.chain_id}:{token.pk}:{count + 1}",
        )
        transfer = ColdTransfer.objects.create(
            chain=chain,
            token=token,
            to_address=safe,
            amount_units=amount_units,
            amount_onchain=str(amount_base),
            tx=tx,
        )
        _cold_event(transfer)
    if broadcast:
        sender.tx_broadcast(tx, rpc=rpc)
    return transfer


def _cold_event(transfer: ColdTransfer) -> None:
    event_record(
        topic="treasury.cold_transfer",
        aggregate_type="cold_transfer",
        aggregate_id=transfer.pk,
        payload={
            "cold_transfer_id": transfer.pk,
            "chain_id": transfer.chain.chain_id,
            "address": transfer.to_address,
            "token": transfer.token.symbol,
            "amount_units": transfer.amount_units,
            "state": transfer.state,
        },
    )


# ------------------------------------------------------------------ outcomes


def on_refill_outcome(tx: OutgoingTransaction) -> None:
    """The sender's hook for REFILL transactions (inside its outcome transaction)."""
    for row in rows_locked(SafeTransaction.objects.filter(exec_tx=tx)):
        if row.state != SafeTxState.EXECUTING:
            continue
        if tx.state == TxState.CONFIRMED:
            row.state = SafeTxState.EXECUTED
            row.executed_at = timezone.now()
        elif tx.state == TxState.DROPPED:
            row.state = SafeTxState.EXECUTABLE  # sent again with a new transaction
            row.exec_attempt += 1
        else:
            row.state = SafeTxState.FAILED
            row.error = f"execTransaction failed: {tx.error}"[:2000]
        row.save(update_fields=["state", "executed_at", "exec_attempt", "error", "updated_at"])
        _event(row, tx_id=tx.pk)
    for transfer in rows_locked(ColdTransfer.objects.filter(tx=tx)):
        if transfer.state != ColdTransferState.SENT:
            continue
        if tx.state == TxState.CONFIRMED:
            transfer.state = ColdTransferState.DONE
        else:
            transfer.state = ColdTransferState.FAILED
            transfer.error = f"{tx.state}: {tx.error}"[:2000]
        transfer.save(update_fields=["state", "error", "updated_at"])
        _cold_event(transfer)


def hooks_register() -> None:
    sender.on_outcome(TxPurpose.REFILL, on_refill_outcome)


# ------------------------------------------------------------------ the tick


def treasury_tick(*, chain: Chain | None = None, broadcast: bool = True) -> dict[str, int]:
    """Per chain with a cold Safe and a hot wallet: record each token's level, propose a
    refill below the minimum, send the excess above the maximum, and execute the Safe
    transactions that have their signatures. Counts what it did; never raises for one
    chain's trouble (logged). Beat task ``settlement-treasury``."""
    _outside_transaction("treasury_tick")
    counts = {"levels": 0, "refills": 0, "excess": 0, "executed": 0, "errors": 0}
    chains = [chain] if chain else Chain.objects.filter(enabled=True)
    for one in chains:
        if cold_of(one) is None or hot_of(one) is None:
            continue
        rpc = rpc_for(one)
        thresholds = HotWalletThreshold.objects.filter(
            enabled=True, token__chain_id=one.chain_id
        ).select_related("token")
        for threshold in thresholds:
            token = threshold.token
            try:
                level = hot_level(one, token, rpc=rpc)
                level_record(threshold, level)
                counts["levels"] += 1
                if level.units < threshold.min_units:
                    _, created = refill_request(one, token, level=level, rpc=rpc)
                    counts["refills"] += int(created)
                elif level.units > threshold.max_units and excess_send(
                    one, token, rpc=rpc, broadcast=broadcast
                ):
                    counts["excess"] += 1
            except (RpcError, DomainError) as exc:
                counts["errors"] += 1
                logger.warning("chain %s: treasury of %s: %s", one.chain_id, token, exc)
        ready = SafeTransaction.objects.filter(chain=one, state=SafeTxState.EXECUTABLE).order_by(
            "nonce"
        )
        for row in ready:
            try:
                safe_tx_execute(row.pk, rpc=rpc, broadcast=broadcast)
                counts["executed"] += 1
            except (SafeTxNotReady, SafeUnavailable, NoHotWallet, RpcError) as exc:
                logger.info("chain %s: %s not executed: %s", one.chain_id, row, exc)
    return counts
