"""On-chain settlement of redemptions, end to end: real contracts on anvil, four real
authority node processes, the platform's gateway and the one sender.

The tests share one module world (world.py) and run in file order: the last one moves
anvil's clock past epoch 1's settlement window."""

import pytest

from tests.authorities.node_fixtures import certify, make_order
from tests.settlement.batches.world import SCALE

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TOKEN = 1_000_000  # ledger units of one USDT


def _verify():
    from settlement.batches.chainview import target
    from settlement.batches.verify import redemptions_verify

    return redemptions_verify(target())


def _submit(cert):
    from settlement.batches.intake import redemption_submit

    return redemption_submit(cert)


def test_a_batch_of_redemptions_settles_and_the_vault_pays_each_sender(world, settle):
    from settlement.batches.models import BatchState, ChainRedemption, RedemptionState
    from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState

    users = [world.take_user() for _ in range(3)]
    amounts = [5 * TOKEN, 7 * TOKEN, 11 * TOKEN]
    before = [world.vault_balance(u.address) for u in users]
    pool = world.pool()
    for user, amount in zip(users, amounts, strict=True):
        item, created = _submit(world.redeem(user, amount))
        assert created and item.state == RedemptionState.PENDING
        # the same certificate again: the same row
        assert _submit(item.certificate) == (item, False)

    settle()

    items = list(ChainRedemption.objects.order_by("position"))
    assert [i.state for i in items] == [RedemptionState.SETTLED] * 3
    batch = items[0].batch
    assert batch.state == BatchState.SETTLED
    assert (batch.items_count, batch.settled_count, batch.skipped_count) == (3, 3, 0)
    assert all(i.settled_tx_hash == batch.settled_tx_hash for i in items)
    assert world.processor.functions.isBatchSettled(batch.batch_id).call()
    # each sender's own vault balance got its amount (base units), from the pool
    for user, amount, was in zip(users, amounts, before, strict=True):
        assert world.vault_balance(user.address) == was + amount * SCALE
        assert world.processor.functions.isRedeemed(user.address, 0).call()
    assert world.pool() == pool - sum(amounts) * SCALE
    # one transaction, through the sender, confirmed at depth
    tx = OutgoingTransaction.objects.get(purpose=TxPurpose.SETTLEMENT)
    assert tx.state == TxState.CONFIRMED and tx.mined_hash == batch.settled_tx_hash
    assert tx.from_address == world.settler.address


def test_an_item_already_settled_is_skipped_with_its_reason_and_paid_once(world, settle):
    from settlement.batches.models import BatchState, ChainRedemption, RedemptionState

    early, other = world.take_user(), world.take_user()
    early_cert = world.redeem(early, 3 * TOKEN)
    _submit(early_cert)
    _submit(world.redeem(other, 4 * TOKEN))
    # the sender takes its certificate to the chain itself first (anyone may)
    world.settle_alone(early_cert)
    paid = world.vault_balance(early.address)
    assert paid == 3 * TOKEN * SCALE

    settle()

    skipped = ChainRedemption.objects.get(sender=early.address)
    assert skipped.state == RedemptionState.SKIPPED
    assert skipped.reason == "SequenceAlreadyRedeemed"
    assert "0x026a6a94" in skipped.reason_detail
    settled = ChainRedemption.objects.get(sender=other.address)
    assert settled.state == RedemptionState.SETTLED
    batch = settled.batch
    assert batch == skipped.batch and batch.state == BatchState.SETTLED
    assert (batch.settled_count, batch.skipped_count) == (1, 1)
    assert world.vault_balance(early.address) == paid  # not paid twice
    assert world.vault_balance(other.address) == 4 * TOKEN * SCALE
    assert _verify() == []  # the processor's bitmap agrees with every record


