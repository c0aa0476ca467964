"""Paying withdrawals on-chain from the hot wallet, through the one sender
(wallets.chain.sender), and the chain's answer (docs/withdrawals.md, "Paying").

``withdrawals_pay_due`` (beat task ``settlement-pay``) takes the approved withdrawals whose
time-lock is over, oldest approval first. Per chain it quotes the fees and makes sure of
the hot wallet's nonce cursor, per token it reads the hot wallet's balance at the latest
block minus what signed transfers not yet mined will take (network I/O, outside any
transaction). A withdrawal the hot wallet cannot cover *waits* (``waiting_reason``
hot_wallet_short, a metric): it never fails for that. Each one it can cover is paid in its
own transaction: the row locked, still AWAITING_PAYMENT at the revision that was checked,
``tx_create`` (the ERC-20 transfer, idempotency key ``withdrawal:<id>:<attempt>``) and the
move to IN_PROGRESS commit together, or neither does; then the transaction is broadcast
(after commit; a crash before that is made good by the sender's follow loop, with the same
signed bytes: nothing is sent twice).

The outcome hook (``on_outcome(WITHDRAWAL)``) runs inside the sender's transaction that
records the outcome: CONFIRMED -> COMPLETED (WITHDRAWING -> CUSTODY, FEES), FAILED ->
FAILED (the money back to AVAILABLE, the revert reason kept), DROPPED (the nonce went to a
transaction we did not send: ours can never be mined) -> AWAITING_PAYMENT again, paid
with a new transaction on the next run.

``token_transfer_build`` is the shared pay path: merchant payouts use it the same way.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from eth_abi import encode as abi_encode

from fastpay.locks import for_update
from fastpay.money import units_to_onchain
from settlement.models import OPEN_STATES, Withdrawal, WithdrawalState
from settlement.services import lifecycle as services
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

logger = logging.getLogger("settlement.paying")

TRANSFER_SELECTOR = "0xa9059cbb"  # transfer(address,uint256)
NOT_MINED = (TxState.SIGNED, TxState.BROADCAST)


@dataclass(frozen=True, slots=True)
class HotWallet:
    chain: Chain
    address: str
    signer: str


def hot_wallet(chain: Chain) -> HotWallet | None:
    row = PlatformAddress.objects.filter(chain=chain, role=AddressRole.HOT).first()
    if row is None or row.account_id is None:
        return None
    return HotWallet(chain, row.address, signer_hd(row.account.account_index, row.index))


def transfer_data(to: str, amount_onchain: int) -> str:
    return TRANSFER_SELECTOR + abi_encode(["address", "uint256"], [to, amount_onchain]).hex()


def amount_onchain_of(units: int, token: Token) -> int:
    return units_to_onchain(units, decimals=token.decimals, ledger_decimals=token.ledger_decimals)


def token_transfer_create(
    *,
    hot: HotWallet,
    token: Token,
    to: str,
    amount_onchain: int,
    fees,
    gas_limit: int,
    purpose: str,
    reference: str,
    idempotency_key: str,
) -> OutgoingTransaction:
    """The signed ERC-20 transfer from the hot wallet (inside the caller's transaction)."""
    return sender.tx_create(
        chain=hot.chain,
        signer=hot.signer,
        from_address=hot.address,
        to=token.contract_address,
        data=transfer_data(to, amount_onchain),
        gas_limit=gas_limit,
        fees=fees,
        purpose=purpose,
        reference=reference,
        idempotency_key=idempotency_key,
    )


def in_flight_onchain(hot: HotWallet, token: Token) -> int:
    """Base units of ``token`` that signed, not yet mined withdrawals will take from the hot
    wallet (a mined one already shows in its balance)."""
    rows = Withdrawal.objects.filter(
        chain=hot.chain,
        token=token,
        state=WithdrawalState.IN_PROGRESS,
        tx__state__in=NOT_MINED,
    ).values_list("amount_onchain", flat=True)
    return sum(int(value) for value in rows)


def _in_transaction() -> bool:
    """In a transaction of our own (a test case's wrapping atomic block does not count:
    Django marks it)."""
    blocks = transaction.get_connection().atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def withdrawals_due(*, now=None, limit: int = 100):
    now = now or timezone.now()
    return (
        Withdrawal.objects.filter(state=WithdrawalState.AWAITING_PAYMENT)
        .filter(Q(unlock_at__isnull=True) | Q(unlock_at__lte=now))
        .select_related("token", "chain")
        .order_by("approved_at", "created_at")[:limit]
    )


def withdrawals_pay_due(*, now=None, limit: int = 100, broadcast: bool = True) -> dict[str, int]:
    """Pay what is approved and unlocked, as far as the hot wallet covers it. Returns
    counts: paid, and the waiting ones by reason. Never inside a transaction."""
    if _in_transaction():
        raise RuntimeError("withdrawals_pay_due does network I/O: never inside a transaction")
    counts: dict[str, int] = defaultdict(int)
    by_chain: dict[int, list[Withdrawal]] = defaultdict(list)
    for withdrawal in withdrawals_due(now=now, limit=limit):
        by_chain[withdrawal.chain_id].append(withdrawal)
    paid: list[OutgoingTransaction] = []
    for rows in by_chain.values():
        _pay_chain(rows, counts, paid, now=now)
    if broadcast:
        for tx in paid:
            sender.tx_broadcast(tx)
    return dict(counts)


def _pay_chain(rows: list[Withdrawal], counts, paid: list, *, now=None) -> None:
    chain = rows[0].chain
    hot = hot_wallet(chain)
    if hot is None:
        _wait(rows, "no_hot_wallet", counts)
        return
    rpc = rpc_for(chain)
    try:
        fees = sender.fees_quote(chain, rpc=rpc)
        sender.nonce_cursor_ensure(chain, hot.address, rpc=rpc)
    except (RpcError, SenderError) as exc:
        logger.warning("chain %s: withdrawals wait: %s", chain.chain_id, exc)
        _wait(rows, "chain_unavailable", counts)
        return
    left: dict[int, int] = {}
    for withdrawal in rows:
        token = withdrawal.token
        need = amount_onchain_of(withdrawal.amount_units, token)
        try:
            if token.pk not in left:
                balance = rpc.balance_of(token.contract_address, hot.address, "latest")
                left[token.pk] = balance - in_flight_onchain(hot, token)
            if need > left[token.pk]:
                _wait([withdrawal], "hot_wallet_short", counts)
                continue
            gas = _gas(hot, token, withdrawal.destination, need, rpc)
        except RpcError as exc:
            logger.warning("chain %s: %s waits: %s", chain.chain_id, withdrawal, exc)
            _wait([withdrawal], "chain_unavailable", counts)
            continue
        except BadTransaction as exc:
            logger.error("%s cannot be built: %s", withdrawal, exc)
            _wait([withdrawal], "cannot_build", counts)
            continue
        tx = withdrawal_pay(
            withdrawal_id=withdrawal.pk,
            revision=withdrawal.revision,
            hot=hot,
            fees=fees,
            gas_limit=gas,
            now=now,
        )
        if tx is not None:
            left[token.pk] -= need
            paid.append(tx)
            counts["paid"] += 1


def _gas(hot: HotWallet, token: Token, to: str, amount: int, rpc) -> int:
    """The node's estimate with the sender's margin; BadTransaction when the node says the
    transfer would revert (the balance was checked: the token itself refuses, e.g. paused)."""
    return sender.gas_estimate(
        hot.chain,
        from_address=hot.address,
        to=token.contract_address,
        data=transfer_data(to, amount),
        rpc=rpc,
    )


def _wait(rows: list[Withdrawal], reason: str, counts) -> None:
    counts[reason] += len(rows)
    Withdrawal.objects.filter(
        pk__in=[w.pk for w in rows], state=WithdrawalState.AWAITING_PAYMENT
    ).exclude(waiting_reason=reason).update(waiting_reason=reason, updated_at=timezone.now())


def withdrawal_pay(
    *, withdrawal_id, revision: int, hot: HotWallet, fees, gas_limit: int, now=None
) -> OutgoingTransaction | None:
    """Sign the withdrawal's transfer and move it to IN_PROGRESS, in one transaction.
    None when it is no longer due (cancelled meanwhile, revised, or paid by another run)."""
    with transaction.atomic():
        withdrawal = (
            for_update(Withdrawal.objects.select_related("token", "chain"), of=("self",))
            .filter(pk=withdrawal_id)
            .first()
        )
        now = now or timezone.now()
        if (
            withdrawal is None
            or withdrawal.state != WithdrawalState.AWAITING_PAYMENT
            or withdrawal.revision != revision
            or (withdrawal.unlock_at is not None and withdrawal.unlock_at > now)
        ):
            return None
        amount = amount_onchain_of(withdrawal.amount_units, withdrawal.token)
        attempt = withdrawal.pay_attempts + 1
        tx = token_transfer_create(
            hot=hot,
            token=withdrawal.token,
            to=withdrawal.destination,
            amount_onchain=amount,
            fees=fees,
            gas_limit=gas_limit,
            purpose=TxPurpose.WITHDRAWAL,
            reference=f"withdrawal:{withdrawal.pk}",
            idempotency_key=f"withdrawal:{withdrawal.pk}:{attempt}",
        )
        withdrawal.tx = tx
        withdrawal.pay_attempts = attempt
        withdrawal.amount_onchain = str(amount)
        withdrawal.state = WithdrawalState.IN_PROGRESS
        withdrawal.waiting_reason = ""
        withdrawal.paid_at = now
        withdrawal.save()
        services.withdrawal_event(withdrawal, topic="withdrawal.in_progress")
    return tx


def withdrawal_outcome(tx: OutgoingTransaction) -> None:
    """The sender's hook (inside its outcome transaction; ``tx`` is locked)."""
    withdrawal = (
        for_update(Withdrawal.objects.select_related("token", "chain", "user"), of=("self",))
        .filter(tx=tx)
        .first()
    )
    if withdrawal is None or withdrawal.state != WithdrawalState.IN_PROGRESS:
        return
    if tx.state == TxState.CONFIRMED:
        services.withdrawal_complete(withdrawal)
    elif tx.state == TxState.FAILED:
        services.withdrawal_fail(withdrawal, code="transaction_failed", note=tx.error or "")
    elif tx.state == TxState.DROPPED:
        logger.error("%s: its transaction %s was dropped; it will be paid again", withdrawal, tx)
        withdrawal.tx = None
        withdrawal.amount_onchain = ""
        withdrawal.state = WithdrawalState.AWAITING_PAYMENT
        withdrawal.waiting_reason = "transaction_dropped"
        withdrawal.save()
        services.withdrawal_event(withdrawal, topic="withdrawal.requeued")


def outcome_hooks_register() -> None:
    sender.on_outcome(TxPurpose.WITHDRAWAL, withdrawal_outcome)


def reserved_mismatches() -> list[dict]:
    """Per (user, token): the WITHDRAWING balance against the open withdrawals' amount +
    fee. Empty when they agree (the tests assert it after every step)."""
    from wallets.models import AccountKind, LedgerAccount

    reserved = {
        (row["owner_id"], row["token_id"]): row["balance"]
        for row in LedgerAccount.objects.filter(kind=AccountKind.WITHDRAWING).values(
            "owner_id", "token_id", "balance"
        )
    }
    open_ = defaultdict(int)
    for row in (
        Withdrawal.objects.filter(state__in=OPEN_STATES)
        .values("user_id", "token_id")
        .annotate(amount=Sum("amount_units"), fee=Sum("fee_units"))
    ):
        open_[(row["user_id"], row["token_id"])] = row["amount"] + row["fee"]
    return [
        {"user": key[0], "token": key[1], "reserved": reserved.get(key, 0), "open": open_[key]}
        for key in sorted(reserved.keys() | open_.keys())
        if reserved.get(key, 0) != open_[key]
    ]
