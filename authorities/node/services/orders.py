"""Transfer orders: check (fastpay_protocol.handoff.vote_decision), lock the sender's
sequence, sign and log the vote."""

from __future__ import annotations

import time

from authorities.node import errors
from authorities.node.models import Account, Vote
from authorities.node.runtime import node
from authorities.node.services.group_commit import GroupCommit
from authorities.node.services.handover_state import carried_locks, handed_over_epochs
from authorities.node.services.locks import (
    accounts_lock,
    balances_get,
    rows_update,
    write_transaction,
)
from authorities.node.services.recoveries import digests_of, signer_note
from fastpay.bulk_insert import rows_insert
from fastpay_protocol.handoff import (
    HANDOVER_PENDING,
    INSUFFICIENT_BALANCE,
    SEQUENCE_LOCKED,
    SEQUENCE_MISMATCH,
    Refusal,
    vote_decision,
)
from fastpay_protocol.signing import recover_digest_bytes
from fastpay_protocol.typed_data import InvalidSignature
from fastpay_protocol.wire import (
    Order,
    SignedOrder,
    checksum,
    hex0x,
    render_order,
)


def vote_order(vote: Vote) -> Order:
    return Order(vote.sender, vote.recipient, vote.token, vote.amount, vote.sequence, vote.epoch)


def _check(signed: SignedOrder) -> tuple[bytes, None] | tuple[None, errors.NodeError]:
    """CPU-only checks of one order; returns (vote digest, None) or (None, error). An order
    of another epoch than the active one is refused before any signature recovery (the
    transaction decides again by handoff.vote_decision, by the clock of that moment)."""
    rt = node()
    order = signed.order
    active = rt.active_epoch()
    if order.epoch != active or not rt.is_member(active):
        return None, errors.WrongEpoch(epoch=active)
    if order.amount == 0:
        return None, errors.InvalidRequest("amount must be positive", param="order.amount")
    order_digest, vote_digest = digests_of(rt.digests, order)
    try:
        signer = recover_digest_bytes(order_digest, signed.signature)
    except InvalidSignature as exc:
        return None, errors.InvalidSignature(str(exc), param="signature")
    if "0x" + signer.hex() != order.sender:
        return None, errors.InvalidSignature("not signed by the order's sender", param="signature")
    signer_note(order_digest, signed.signature, signer)  # its certificate needs no recovery
    return vote_digest, None


