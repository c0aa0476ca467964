"""Merchant payouts: create (by schedule or on demand), pay in batches, the chain's answer
(docs/withdrawals.md, "Merchant payouts"; the models' docstring has the money rules).

Creating a payout is one transaction: the merchant's AVAILABLE account locked (so no
posting to it can commit meanwhile), its postings after the previous payout's hold
posting listed, their sum checked against the locked balance, the gross reserved
(AVAILABLE -> WITHDRAWING), the payout, its lines and ``payout.created`` written.

Paying (``payouts_pay_due``, beat) groups the PENDING payouts per (chain, token), checks
the hot wallet covers them (settlement.treasury ``hot_wallet_can_pay``: a short wallet
makes them wait, never fail), then in one transaction signs a BatchTransfer.batchTransfer
call through the sender (purpose PAYOUT; preceded by an ``approve`` of the contract when
its allowance is short: consecutive nonces) and moves the payouts to IN_PROGRESS. The
outcome hook completes every payout of the batch (CONFIRMED), fails every one with its
money back (FAILED), or puts them back to PENDING (DROPPED).
"""

import hashlib
import json
import logging
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from fastpay.errors import DomainError, IdempotencyError
from fastpay.events import event_record
from fastpay.locks import rows_locked
from fastpay.money import format_units
from settlement.destinations import destination_check
from settlement.models import AllowedAddress
from settlement.payouts.errors import (
    NoPayoutDestination,
    NothingToPayOut,
    PayoutBelowMinimum,
    PayoutsMerchantsOnly,
    StatementMismatch,
)
from settlement.payouts.models import (
    Payout,
    PayoutBatch,
    PayoutInterval,
    PayoutLine,
    PayoutSchedule,
    PayoutState,
)
from settlement.services import controls
from settlement.services.paying import NOT_MINED, amount_onchain_of, hot_wallet
from wallets.chain import sender
from wallets.chain.models import Chain, OutgoingTransaction, TxPurpose, TxState
from wallets.chain.rpc import RpcError, rpc_for
from wallets.chain.sender_errors import BadTransaction, SenderError
from wallets.models import AccountKind, EntryKind, Posting, Token, User, UserRole
from wallets.services.ledger import Line, accounts_lock, ledger_post, system_account, user_account

logger = logging.getLogger("settlement.payouts")

BATCH_SELECTOR = (
    "0x"
    + function_signature_to_4byte_selector(
        "batchTransfer(address,address[],uint256[],bytes32[])"
    ).hex()
)
APPROVE_SELECTOR = "0x095ea7b3"  # approve(address,uint256)
ALLOWANCE_SELECTOR = "0xdd62ed3e"  # allowance(address,address)
MAX_UINT = 2**256 - 1
MAX_BATCH = 100
#: the withdrawals' reviewers decide about payouts too (settlement.Withdrawal permission)
APPROVE_PERMISSION = "settlement.approve_withdrawal"


# ------------------------------------------------------------------ creating a payout


