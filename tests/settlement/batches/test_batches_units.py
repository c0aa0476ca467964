"""settlement.batches without a chain: the call data and receipts of the processor, and
concurrent gathering (PostgreSQL threads: each redemption in exactly one batch)."""

import threading

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from settlement.batches import contract

PROCESSOR = "0x" + "ab" * 20
SENDERS = ["0x" + f"{i:02x}" * 20 for i in range(1, 5)]


def _log(topic, topics, data, address=PROCESSOR):
    return {"address": address, "topics": [topic, *topics], "data": "0x" + data.hex()}


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _addr_topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


def _receipt(batch_id, items, rejected: dict[int, str], items_hash=b"\x11" * 32):
    logs = []
    settled = 0
    for index, (sender, sequence, units) in enumerate(items):
        if index in rejected:
            sel = bytes.fromhex(contract.selector(rejected[index])[2:])
            data = abi_encode(["uint64", "bytes4"], [sequence, sel])
            logs.append(_log(contract.TOPIC_REJECTED, [_word(index), _addr_topic(sender)], data))
        else:
            settled += 1
            data = abi_encode(["uint64", "address", "uint256"], [sequence, "0x" + "99" * 20, units])
            logs.append(
                _log(
                    contract.TOPIC_PAYMENT_SETTLED,
                    [_addr_topic(sender), _addr_topic(sender)],
                    data,
                )
            )
    logs.append(_log("0x" + "00" * 32, [], b"", address="0x" + "cd" * 20))  # the vault's
    data = abi_encode(["bytes32", "uint256", "uint256"], [items_hash, len(items), settled])
    logs.append(_log(contract.TOPIC_BATCH_SETTLED, [_word(batch_id), _word(3)], data))
    return {"logs": logs}


def test_a_receipt_gives_each_item_its_outcome_and_reason():
    items = [(SENDERS[0], 4, 10), (SENDERS[1], 0, 20), (SENDERS[2], 9, 30)]
    receipt = _receipt(7, items, {1: "SequenceAlreadyRedeemed()"})
    outcome = contract.batch_outcome(receipt, PROCESSOR.upper().replace("0X", "0x"), 7, 3)
    assert (outcome.batch_id, outcome.epoch, outcome.items, outcome.settled) == (7, 3, 3, 2)
    assert [(o.index, o.settled, o.reason) for o in outcome.outcomes] == [
        (0, True, ""),
        (1, False, "SequenceAlreadyRedeemed"),
        (2, True, ""),
    ]
    assert outcome.outcomes[1].selector == "0x026a6a94"
    assert [o.units for o in outcome.outcomes] == [10, 0, 30]
    assert outcome.outcomes[2].sequence == 9


def test_a_receipt_of_another_batch_or_with_missing_events_is_not_taken():
    items = [(SENDERS[0], 1, 10)]
    assert contract.batch_outcome(_receipt(8, items, {}), PROCESSOR, 7, 1) is None
    assert contract.batch_outcome({"logs": []}, PROCESSOR, 7, 1) is None
    with pytest.raises(ValueError):
        contract.batch_outcome(_receipt(7, items, {}), PROCESSOR, 7, 2)  # 2 items expected
    broken = _receipt(7, items, {})
    del broken["logs"][0]  # the item's event lost
    with pytest.raises(ValueError):
        contract.batch_outcome(broken, PROCESSOR, 7, 1)


