"""Redemptions to the chain handed to the platform: a certificate whose recipient is the
OfflinePaymentProcessor (the redemption address), from a user's wallet (the API) or the
platform's own tools. Recorded once per (processor, sender, sequence), PENDING until a
batch takes it (settlement.batches.services)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from authorities import gateway as committee_gateway
from authorities.gateway import CommitteeUnavailable
from fastpay.events import event_record
from fastpay_protocol.wire import checksum
from offline.models import FastPayAccount
from settlement.batches import chainview
from settlement.batches.errors import (
    InvalidRedemption,
    NotARedemption,
    SequenceTaken,
    SettlementUnavailable,
    SettlementWindowClosed,
    TokenNotInVault,
)
from settlement.batches.models import ChainRedemption
from wallets.models import Token

logger = logging.getLogger(__name__)


def redemption_payload(item: ChainRedemption) -> dict:
    return {
        "id": item.pk,
        "user_id": item.user_id,
        "chain_id": item.chain.chain_id,
        "processor": item.processor_address,
        "sender": item.sender,
        "sequence": item.sequence,
        "epoch": item.epoch,
        "token": item.token_address,
        "amount_units": item.amount_units,
        "state": item.state,
        "batch_id": item.batch.batch_id if item.batch_id else None,
        "reason": item.reason,
        "reason_detail": item.reason_detail,
        "tx_hash": item.settled_tx_hash or None,
    }


def redemption_submit(certificate: dict) -> tuple[ChainRedemption, bool]:
    """Record a redemption certificate for on-chain settlement; (row, created). The same
    certificate again returns the same row (idempotent by (sender, sequence)).

    Checks, outside any transaction (network): a valid quorum of a known epoch
    (``invalid_certificate``), recipient = that epoch's redemption address
    (``not_a_redemption``), a token the vault lists (``unknown_token``), the epoch's
    settlement window still open (409 ``settlement_window_closed``); then the certificate
    is confirmed at the committee (the nodes sign only what they applied; 503
    ``settlement_unavailable`` while no quorum confirms)."""
    try:
        gw = committee_gateway.gateway()
    except CommitteeUnavailable as exc:
        raise SettlementUnavailable(str(exc)) from None
    if not isinstance(certificate, dict):
        raise InvalidRedemption("expected a certificate object", param="certificate")
    try:
        order = gw.verify(certificate)
    except ValueError as exc:
        raise InvalidRedemption(str(exc), param="certificate") from None
    committee = gw.committee_of(order.epoch)
    if checksum(order.recipient) != committee.redemption_address:
        raise NotARedemption(param="certificate.order.recipient")
    sender = checksum(order.sender)
    existing = ChainRedemption.objects.filter(
        processor_address=committee.redemption_address, sender=sender, sequence=order.sequence
    ).first()
    if existing is not None:
        return _same(existing, order), False
    where = chainview.target(order.epoch)
    config = chainview.token_config(where.chain, where.vault, order.token)
    if config.scale == 0:
        raise TokenNotInVault(param="certificate.order.token")
    window = chainview.windows(where.chain, where.processor, [order.epoch])[order.epoch]
    if window.closed:
        raise SettlementWindowClosed(window.detail(), param="certificate.order.epoch")
    try:
        gw.confirm(certificate)
    except CommitteeUnavailable as exc:
        raise SettlementUnavailable(str(exc)) from None
    token = Token.objects.filter(
        chain_id=where.chain.chain_id, contract_address__iexact=order.token
    ).first()
    account = FastPayAccount.objects.filter(address__iexact=sender).first()
    try:
        with transaction.atomic():
            item = ChainRedemption.objects.create(
                chain=where.chain,
                processor_address=where.processor,
                sender=sender,
                sequence=order.sequence,
                epoch=order.epoch,
                token_address=checksum(order.token),
                token=token,
                vault_token_id=config.token_id,
                amount_units=order.amount,
                certificate=certificate,
                user_id=account.user_id if account else None,
            )
            event_record(
                topic="settlement.redemption_received",
                aggregate_type="chain_redemption",
                aggregate_id=item.pk,
                payload=redemption_payload(item),
            )
    except IntegrityError:
        existing = ChainRedemption.objects.get(
            chain=where.chain,
            processor_address=where.processor,
            sender=sender,
            sequence=order.sequence,
        )
        return _same(existing, order), False
    logger.info("redemption %s#%s received for on-chain settlement", sender, order.sequence)
    return item, True


def _same(item: ChainRedemption, order) -> ChainRedemption:
    held = item.certificate["order"]
    if (
        checksum(held["recipient"]) != checksum(order.recipient)
        or int(held["amount"]) != order.amount
        or checksum(held["token"]) != checksum(order.token)
    ):
        raise SequenceTaken(param="certificate.order.sequence")
    return item