def test_a_failed_submission_is_resubmitted_and_a_settled_batch_never_pays_twice(
    world, settle, chain
):
    """A batch whose transaction reverted (the processor paused) goes again with the same
    signatures; a submission of a batch that already settled reverts on-chain
    (BatchAlreadySettled) and is read back from the chain's log: settled once."""
    from settlement.batches.models import BatchState, ChainRedemption, RedemptionState
    from settlement.batches.services import batch_submit
    from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState

    user = world.take_user()
    _submit(world.redeem(user, 2 * TOKEN))
    admin = world.w3.eth.accounts[0]
    world.processor.functions.pause().transact({"from": admin})
    try:
        settle(rounds=4)
        item = ChainRedemption.objects.get(sender=user.address)
        batch = item.batch
        first = OutgoingTransaction.objects.filter(
            purpose=TxPurpose.SETTLEMENT, reference=f"settlement_batch:{batch.pk}"
        ).first()
        assert first.state == TxState.FAILED and "0xd93c0665" in first.error  # EnforcedPause
        batch.refresh_from_db()
        assert batch.state == BatchState.SIGNED and "EnforcedPause" in batch.last_error
        assert item.state == RedemptionState.BATCHED
    finally:
        world.processor.functions.unpause().transact({"from": admin})
    type(batch).objects.filter(pk=batch.pk).update(next_attempt_at=None)
    settle()
    batch.refresh_from_db()
    item.refresh_from_db()
    assert batch.state == BatchState.SETTLED and batch.submissions == 2
    assert item.state == RedemptionState.SETTLED
    assert world.vault_balance(user.address) == 2 * TOKEN * SCALE

    # a third submission of the same settled batch (as after a lost outcome): reverts
    # BatchAlreadySettled on-chain, and the batch's results are read from the log again
    type(batch).objects.filter(pk=batch.pk).update(state=BatchState.SIGNED)
    batch.refresh_from_db()
    batch = batch_submit(batch)
    assert batch.state == BatchState.SUBMITTED and batch.submissions == 3
    settle(rounds=4)
    third = OutgoingTransaction.objects.get(idempotency_key=f"settlement_batch:{batch.pk}:3")
    assert third.state == TxState.FAILED and "0x00c428a3" in third.error  # BatchAlreadySettled
    batch.refresh_from_db()
    assert batch.state == BatchState.SETTLED and "BatchAlreadySettled" in batch.last_error
    assert batch.settled_tx_hash == item.settled_tx_hash  # the first settlement's
    assert world.vault_balance(user.address) == 2 * TOKEN * SCALE  # once


class _Crash(BaseException):
    """The worker dies here (after the commit, before the broadcast)."""


def test_a_crash_between_sign_and_broadcast_ends_settled_once(world, settle, monkeypatch):
    from settlement.batches import services
    from settlement.batches.models import BatchState, ChainRedemption, RedemptionState
    from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState

    users = [world.take_user(), world.take_user()]
    for user in users:
        _submit(world.redeem(user, 6 * TOKEN))
    nonce_before = world.w3.eth.get_transaction_count(world.settler.address)

    def crash(tx, **kwargs):
        raise _Crash

    with monkeypatch.context() as patched, pytest.raises(_Crash):
        patched.setattr(services.sender, "tx_broadcast", crash)
        services.batches_tick()
    # committed before the crash: the batch SUBMITTED with its signed, never sent tx
    batch = ChainRedemption.objects.get(sender=users[0].address).batch
    assert batch.state == BatchState.SUBMITTED
    tx = OutgoingTransaction.objects.get(pk=batch.tx_id)
    assert tx.purpose == TxPurpose.SETTLEMENT and tx.state == TxState.SIGNED
    assert tx.attempts.get().broadcast_at is None
    assert world.w3.eth.get_transaction_count(world.settler.address) == nonce_before

    # the restarted worker: the sender's follow loop sends the same bytes; the tick does
    # not submit the batch again
    settle()
    batch.refresh_from_db()
    assert batch.state == BatchState.SETTLED and batch.submissions == 1
    assert OutgoingTransaction.objects.filter(reference=f"settlement_batch:{batch.pk}").count() == 1
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED and tx.mined_hash == batch.settled_tx_hash
    assert tx.mined_hash == tx.attempts.get().tx_hash  # the bytes signed before the crash
    assert world.w3.eth.get_transaction_count(world.settler.address) == nonce_before + 1
    for user in users:
        item = ChainRedemption.objects.get(sender=user.address)
        assert item.state == RedemptionState.SETTLED
        assert world.vault_balance(user.address) == 6 * TOKEN * SCALE
    assert _verify() == []
    # a record that disagrees with the chain is reported
    ChainRedemption.objects.filter(sender=users[0].address).update(
        state=RedemptionState.SKIPPED, reason="InsufficientPool"
    )
    ChainRedemption.objects.filter(sender=users[1].address).update(
        state=RedemptionState.REFUSED, reason="settlement_window_closed", batch=None, position=None
    )
    assert _verify() == [
        f"redemption {users[1].address}#0 refused: redeemed on-chain outside the platform's batches"
    ]