def payout_create(
    *,
    user: User,
    token: Token,
    destination: str | None = None,
    schedule: PayoutSchedule | None = None,
    period: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Payout, bool]:
    """Pay out the merchant's whole AVAILABLE balance of ``token``: (payout, created).
    The same idempotency key returns the first payout (created False)."""
    now = now or timezone.now()
    with transaction.atomic():
        if idempotency_key:
            existing = Payout.objects.filter(user=user, idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.token_id != token.pk or (
                    destination is not None and existing.destination != destination
                ):
                    raise IdempotencyError(
                        "this Idempotency-Key was used for a different payout",
                        param="Idempotency-Key",
                    )
                return existing, False
        if user.role != UserRole.MERCHANT:
            raise PayoutsMerchantsOnly()
        from settlement.services.withdrawals import token_chain_for

        token, chain = token_chain_for(token, None)
        schedule = schedule or PayoutSchedule.objects.filter(user=user, token=token).first()
        if destination is None:
            if schedule is None:
                raise NoPayoutDestination(param="destination")
            destination = schedule.destination.address
        destination = destination_check(destination, chain=chain)
        controls.allow_list_check(user=user, chain=chain, address=destination, now=now)

        account = user_account(user, token)
        locked = accounts_lock([account.pk])
        account = locked[account.pk]
        previous = Payout.objects.filter(account=account).order_by("-cutoff_posting_id").first()
        after = 0
        if previous is not None:
            after = Posting.objects.get(entry_id=previous.hold_entry_id, account=account).pk
        postings = list(
            Posting.objects.filter(account=account, pk__gt=after)
            .order_by("pk")
            .values_list("pk", "amount")
        )
        gross = sum(amount for _, amount in postings)
        if gross != account.balance:
            logger.error(
                "payout of %s in %s: postings since %s sum to %s, the balance is %s",
                user.pk,
                token.symbol,
                after,
                gross,
                account.balance,
            )
            raise StatementMismatch(param="token")
        if gross <= 0:
            raise NothingToPayOut(param="token")
        fee = controls.policy_for(token).fee_units
        minimum = max(1, schedule.minimum_units if schedule else 1)
        if gross - fee < minimum:
            raise PayoutBelowMinimum(
                f"{format_units(gross, token.ledger_decimals)} available, the fee is "
                f"{format_units(fee, token.ledger_decimals)}: the minimum payout is "
                f"{format_units(minimum, token.ledger_decimals)}",
                param="token",
            )
        payout = Payout(
            user=user,
            token=token,
            chain=chain,
            schedule=schedule,
            destination=destination,
            gross_units=gross,
            fee_units=fee,
            amount_units=gross - fee,
            account=account,
            after_posting_id=after,
            cutoff_posting_id=postings[-1][0],
            idempotency_key=idempotency_key or None,
            created_at=now,
        )
        payout.period = period or f"demand:{payout.pk}"
        payout.hold_entry = ledger_post(
            kind=EntryKind.WITHDRAWAL_HOLD,
            reference=f"payout:{payout.pk}",
            lines=[
                Line(account, -gross),
                Line(user_account(user, token, AccountKind.WITHDRAWING), gross),
            ],
            idempotency_key=f"payout:{payout.pk}:hold",
            locked=locked,
        )
        payout.save(force_insert=True)
        PayoutLine.objects.bulk_create(
            PayoutLine(payout=payout, posting_id=pk, amount=amount) for pk, amount in postings
        )
        payout_event(payout, topic="payout.created")
    return payout, True


# ------------------------------------------------------------------ schedules (beat)


def schedule_period(schedule: PayoutSchedule, now: datetime, balance: int) -> str | None:
    """The period a schedule is due for at ``now``, or None when it is not due."""
    if schedule.interval == PayoutInterval.DAILY:
        return f"daily:{now:%Y-%m-%d}" if now.hour >= schedule.hour_utc else None
    if schedule.interval == PayoutInterval.WEEKLY:
        year, week, _ = now.isocalendar()
        if (now.weekday(), now.hour) >= (schedule.weekday, schedule.hour_utc):
            return f"weekly:{year}-W{week:02d}"
        return None
    if balance >= schedule.threshold_units:
        return "threshold"  # made unique by the start posting (payout_create)
    return None


def schedules_run(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: one payout per schedule due and period. A second run in the same period finds
    the payout (the unique period) and does nothing."""
    now = now or timezone.now()
    counts: dict[str, int] = defaultdict(int)
    schedules = PayoutSchedule.objects.filter(enabled=True).select_related(
        "user", "token", "destination"
    )
    for schedule in schedules:
        balance = user_account(schedule.user, schedule.token).balance
        period = schedule_period(schedule, now, balance)
        if period is None:
            counts["not_due"] += 1
            continue
        if period == "threshold":
            period = f"threshold:{_start_of(schedule)}"
        if Payout.objects.filter(user=schedule.user, token=schedule.token, period=period).exists():
            counts["already_paid_out"] += 1
            continue
        try:
            payout_create(
                user=schedule.user,
                token=schedule.token,
                schedule=schedule,
                period=period,
                now=now,
            )
        except (NothingToPayOut, PayoutBelowMinimum):
            counts["below_minimum"] += 1
        except IntegrityError:
            counts["already_paid_out"] += 1  # another run won the unique period
        except DomainError as exc:
            logger.warning("payout schedule %s refused: %s (%s)", schedule.pk, exc.code, exc)
            counts[exc.code] += 1
        else:
            counts["created"] += 1
    return dict(counts)


def _start_of(schedule: PayoutSchedule) -> int:
    previous = (
        Payout.objects.filter(user=schedule.user, token=schedule.token)
        .order_by("-cutoff_posting_id")
        .first()
    )
    return previous.cutoff_posting_id if previous else 0


# ------------------------------------------------------------------ paying in batches


def batch_contract_address(chain: Chain) -> str | None:
    """settings FASTPAY_BATCH_TRANSFER_ADDRESS, else the deployment file's BatchTransfer."""
    configured = getattr(settings, "FASTPAY_BATCH_TRANSFER_ADDRESS", "")
    if configured:
        return to_checksum_address(configured)
    try:
        with open(settings.FASTPAY_DEPLOYMENT_JSON) as handle:
            deployment = json.load(handle)
    except (OSError, ValueError):
        return None
    if int(deployment.get("chain_id", 0)) != chain.chain_id:
        return None
    entry = deployment.get("contracts", {}).get("BatchTransfer") or {}
    return to_checksum_address(entry["address"]) if entry.get("address") else None


def batch_data(token: Token, items: list[tuple[str, int, bytes]]) -> str:
    encoded = abi_encode(
        ["address", "address[]", "uint256[]", "bytes32[]"],
        [
            token.contract_address,
            [to for to, _, _ in items],
            [amount for _, amount, _ in items],
            [ref for _, _, ref in items],
        ],
    )
    return BATCH_SELECTOR + encoded.hex()


def approve_data(spender: str, amount: int) -> str:
    return APPROVE_SELECTOR + abi_encode(["address", "uint256"], [spender, amount]).hex()


def payout_ref(payout: Payout) -> bytes:
    return payout.pk.bytes.rjust(32, b"\x00")


def _allowance(rpc, token: Token, owner: str, spender: str) -> int:
    data = ALLOWANCE_SELECTOR + abi_encode(["address", "address"], [owner, spender]).hex()
    raw = rpc.call({"to": token.contract_address, "data": data})
    if len(raw) != 32:
        raise RpcError(f"allowance of {token.contract_address} answered {len(raw)} bytes")
    return int.from_bytes(raw, "big")


def in_flight_onchain(chain: Chain, token: Token) -> int:
    """Base units that signed, not yet mined payout batches will take from the hot wallet."""
    rows = Payout.objects.filter(
        chain=chain, token=token, state=PayoutState.IN_PROGRESS, batch__tx__state__in=NOT_MINED
    ).values_list("amount_onchain", flat=True)
    return sum(int(v) for v in rows)


def payouts_pay_due(*, limit: int = MAX_BATCH, broadcast: bool = True) -> dict[str, int]:
    """Beat: pay the PENDING payouts, one batch transaction per (chain, token). Network I/O:
    never inside a transaction."""
    from settlement.services.paying import _in_transaction
    from settlement.treasury.services import hot_wallet_can_pay

    if _in_transaction():
        raise RuntimeError("payouts_pay_due does network I/O: never inside a transaction")
    counts: dict[str, int] = defaultdict(int)
    groups: dict[tuple[int, int], list[Payout]] = defaultdict(list)
    pending = (
        Payout.objects.filter(state=PayoutState.PENDING)
        .select_related("token", "chain")
        .order_by("created_at")
    )
    for payout in pending:
        if len(groups[(payout.chain_id, payout.token_id)]) < limit:
            groups[(payout.chain_id, payout.token_id)].append(payout)
    signed: list[OutgoingTransaction] = []
    for rows in groups.values():
        chain, token = rows[0].chain, rows[0].token
        hot = hot_wallet(chain)
        contract = batch_contract_address(chain)
        if hot is None or contract is None:
            _wait(rows, "no_hot_wallet" if hot is None else "no_batch_contract", counts)
            continue
        total = sum(amount_onchain_of(p.amount_units, token) for p in rows)
        rpc = rpc_for(chain)
        try:
            if not hot_wallet_can_pay(
                chain, token, total + in_flight_onchain(chain, token), rpc=rpc
            ):
                _wait(rows, "hot_wallet_short", counts)
                continue
            fees = sender.fees_quote(chain, rpc=rpc)
            sender.nonce_cursor_ensure(chain, hot.address, rpc=rpc)
            allowance = _allowance(rpc, token, hot.address, contract)
            items = [
                (p.destination, amount_onchain_of(p.amount_units, token), payout_ref(p))
                for p in rows
            ]
            approve_gas = None
            if allowance < total:
                approve_gas = sender.gas_estimate(
                    chain,
                    from_address=hot.address,
                    to=token.contract_address,
                    data=approve_data(contract, MAX_UINT),
                    rpc=rpc,
                )
                gas = 80_000 + 45_000 * len(items)  # cannot estimate before the approval
            else:
                gas = sender.gas_estimate(
                    chain,
                    from_address=hot.address,
                    to=contract,
                    data=batch_data(token, items),
                    rpc=rpc,
                )
        except BadTransaction as exc:
            logger.error(
                "chain %s: payout batch of %s cannot be built: %s", chain.chain_id, token, exc
            )
            _wait(rows, "cannot_build", counts)
            continue
        except (RpcError, SenderError) as exc:
            logger.warning("chain %s: payouts wait: %s", chain.chain_id, exc)
            _wait(rows, "chain_unavailable", counts)
            continue
        txs = batch_pay(
            payout_ids=[p.pk for p in rows],
            hot=hot,
            contract=contract,
            fees=fees,
            gas_limit=gas,
            approve_gas=approve_gas,
        )
        if txs:
            signed += txs
            counts["paid"] += len(rows)
            counts["batches"] += 1
    if broadcast:
        for tx in signed:
            sender.tx_broadcast(tx)
    return dict(counts)


def _wait(rows: list[Payout], reason: str, counts) -> None:
    counts[reason] += len(rows)
    Payout.objects.filter(pk__in=[p.pk for p in rows], state=PayoutState.PENDING).exclude(
        waiting_reason=reason
    ).update(waiting_reason=reason, updated_at=timezone.now())


def batch_pay(
    *, payout_ids, hot, contract: str, fees, gas_limit: int, approve_gas: int | None
) -> list[OutgoingTransaction]:
    """Sign the batch (and the approval before it, if any) and move its payouts to
    IN_PROGRESS, in one transaction. Payouts no longer PENDING are left out; [] when none
    is left."""
    with transaction.atomic():
        payouts = [
            p
            for p in rows_locked(
                Payout.objects.filter(pk__in=payout_ids).select_related("token"), of=("self",)
            )
            if p.state == PayoutState.PENDING
        ]
        if not payouts:
            return []
        payouts.sort(key=lambda p: (p.created_at, p.pk))
        token = payouts[0].token
        items = [
            (p.destination, amount_onchain_of(p.amount_units, token), payout_ref(p))
            for p in payouts
        ]
        total = sum(amount for _, amount, _ in items)
        key = hashlib.sha256(",".join(sorted(str(p.pk) for p in payouts)).encode()).hexdigest()
        txs = []
        if approve_gas is not None:
            txs.append(
                sender.tx_create(
                    chain=hot.chain,
                    signer=hot.signer,
                    from_address=hot.address,
                    to=token.contract_address,
                    data=approve_data(contract, MAX_UINT),
                    gas_limit=approve_gas,
                    fees=fees,
                    purpose=TxPurpose.PAYOUT,
                    reference=f"payout-approve:{token.symbol}",
                    idempotency_key=f"payout-approve:{key[:32]}",
                )
            )
        tx = sender.tx_create(
            chain=hot.chain,
            signer=hot.signer,
            from_address=hot.address,
            to=contract,
            data=batch_data(token, items),
            gas_limit=gas_limit,
            fees=fees,
            purpose=TxPurpose.PAYOUT,
            reference=f"payout-batch:{key[:16]}",
            idempotency_key=f"payout-batch:{key}",
        )
        txs.append(tx)
        batch = PayoutBatch.objects.create(
            chain=hot.chain,
            token=token,
            contract_address=contract,
            tx=tx,
            total_onchain=str(total),
        )
        for payout, (_, amount, _) in zip(payouts, items, strict=True):
            payout.batch = batch
            payout.amount_onchain = str(amount)
            payout.state = PayoutState.IN_PROGRESS
            payout.waiting_reason = ""
            payout.save()
            payout_event(payout, topic="payout.in_progress")
    return txs


# ------------------------------------------------------------------ outcomes


def batch_outcome(tx: OutgoingTransaction) -> None:
    """The sender's hook for PAYOUT transactions (inside its outcome transaction)."""
    batch = PayoutBatch.objects.filter(tx=tx).first()
    if batch is None:
        if tx.state != TxState.CONFIRMED:
            logger.error("payout approval %s ended %s: %s", tx.pk, tx.state, tx.error)
        return
    payouts = rows_locked(
        Payout.objects.filter(batch=batch, state=PayoutState.IN_PROGRESS).select_related(
            "token", "user"
        ),
        of=("self",),
    )
    for payout in payouts:
        if tx.state == TxState.CONFIRMED:
            payout_complete(payout)
        elif tx.state == TxState.FAILED:
            payout_fail(payout, code="transaction_failed", note=tx.error or "")
        elif tx.state == TxState.DROPPED:
            logger.error("%s: batch %s dropped; it will be paid again", payout, batch.pk)
            payout.batch = None
            payout.amount_onchain = ""
            payout.state = PayoutState.PENDING
            payout.waiting_reason = "transaction_dropped"
            payout.save()
            payout_event(payout, topic="payout.requeued")


def payout_complete(payout: Payout) -> None:
    token = payout.token
    lines = [
        Line(user_account(payout.user, token, AccountKind.WITHDRAWING), -payout.gross_units),
        Line(system_account(token, AccountKind.CUSTODY), payout.amount_units),
    ]
    if payout.fee_units:
        lines.append(Line(system_account(token, AccountKind.FEES), payout.fee_units))
    payout.final_entry = ledger_post(
        kind=EntryKind.WITHDRAWAL,
        reference=f"payout:{payout.pk}",
        lines=lines,
        idempotency_key=f"payout:{payout.pk}:final",
    )
    payout.state = PayoutState.PAID
    payout.closed_at = timezone.now()
    payout.save()
    payout_event(payout, topic="payout.paid")


def payout_fail(payout: Payout, *, code: str, note: str) -> None:
    """The batch failed for good: the gross back to AVAILABLE, with the reason."""
    token = payout.token
    payout.final_entry = ledger_post(
        kind=EntryKind.WITHDRAWAL_VOID,
        reference=f"payout:{payout.pk}",
        lines=[
            Line(user_account(payout.user, token, AccountKind.WITHDRAWING), -payout.gross_units),
            Line(user_account(payout.user, token), payout.gross_units),
        ],
        idempotency_key=f"payout:{payout.pk}:final",
        memo=note[:255],
    )
    payout.state = PayoutState.FAILED
    payout.failure_code = code[:64]
    payout.note = note
    payout.closed_at = timezone.now()
    payout.save()
    payout_event(payout, topic="payout.failed")


def payout_cancel_by_staff(*, payout_id, staff: User, note: str) -> Payout:
    """Staff stop a payout no transaction was signed for (PENDING): its money goes back to
    AVAILABLE (FAILED, code staff_cancelled, with the note)."""
    from settlement.errors import InvalidState, NoteRequired

    if not (staff.is_active and staff.is_staff and staff.has_perm(APPROVE_PERMISSION)):
        raise PayoutsMerchantsOnly(
            "only staff with the approve_withdrawal permission cancel payouts",
            code="approval_forbidden",
        )
    if not note.strip():
        raise NoteRequired(param="note")
    with transaction.atomic():
        payout = (
            rows_locked(
                Payout.objects.filter(pk=payout_id).select_related("token", "user"), of=("self",)
            )
            or [None]
        )[0]
        if payout is None or payout.state != PayoutState.PENDING:
            raise InvalidState(
                "only a pending payout (no transaction signed) can be cancelled",
                param="state",
                code="payout_not_cancellable",
            )
        payout_fail(payout, code="staff_cancelled", note=f"{note} (by {staff.get_username()})")
    return payout


def outcome_hooks_register() -> None:
    sender.on_outcome(TxPurpose.PAYOUT, batch_outcome)


# ------------------------------------------------------------------ payloads, checks


def payout_payload(payout: Payout) -> dict:
    token = payout.token
    tx_hash = None
    if payout.batch_id is not None:
        tx = payout.batch.tx
        tx_hash = tx.mined_hash or tx.attempts.order_by("-id").values_list("tx_hash", flat=True)[0]
    return {
        "payout_id": str(payout.pk),
        "user_id": payout.user_id,
        "token": token.symbol,
        "chain_id": token.chain_id,
        "destination": payout.destination,
        "gross": format_units(payout.gross_units, token.ledger_decimals),
        "fee": format_units(payout.fee_units, token.ledger_decimals),
        "amount": format_units(payout.amount_units, token.ledger_decimals),
        "amount_units": payout.amount_units,
        "entries": payout.lines.count(),
        "tx_hash": tx_hash,
        "reason": payout.failure_code or None,
        "note": payout.note or None,
        "state": payout.state,
    }


def payout_event(payout: Payout, *, topic: str) -> None:
    event_record(
        topic=topic, aggregate_type="payout", aggregate_id=payout.pk, payload=payout_payload(payout)
    )


def reserved_mismatches() -> list[dict]:
    """Per (user, token): WITHDRAWING against open withdrawals + open payouts (what H6's
    settlement.services.paying.reserved_mismatches checks, with payouts)."""
    from settlement.models import OPEN_STATES, Withdrawal
    from wallets.models import LedgerAccount

    reserved = {
        (r["owner_id"], r["token_id"]): r["balance"]
        for r in LedgerAccount.objects.filter(kind=AccountKind.WITHDRAWING).values(
            "owner_id", "token_id", "balance"
        )
    }
    open_: dict = defaultdict(int)
    for r in (
        Withdrawal.objects.filter(state__in=OPEN_STATES)
        .values("user_id", "token_id")
        .annotate(amount=Sum("amount_units"), fee=Sum("fee_units"))
    ):
        open_[(r["user_id"], r["token_id"])] += r["amount"] + r["fee"]
    for r in (
        Payout.objects.filter(state__in=(PayoutState.PENDING, PayoutState.IN_PROGRESS))
        .values("user_id", "token_id")
        .annotate(gross=Sum("gross_units"))
    ):
        open_[(r["user_id"], r["token_id"])] += r["gross"]
    return [
        {"user": k[0], "token": k[1], "reserved": reserved.get(k, 0), "open": open_[k]}
        for k in sorted(reserved.keys() | open_.keys())
        if reserved.get(k, 0) != open_[k]
    ]


def allowed_destination(user: User, address_id: int) -> AllowedAddress | None:
    return (
        AllowedAddress.objects.filter(user=user, pk=address_id, removed_at__isnull=True)
        .select_related("chain")
        .first()
    )
