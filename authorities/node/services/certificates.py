"""Certificates: verify the quorum against the order's own epoch's committee, apply once
(debit, bump the sequence, credit) by fastpay_protocol.handoff.apply_decision."""

from __future__ import annotations

import logging

from authorities.node import errors
from authorities.node.models import Account, Balance, Certificate
from authorities.node.runtime import NodeRuntime, node
from authorities.node.services.group_commit import GroupCommit
from authorities.node.services.locks import (
    AccountRow,
    BalanceRow,
    accounts_lock,
    balances_get,
    rows_update,
    write_transaction,
)
from authorities.node.services.recoveries import digests_of, signer_of
from fastpay.bulk_insert import rows_insert
from fastpay_protocol.handoff import CONFLICTING_CERTIFICATE, Refusal, apply_decision
from fastpay_protocol.typed_data import InvalidSignature
from fastpay_protocol.wire import WireCertificate, checksum, hex0x, render_order

log = logging.getLogger("authorities.node.certificates")


def certificate_verify(rt: NodeRuntime, cert: WireCertificate) -> errors.NodeError | None:
    """None when ``cert`` carries the sender's signature and votes of distinct members of
    the order's epoch with more than 2/3 of its stake; otherwise the refusal."""
    order = cert.order
    committee = rt.committees.get(order.epoch)
    if committee is None:
        return errors.InvalidCertificate(f"unknown epoch {order.epoch}", param="order.epoch")
    if not committee.has_quorum([v.authority for v in cert.votes]):  # before any recovery
        return errors.InvalidCertificate("the votes' stake is not more than 2/3", param="votes")
    order_digest, vote_digest = digests_of(rt.digests, order)
    signers: set[str] = set()
    param = "votes"
    try:
        for i, vote in enumerate(cert.votes):
            param = f"votes[{i}]"
            if not committee.is_member(vote.authority):
                return errors.InvalidCertificate("not a committee member", param=param)
            if vote.authority in signers:
                return errors.InvalidCertificate("duplicate signer", param=param)
            if "0x" + signer_of(vote_digest, vote.signature).hex() != vote.authority:
                return errors.InvalidCertificate("vote not signed by its authority", param=param)
            signers.add(vote.authority)
        param = "signature"
        if "0x" + signer_of(order_digest, cert.signature).hex() != order.sender:
            return errors.InvalidCertificate("not signed by the sender", param="signature")
    except InvalidSignature as exc:
        return errors.InvalidCertificate(str(exc), param=param)
    if not committee.has_quorum(signers):
        return errors.InvalidCertificate("the votes' stake is not more than 2/3", param="votes")
    return None