def orders_handle(*, signed_orders: list[SignedOrder]) -> list[dict | errors.NodeError]:
    """Vote for each order that passes the checks of docs/protocol.md; results in order,
    each ``{"vote": Vote}`` or a NodeError. Concurrent requests share write transactions
    (group_commit)."""
    results: list[dict | errors.NodeError | None] = [None] * len(signed_orders)
    candidates = []
    for i, signed in enumerate(signed_orders):
        digest, error = _check(signed)
        if error is not None:
            results[i] = error
        else:
            candidates.append((i, signed, digest))
    if candidates:
        decided = _commit([(signed, digest) for _, signed, digest in candidates])
        for (i, _, _), result in zip(candidates, decided, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def _decide_all(candidates: list[tuple[SignedOrder, bytes]]) -> list:
    """One write transaction for checked orders (possibly from several requests)."""
    results: list = [None] * len(candidates)
    with write_transaction():
        _decide(node(), [(j, s, d) for j, (s, d) in enumerate(candidates)], results)
    return results


_commit = GroupCommit(_decide_all)


def _decide(rt, candidates, results) -> None:
    """Inside the transaction: handoff.vote_decision for each order (epoch by the clock
    now, handover, sequence, own lock, carried locks, balance), then sign and log. The
    orders are taken in the given order, so the first one for a sequence locks it."""
    now = time.time()
    handed_over = handed_over_epochs(rt.schedule, rt.active_epoch(now))
    senders = {signed.order.sender for _, signed, _ in candidates}
    accounts = accounts_lock(senders, create=False)
    balances = balances_get(
        [
            (accounts[s.order.sender], s.order.token)
            for _, s, _ in candidates
            if s.order.sender in accounts
        ],
        create=False,
    )
    pending_ids = [a.pending_vote_id for a in accounts.values() if a.pending_vote_id]
    pending = {v.sender: v for v in Vote.objects.filter(pk__in=pending_ids)} if pending_ids else {}
    carried = carried_locks(senders)
    me = checksum(rt.address)
    new_votes: list[VoteRow] = []
    for i, signed, digest in candidates:
        order = signed.order
        account = accounts.get(order.sender)
        next_sequence = account.next_sequence if account else 0
        balance = balances.get((account.pk, order.token)) if account else None
        locked = pending.get(order.sender)
        decision = vote_decision(
            order=order,
            now=now,
            schedule=rt.schedule,
            me=rt.address,
            handed_over=handed_over,
            next_sequence=next_sequence,
            pending=locked,
            carried=carried.get((order.sender, order.sequence), ()),
            balance=balance.units if balance else 0,
        )
        if decision == "same":
            results[i] = {"vote": {"authority": me, "signature": locked.signature}}
        elif decision == "vote":
            vote = _new_vote(rt, signed, digest, conflicting=False)
            new_votes.append(vote)
            pending[order.sender] = vote
            results[i] = {"vote": {"authority": me, "signature": vote.signature}}
        elif (
            rt.byzantine and decision.code == SEQUENCE_LOCKED and decision.fields["order"] is locked
        ):  # test-only: equivocate
            vote = _new_vote(rt, signed, digest, conflicting=True)
            new_votes.append(vote)
            results[i] = {"vote": {"authority": me, "signature": vote.signature}}
        else:
            results[i] = _refusal(decision, order, locked, next_sequence, me)
    if new_votes:
        rows_insert(Vote, new_votes, returning=True)
        changed = []
        for address, vote in pending.items():
            account = accounts.get(address)
            if account is not None and account.pending_vote_id != vote.pk and not vote.conflicting:
                account.pending_vote_id = vote.pk
                changed.append(account)
        if changed:
            rows_update(Account, ["pending_vote"], changed)


def _refusal(refusal: Refusal, order: Order, locked, next_sequence: int, me: str):
    """The NodeError (or, for an order already certified here, its vote) of a Refusal."""
    code, fields = refusal.code, refusal.fields
    if code == SEQUENCE_LOCKED:
        held = fields["order"]
        if held is locked:
            return errors.SequenceLocked(
                order=render_order(vote_order(locked)),
                vote={"authority": me, "signature": locked.signature},
            )
        return errors.SequenceLocked(  # a carried lock: another member's vote, read in a handover
            "A pending order of an earlier epoch holds this sequence: only the same payment "
            "re-signed for this epoch gets a vote.",
            order=render_order(held),
            carried=True,
            carried_vote={"authority": checksum(held.voter), "signature": held.vote_signature},
        )
    if code == SEQUENCE_MISMATCH:
        earlier = _earlier_vote(order, me) if order.sequence < next_sequence else None
        return earlier or errors.SequenceMismatch(next_sequence=next_sequence)
    if code == INSUFFICIENT_BALANCE:
        return errors.InsufficientBalance(balance=fields["balance"])
    if code == HANDOVER_PENDING:
        return errors.HandoverPending(epoch=fields["epoch"])
    return errors.WrongEpoch(epoch=fields["epoch"])


class VoteRow:
    """A new Vote row's columns, as rows_insert writes them (it sets ``id`` and
    ``created_at``); read like a Vote instance, which costs ~25 us more to build."""

    __slots__ = (
        "amount",
        "conflicting",
        "created_at",
        "digest",
        "epoch",
        "id",
        "order_signature",
        "recipient",
        "sender",
        "sequence",
        "signature",
        "token",
    )

    def __init__(
        self, order: Order, order_signature: str, digest: str, signature: str, *, conflicting: bool
    ):
        self.sender, self.sequence, self.recipient = order.sender, order.sequence, order.recipient
        self.token, self.amount, self.epoch = order.token, order.amount, order.epoch
        self.order_signature, self.digest, self.signature = order_signature, digest, signature
        self.conflicting = conflicting
        self.id = None

    @property
    def pk(self) -> int | None:
        return self.id


def _new_vote(rt, signed: SignedOrder, digest: bytes, *, conflicting: bool) -> VoteRow:
    signature = rt.signer.sign_digest(digest)
    signer_note(digest, signature, bytes.fromhex(rt.address[2:]))
    return VoteRow(
        signed.order,
        hex0x(signed.signature),
        hex0x(digest),
        hex0x(signature),
        conflicting=conflicting,
    )


def _earlier_vote(order: Order, me: str) -> dict | None:
    """The same order again after its certificate was applied gets the same vote back."""
    vote = Vote.objects.filter(
        sender=order.sender, sequence=order.sequence, epoch=order.epoch, conflicting=False
    ).first()
    if vote is not None and vote_order(vote) == order:
        return {"vote": {"authority": me, "signature": vote.signature}}
    return None