def test_the_api_takes_a_redemption_once_and_refuses_bad_input(
    world, settle, client_for, chain, settler_key, platform_gateway
):
    from offline.models import FastPayAccount
    from tests.wallets.factories import UserFactory

    owner = UserFactory()
    user = world.take_user()
    FastPayAccount.objects.create(user=owner, address=user.address)
    client = client_for(owner)
    cert = world.redeem(user, 2 * TOKEN)
    first = client.post("/api/v1/chain-redemptions/", {"certificate": cert}, format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["sender"], body["amount_units"], body["state"]) == (
        user.address,
        2 * TOKEN,
        "pending",
    )
    again = client.post("/api/v1/chain-redemptions/", {"certificate": cert}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, body["id"])

    # an internal transfer certificate (to another FastPay account) never settles on-chain
    other = world.take_user()
    transfer = certify(
        world.nodes,
        world.domain,
        make_order(other, amount=TOKEN, epoch=world.epoch, token=world.usdt.address),
        other,
    )
    refused = client.post("/api/v1/chain-redemptions/", {"certificate": transfer}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "not_a_redemption"
    # a forged quorum
    forged = {**cert, "votes": cert["votes"][:2]}
    bad = client.post("/api/v1/chain-redemptions/", {"certificate": forged}, format="json")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_certificate")
    assert bad.json()["error"]["param"] == "certificate"
    garbage = client.post("/api/v1/chain-redemptions/", {"certificate": 7}, format="json")
    assert garbage.status_code == 400

    settle()
    detail = client.get(f"/api/v1/chain-redemptions/{body['id']}/")
    assert detail.status_code == 200 and detail.json()["state"] == "settled"
    assert detail.json()["settled_tx_hash"]
    listed = client.get("/api/v1/chain-redemptions/").json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]
    stranger = client_for(UserFactory()).get(f"/api/v1/chain-redemptions/{body['id']}/")
    assert stranger.status_code == 404
    assert world.vault_balance(user.address) == 2 * TOKEN * SCALE


def test_certificates_of_a_closed_settlement_window_are_refused_with_the_reason(world, settle):
    """Last in the module: epoch 2 is installed and anvil's clock moved past epoch 1's
    settlement window (activation of 2 + 7 days)."""
    from settlement.batches.errors import SettlementWindowClosed
    from settlement.batches.models import ChainRedemption, RedemptionState, SettlementBatch

    late, later = world.take_user(), world.take_user()
    pending, _ = _submit(world.redeem(late, 1 * TOKEN))  # recorded while still open
    cert = world.redeem(later, 1 * TOKEN)
    now = world.w3.eth.get_block("latest")["timestamp"]
    admin = world.w3.eth.accounts[0]
    stakes = [10 * 10**18] * len(world.members)
    world.consensus.functions.snapshot(2, world.members, stakes, now + 60).transact({"from": admin})
    world.rpc("evm_increaseTime", [60 + 7 * 86_400 + 10])
    world.rpc("anvil_mine", [hex(1)])
    until = world.processor.functions.settlesUntil(1).call()
    assert 0 < until < world.w3.eth.get_block("latest")["timestamp"]

    with pytest.raises(SettlementWindowClosed) as refused:
        _submit(cert)
    assert refused.value.code == "settlement_window_closed"
    assert refused.value.status_code == 409
    assert "epoch 1 settled on-chain until" in refused.value.message
    assert not ChainRedemption.objects.filter(sender=later.address).exists()

    batches_before = SettlementBatch.objects.count()
    ticks = settle(rounds=2)
    assert ticks[0]["refused"] == 1
    pending.refresh_from_db()
    assert pending.state == RedemptionState.REFUSED and pending.batch is None
    assert pending.reason == "settlement_window_closed"
    assert "epoch 1 settled on-chain until" in pending.reason_detail
    assert SettlementBatch.objects.count() == batches_before  # nothing submitted
    assert world.vault_balance(late.address) == 0