def certificates_apply(*, certificates: list[WireCertificate]) -> list[dict | errors.NodeError]:
    """Apply each valid certificate once; results in order, each ``{"applied": bool,
    "next_sequence": N}`` (``applied`` false = already applied, a no-op) or a NodeError.
    Certificates are applied in (sender, sequence) order, so a client may push a sender's
    missing certificates in one batch."""
    rt = node()
    results: list[dict | errors.NodeError | None] = [None] * len(certificates)
    valid = []
    for i, cert in enumerate(certificates):
        error = certificate_verify(rt, cert)
        if error is None:
            valid.append((i, cert))
        else:
            results[i] = error
    if valid:
        applied = _commit([cert for _, cert in valid])
        for (i, _), result in zip(valid, applied, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def _apply_all(certificates: list[WireCertificate]) -> list:
    """One write transaction for verified certificates (possibly from several requests),
    applied in (sender, sequence) order."""
    results: list = [None] * len(certificates)
    ordered = sorted(
        enumerate(certificates), key=lambda c: (c[1].order.sender, c[1].order.sequence)
    )
    with write_transaction():
        _apply(node(), ordered, results)
    return results


_commit = GroupCommit(_apply_all)


def _apply(rt: NodeRuntime, valid, results) -> None:
    """handoff.apply_decision for each certificate, then the writes. Applying never
    refuses for balance: a certificate is final, and a node that missed a credit lets the
    sender's balance go negative until the credit arrives (its votes still need the
    balance)."""
    redemption = rt.redemption_address
    addresses = {c.order.sender for _, c in valid}
    addresses |= {c.order.recipient for _, c in valid if c.order.recipient != redemption}
    accounts = accounts_lock(addresses, create=True)
    pairs = [(accounts[c.order.sender], c.order.token) for _, c in valid]
    pairs += [
        (accounts[c.order.recipient], c.order.token)
        for _, c in valid
        if c.order.recipient != redemption
    ]
    balances = balances_get(pairs, create=True)
    earlier = _applied_below(accounts, valid)
    changed_accounts: dict[int, AccountRow] = {}
    changed_balances: dict[int, BalanceRow] = {}
    applied: list[CertificateRow] = []
    for i, cert in valid:
        order = cert.order
        sender = accounts[order.sender]
        known = earlier.get((order.sender, order.sequence))
        decision = apply_decision(
            order=order, next_sequence=sender.next_sequence, applied_at_sequence=known
        )
        if decision == "noop":
            results[i] = {"applied": False, "next_sequence": sender.next_sequence}
            continue
        if isinstance(decision, Refusal):
            results[i] = _refusal(decision, cert, known, sender.next_sequence)
            continue
        debit = balances[(sender.pk, order.token)]
        debit.units -= order.amount  # below zero if this node missed a credit
        changed_balances[debit.pk] = debit
        is_redemption = order.recipient == redemption
        if not is_redemption:
            credit = balances[(accounts[order.recipient].pk, order.token)]
            credit.units += order.amount
            changed_balances[credit.pk] = credit
        sender.next_sequence = order.sequence + 1
        sender.pending_vote_id = None
        changed_accounts[sender.pk] = sender
        row = _row(cert, is_redemption)
        applied.append(row)
        earlier[(order.sender, order.sequence)] = row  # a second one in this batch compares
        results[i] = {"applied": True, "next_sequence": sender.next_sequence}
    if applied:
        rows_insert(Certificate, applied, returning=False)
        rows_update(Balance, ["units"], changed_balances.values())
        rows_update(Account, ["next_sequence", "pending_vote"], changed_accounts.values())


def _applied_below(accounts, valid) -> dict:
    """(sender, sequence) -> the Certificate applied here, for the certificates of
    ``valid`` below their sender's next sequence (repeats: one query, usually none)."""
    below = [
        (c.order.sender, c.order.sequence)
        for _, c in valid
        if c.order.sequence < accounts[c.order.sender].next_sequence
    ]
    if not below:
        return {}
    wanted = set(below)
    rows = Certificate.objects.filter(
        sender__in={s for s, _ in wanted}, sequence__in={q for _, q in wanted}
    )
    return {(r.sender, r.sequence): r for r in rows if (r.sender, r.sequence) in wanted}


def _refusal(refusal: Refusal, cert: WireCertificate, known, next_sequence: int):
    if refusal.code == CONFLICTING_CERTIFICATE:
        order = cert.order
        log.error(
            "conflicting certificate: %s sequence %s was applied here for another payment "
            "(epoch %s: %s to %s) than this one (epoch %s: %s to %s): more than a third of "
            "some committee's stake signed both",
            order.sender,
            order.sequence,
            known.epoch,
            known.amount,
            known.recipient,
            order.epoch,
            order.amount,
            order.recipient,
        )
        return errors.ConflictingCertificate(
            order=render_order(known), certificate=_certificate_json(known)
        )
    return errors.MissingSequence(next_sequence=next_sequence)


def _certificate_json(row) -> dict:
    return {"order": render_order(row), "signature": row.order_signature, "votes": row.votes}


class CertificateRow:
    """A new Certificate row's columns, as rows_insert writes them (it sets
    ``applied_at``): a Certificate instance costs ~25 us more to build."""

    __slots__ = (
        "amount",
        "applied_at",
        "epoch",
        "order_signature",
        "recipient",
        "redemption",
        "sender",
        "sequence",
        "token",
        "votes",
    )

    def __init__(self, cert: WireCertificate, is_redemption: bool):
        order = cert.order
        self.sender, self.sequence, self.recipient = order.sender, order.sequence, order.recipient
        self.token, self.amount, self.epoch = order.token, order.amount, order.epoch
        self.order_signature = hex0x(cert.signature)
        self.votes = [
            {"authority": checksum(v.authority), "signature": hex0x(v.signature)}
            for v in cert.votes
        ]
        self.redemption = is_redemption


def _row(cert: WireCertificate, is_redemption: bool) -> CertificateRow:
    return CertificateRow(cert, is_redemption)
