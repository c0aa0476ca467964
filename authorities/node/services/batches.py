"""Settlement batches: sign one EIP-712 Batch over redemption certificates applied here,
never over a certificate this node already put in another batch. The Batch names the
processor that settles it (the redemption address) and the vault it credits (the committee
file's ``vault_address``), so it cannot be replayed on another deployment."""

from __future__ import annotations

from django.db import IntegrityError

from authorities.node import errors
from authorities.node.models import BatchEntry, Certificate, SignedBatch
from authorities.node.runtime import node
from authorities.node.services.certificates import certificate_verify
from authorities.node.services.locks import write_transaction
from fastpay_protocol.typed_data import UINT96_MAX, BatchItem, items_hash, pack_batch_items
from fastpay_protocol.wire import WireCertificate, checksum, hex0x


def batch_sign(*, epoch: int, batch_id: int, certificates: list[WireCertificate]) -> dict:
    """``{"authority", "signature", "items_hash"}`` for the batch; the same batch again
    gets the same answer. Items are (sender, sequence, vault token id, recipient = sender,
    amount): a redemption settles to the sender's own vault balance (docs/protocol.md)."""
    rt = node()
    if epoch != rt.epoch:
        raise errors.WrongEpoch(epoch=rt.epoch)
    vault = batch_vault(rt, epoch)
    if not rt.redemption_address or vault is None:
        raise errors.InvalidBatch(
            "this node knows no redemption_address and vault_address (committee file): a "
            "batch names the processor and the vault it settles in",
            param="epoch",
        )
    items = []
    keys = set()
    for i, cert in enumerate(certificates):
        param = f"certificates[{i}]"
        error = certificate_verify(rt, cert)
        if error is not None:
            raise errors.InvalidBatch(f"{param}: {error.message}", param=param)
        order = cert.order
        if not rt.redemption_address or order.recipient != rt.redemption_address:
            raise errors.InvalidBatch(f"{param}: not a redemption", param=param)
        if order.token not in rt.token_ids:
            raise errors.InvalidBatch(f"{param}: token unknown to the vault", param=param)
        if order.amount > UINT96_MAX:
            raise errors.InvalidBatch(f"{param}: amount too large", param=param)
        if (order.sender, order.sequence) in keys:
            raise errors.InvalidBatch(f"{param}: repeated in this batch", param=param)
        keys.add((order.sender, order.sequence))
        items.append(
            BatchItem(
                sender=order.sender,
                sequence=order.sequence,
                token_id=rt.token_ids[order.token],
                recipient=order.sender,
                amount=order.amount,
            )
        )
    hashed = items_hash(pack_batch_items(items))
    try:
        with write_transaction():
            return _record(rt, epoch, batch_id, certificates, hashed, vault)
    except IntegrityError:
        # a concurrent request recorded the same batch id or certificate first
        raise errors.InvalidBatch("batch id or certificate already in another batch") from None


def batch_vault(rt, epoch: int) -> str | None:
    """The vault a batch of ``epoch`` credits: that epoch's committee's ``vault_address``,
    else the latest known one's (a schedule read from the chain may carry none)."""
    committee = rt.committees.get(epoch)
    if committee is not None and committee.vault_address:
        return committee.vault_address
    return rt.schedule.latest().committee.vault_address


def _record(rt, epoch: int, batch_id: int, certificates, hashed: bytes, vault: str) -> dict:
    me = checksum(rt.address)
    earlier = SignedBatch.objects.filter(batch_id=batch_id).first()
    if earlier is not None:
        if earlier.items_hash == hex0x(hashed) and earlier.epoch == epoch:
            return {"authority": me, "signature": earlier.signature, "items_hash": hex0x(hashed)}
        raise errors.InvalidBatch("this batch id was signed with other items", param="batch_id")
    wanted = {(cert.order.sender, cert.order.sequence) for cert in certificates}
    rows = {
        (row.sender, row.sequence): row
        for row in Certificate.objects.filter(
            sender__in={sender for sender, _ in wanted},
            sequence__in={sequence for _, sequence in wanted},
        )
        if (row.sender, row.sequence) in wanted
    }
    for i, cert in enumerate(certificates):
        order = cert.order
        row = rows.get((order.sender, order.sequence))
        if row is None or (row.recipient, row.token, row.amount, row.epoch) != (
            order.recipient,
            order.token,
            order.amount,
            order.epoch,
        ):
            raise errors.InvalidBatch(
                f"certificates[{i}]: not applied here", param=f"certificates[{i}]"
            )
    taken = BatchEntry.objects.filter(certificate__in=list(rows.values())).first()
    if taken is not None:
        raise errors.InvalidBatch(
            f"a certificate is already in batch {taken.batch.batch_id}", param="certificates"
        )
    digest = rt.digests.batch_digest(
        epoch, batch_id, hashed, processor=rt.redemption_address, vault=vault
    )
    signature = hex0x(rt.signer.sign_digest(digest))
    batch = SignedBatch.objects.create(
        batch_id=batch_id, epoch=epoch, items_hash=hex0x(hashed), signature=signature
    )
    BatchEntry.objects.bulk_create(
        [
            BatchEntry(
                batch=batch, certificate=rows[(c.order.sender, c.order.sequence)], position=i
            )
            for i, c in enumerate(certificates)
        ]
    )
    return {"authority": me, "signature": signature, "items_hash": hex0x(hashed)}
