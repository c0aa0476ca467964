"""Reads: account info, certificates by sender, committee info, health."""

from __future__ import annotations

from authorities.node.models import Account, Certificate, ChainBlock, HandedOver, Vote
from authorities.node.runtime import node
from authorities.node.services.batches import batch_vault
from fastpay_protocol.handoff import handover_epoch
from fastpay_protocol.wire import checksum, render_order

CERTIFICATES_PAGE = 100


def _vote_json(vote: Vote) -> dict:
    return {
        "order": render_order(vote),  # a Vote row has the order's fields
        "vote": {"authority": checksum(node().address), "signature": vote.signature},
    }


def account_info(address: str) -> dict:
    """AccountInfo of docs/protocol.md for a lower-case address (zeros when unknown)."""
    account = Account.objects.filter(address=address).select_related("pending_vote").first()
    if account is None:
        return {"address": checksum(address), "next_sequence": 0, "balances": {}, "pending": None}
    return {
        "address": checksum(address),
        "next_sequence": account.next_sequence,
        "balances": {
            checksum(token): units
            for token, units in account.balances.order_by("token").values_list("token", "units")
        },
        "pending": _vote_json(account.pending_vote) if account.pending_vote else None,
    }


def certificate_json(row: Certificate) -> dict:
    return {
        "order": render_order(row),  # a Certificate row has the order's fields
        "signature": row.order_signature,
        "votes": row.votes,
    }


def certificates_from(address: str, from_sequence: int) -> list[dict]:
    rows = Certificate.objects.filter(sender=address, sequence__gte=from_sequence).order_by(
        "sequence"
    )[:CERTIFICATES_PAGE]
    return [certificate_json(row) for row in rows]


def committee_info() -> dict:
    """The committee of the epoch active now by this node's clock, with when it activated
    and when it closes (null: no successor announced), and the processor and vault its
    settlement batches name (null: unknown; no batch is signed without both)."""
    rt = node()
    epoch = rt.epoch
    vault = batch_vault(rt, epoch)
    return {
        "epoch": epoch,
        "activates_at": rt.schedule.info(epoch).activates_at,
        "closes_at": rt.schedule.closes_at(epoch),
        "chain_id": rt.domain.chain_id,
        "verifying_contract": rt.domain.verifying_contract,
        "redemption_address": checksum(rt.redemption_address) if rt.redemption_address else None,
        "vault_address": checksum(vault) if vault else None,
        "members": [
            {"name": m.name, "address": checksum(m.address), "stake": m.stake, "url": m.url}
            for m in rt.committees[epoch].members
        ],
        "self": checksum(rt.address),
    }


def health() -> dict:
    rt = node()
    cursor = ChainBlock.objects.order_by("-number").values_list("number", flat=True).first()
    epoch = rt.epoch
    return {
        "status": "ok",
        "authority": checksum(rt.address),
        "name": rt.name,
        "epoch": epoch,
        "deposits_block": cursor,
        "handover_pending": _handover_pending(rt, epoch),
    }


def _handover_pending(rt, epoch: int) -> int | None:
    """The epoch whose handover this node still has to complete before it votes in
    ``epoch`` (None: nothing pending, or not a member of ``epoch``)."""
    previous = handover_epoch(rt.schedule, epoch)
    if previous is None or not rt.is_member(epoch):
        return None
    return None if HandedOver.objects.filter(epoch=previous).exists() else previous