def test_call_data_and_revert_reasons():
    words = [b"\x01" * 32, b"\x02" * 32]
    data = bytes.fromhex(contract.submit_data(5, 9, words, b"\xaa" * 65)[2:])
    assert data[:4] == keccak(text="submitCommitteeBatch(uint64,uint64,bytes32[],bytes)")[:4]
    assert abi_decode(["uint64", "uint64", "bytes32[]", "bytes"], data[4:]) == (
        5,
        9,
        tuple(words),
        b"\xaa" * 65,
    )
    assert contract.revert_error("execution reverted: custom error 0x00c428a3: \\x00") == (
        "BatchAlreadySettled"
    )
    assert contract.revert_error("custom error 0x38B1349C") == "SettlementWindowClosed"
    assert contract.revert_error("out of gas") == ""
    assert contract.error_name("0xdeadbeef") == "0xdeadbeef"
    assert contract.gas_limit(100) > contract.gas_limit(1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_gathering_puts_each_redemption_in_one_batch(monkeypatch):
    from django.db import connection

    from authorities import gateway as gateway_module
    from settlement.batches import chainview
    from settlement.batches.gathering import batch_gather
    from settlement.batches.models import ChainRedemption, RedemptionState, SettlementBatch
    from wallets.chain.models import Chain

    if connection.vendor != "postgresql":
        pytest.skip("row locks: run with DATABASE_URL on PostgreSQL")

    class _Gateway:
        def epoch(self):
            return 1

    monkeypatch.setattr(gateway_module, "gateway", lambda: _Gateway())
    chain = Chain.objects.create(chain_id=777_001, name="units", rpc_urls=["http://127.0.0.1:9"])
    where = chainview.Target(chain, PROCESSOR, "0x" + "cd" * 20)
    for i in range(40):
        ChainRedemption.objects.create(
            chain=chain,
            processor_address=PROCESSOR,
            sender=SENDERS[i % 4],
            sequence=i,
            epoch=1,
            token_address="0x" + "55" * 20,
            vault_token_id=0,
            amount_units=1_000 + i,
            certificate={},
        )
    errors = []
    barrier = threading.Barrier(4)

    def gather():
        try:
            barrier.wait()
            while batch_gather(where, limit=7) is not None:
                pass
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=gather) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    items = list(ChainRedemption.objects.filter(chain=chain))
    assert {i.state for i in items} == {RedemptionState.BATCHED}
    batches = list(SettlementBatch.objects.filter(chain=chain))
    assert sum(b.items_count for b in batches) == 40
    assert len({b.batch_id for b in batches}) == len(batches)
    for batch in batches:
        assert batch.items.count() == batch.items_count <= 7


@pytest.mark.django_db
def test_a_tick_with_the_chain_down_gathers_nothing_and_does_not_crash(monkeypatch):
    from types import SimpleNamespace

    from authorities import gateway as gateway_module
    from settlement.batches.models import ChainRedemption, RedemptionState, SettlementBatch
    from settlement.batches.services import batches_tick
    from wallets.chain.models import Chain

    chain = Chain.objects.create(chain_id=777_002, name="down", rpc_urls=["http://127.0.0.1:9"])
    committee = SimpleNamespace(
        chain_id=chain.chain_id, vault_address="0x" + "cd" * 20, redemption_address=PROCESSOR
    )
    gw = SimpleNamespace(committee_of=lambda epoch=None: committee, epoch=lambda: 1)
    monkeypatch.setattr(gateway_module, "gateway", lambda: gw)
    item = ChainRedemption.objects.create(
        chain=chain,
        processor_address=PROCESSOR,
        sender=SENDERS[0],
        sequence=1,
        epoch=1,
        token_address="0x" + "55" * 20,
        vault_token_id=0,
        amount_units=5,
        certificate={},
    )
    counts = batches_tick()
    assert counts["errors"] == 1 and counts["gathered"] == 0
    item.refresh_from_db()
    assert item.state == RedemptionState.PENDING  # its window could not be checked
    assert not SettlementBatch.objects.exists()


@pytest.mark.django_db
def test_the_admin_shows_batches_with_their_items_and_reasons(admin_client):
    from settlement.batches.models import (
        BatchState,
        ChainRedemption,
        RedemptionState,
        SettlementBatch,
    )
    from wallets.chain.models import Chain

    chain = Chain.objects.create(chain_id=777_003, name="admin", rpc_urls=["http://127.0.0.1:9"])
    batch = SettlementBatch.objects.create(
        chain=chain,
        processor_address=PROCESSOR,
        vault_address="0x" + "cd" * 20,
        batch_id=4,
        epoch=1,
        items_hash="0x" + "11" * 32,
        signatures="0x" + "22" * 65,
        state=BatchState.SIGNED,
        items_count=1,
    )
    item = ChainRedemption.objects.create(
        chain=chain,
        processor_address=PROCESSOR,
        sender=SENDERS[0],
        sequence=2,
        epoch=1,
        token_address="0x" + "55" * 20,
        vault_token_id=0,
        amount_units=5,
        certificate={},
        state=RedemptionState.SKIPPED,
        batch=batch,
        position=0,
        reason="InsufficientPool",
    )
    listing = admin_client.get("/admin/settlement/settlementbatch/")
    assert listing.status_code == 200
    page = admin_client.get(f"/admin/settlement/settlementbatch/{batch.pk}/change/")
    assert page.status_code == 200 and b"InsufficientPool" in page.content
    items = admin_client.get("/admin/settlement/chainredemption/?reason=InsufficientPool")
    assert items.status_code == 200 and SENDERS[0].encode() in items.content
    assert (
        admin_client.get(f"/admin/settlement/chainredemption/{item.pk}/change/").status_code == 200
    )
