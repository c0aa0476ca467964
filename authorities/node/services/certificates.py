"""Certificates: verify the quorum, apply once (debit, bump the sequence, credit)."""

from __future__ import annotations

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
from fastpay_protocol.typed_data import InvalidSignature
from fastpay_protocol.wire import WireCertificate, checksum, hex0x


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
    changed_accounts: dict[int, AccountRow] = {}
    changed_balances: dict[int, BalanceRow] = {}
    applied: list[CertificateRow] = []
    for i, cert in valid:
        order = cert.order
        sender = accounts[order.sender]
        if order.sequence < sender.next_sequence:
            results[i] = {"applied": False, "next_sequence": sender.next_sequence}
            continue
        if order.sequence > sender.next_sequence:
            results[i] = errors.MissingSequence(next_sequence=sender.next_sequence)
            continue
        debit = balances[(sender.pk, order.token)]
        if debit.units < order.amount:
            results[i] = errors.BalanceLagging(balance=debit.units)
            continue
        debit.units -= order.amount
        changed_balances[debit.pk] = debit
        is_redemption = order.recipient == redemption
        if not is_redemption:
            credit = balances[(accounts[order.recipient].pk, order.token)]
            credit.units += order.amount
            changed_balances[credit.pk] = credit
        sender.next_sequence = order.sequence + 1
        sender.pending_vote_id = None
        changed_accounts[sender.pk] = sender
        applied.append(_row(cert, is_redemption))
        results[i] = {"applied": True, "next_sequence": sender.next_sequence}
    if applied:
        rows_insert(Certificate, applied, returning=False)
        rows_update(Balance, ["units"], changed_balances.values())
        rows_update(Account, ["next_sequence", "pending_vote"], changed_accounts.values())


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
