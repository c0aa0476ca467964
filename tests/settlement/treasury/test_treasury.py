"""Hot and cold wallets on anvil with the real Safe 1.4.1: a 2-of-3 refill proposed, one
signature not enough, refused signatures (garbage, a stranger's, an owner's twice), the
second one executes on-chain and the hot wallet's balance rises; the excess above the
maximum swept to cold; a hot wallet below its minimum asks for one refill, not two; the
ledger sees only the gas (CHAIN_FEE)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from eth_account import Account
from eth_account.messages import encode_defunct

from fastpay.models import OutboxEvent
from settlement.treasury import safe as safelib
from settlement.treasury import services
from settlement.treasury.errors import (
    BadSignature,
    DuplicateSignature,
    NotAnOwner,
    SafeTxClosed,
    SafeTxNotReady,
)
from settlement.treasury.models import (
    ColdTransfer,
    ColdTransferState,
    SafeTransaction,
    SafeTxKind,
    SafeTxState,
)
from tests.settlement.treasury.conftest import TOKEN
from wallets.chain.models import AddressRole, PlatformAddress, TxState
from wallets.chain.rpc import rpc_for
from wallets.chain.sender import tx_follow
from wallets.models import EntryKind, JournalEntry

pytestmark = pytest.mark.django_db


def sign_hash(account, row) -> str:
    """What tools/safe_sign.py and `cast wallet sign --no-hash` produce (v 27/28)."""
    return account.unsafe_sign_hash(bytes.fromhex(row.safe_tx_hash[2:])).signature.to_0x_hex()


def sign_eth(account, row) -> str:
    """`cast wallet sign <hash>` without --no-hash / a wallet's personal_sign (eth_sign)."""
    message = encode_defunct(primitive=bytes.fromhex(row.safe_tx_hash[2:]))
    return account.sign_message(message).signature.to_0x_hex()


def settle(anvil, chain, blocks: int = 3) -> None:
    """Mine to the chain's depth and let the sender record the outcomes."""
    anvil.mine(blocks)
    tx_follow(chain)


def balance(anvil, address: str) -> int:
    return anvil.usdt.functions.balanceOf(address).call()


def non_fee_entries() -> int:
    return JournalEntry.objects.exclude(kind=EntryKind.CHAIN_FEE).count()


def test_safe_tx_hash_is_the_safes(anvil, chain, usdt, cold_safe, hot):
    tx = safelib.SafeTx(
        safe=cold_safe,
        chain_id=chain.chain_id,
        to=usdt.contract_address,
        value=0,
        data=bytes.fromhex(services.transfer_data(hot, 12345)[2:]),
        nonce=7,
    )
    assert safelib.safe_tx_hash(tx) == safelib.safe_tx_hash_onchain(rpc_for(chain), tx)
    state = safelib.safe_state(rpc_for(chain), cold_safe)
    assert state.threshold == 2 and len(state.owners) == 3 and state.nonce == 0
    assert safelib.safe_version(rpc_for(chain), cold_safe) == "1.4.1"


def test_refill_signed_2_of_3_executes_and_the_hot_wallet_rises(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators, stranger
):
    anvil.mint(usdt, cold_safe, 5_000 * TOKEN)
    before_entries = non_fee_entries()
    assert balance(anvil, hot) == 0

    # a 50-token payment cannot go: it waits, and one refill is proposed (not two)
    assert services.hot_wallet_can_pay(chain, usdt, 50 * TOKEN) is False
    assert services.hot_wallet_can_pay(chain, usdt, 50 * TOKEN) is False
    (row,) = SafeTransaction.objects.all()
    unit = 10**usdt.ledger_decimals
    assert row.kind == SafeTxKind.REFILL and row.state == SafeTxState.PROPOSED
    assert row.amount_units == 550 * unit  # up to the target, plus what waits
    assert row.nonce == 0 and row.threshold == 2 and row.safe_address == cold_safe
    usdt_band.refresh_from_db()
    assert usdt_band.level_units == 0

    # one owner: not executable
    row = services.signature_add(row.pk, sign_hash(operators[0], row))
    assert row.state == SafeTxState.PROPOSED and row.signatures.count() == 1
    with pytest.raises(SafeTxNotReady):
        services.safe_tx_execute(row.pk)
    assert services.treasury_tick(chain=chain)["executed"] == 0

    # refused: garbage, a stranger, the same owner again (either encoding)
    with pytest.raises(BadSignature):
        services.signature_add(row.pk, "0x1234")
    with pytest.raises(BadSignature):
        services.signature_add(row.pk, "not hex at all")
    with pytest.raises(BadSignature):
        services.signature_add(row.pk, "0x" + "00" * 65)
    with pytest.raises(BadSignature):
        services.signature_add(row.pk, "0x" + "11" * 64 + "05")  # v 5
    with pytest.raises(NotAnOwner) as refused:
        services.signature_add(row.pk, sign_hash(stranger, row))
    assert stranger.address in refused.value.message
    with pytest.raises(DuplicateSignature):
        services.signature_add(row.pk, sign_hash(operators[0], row))
    with pytest.raises(DuplicateSignature):
        services.signature_add(row.pk, sign_eth(operators[0], row))
    assert row.signatures.count() == 1

    # the second owner signs eth_sign style (stored with v + 4): executable, executed
    row = services.signature_add(row.pk, sign_eth(operators[1], row))
    assert row.state == SafeTxState.EXECUTABLE
    assert row.signatures.get(owner=operators[1].address).signature[-2:] in ("1f", "20")
    counts = services.treasury_tick(chain=chain)
    assert counts["executed"] == 1 and counts["refills"] == 0
    row.refresh_from_db()
    assert row.state == SafeTxState.EXECUTING and row.exec_tx.from_address == hot
    settle(anvil, chain)
    row.refresh_from_db()
    assert row.exec_tx.state == TxState.CONFIRMED
    assert row.state == SafeTxState.EXECUTED and row.executed_at is not None
    assert balance(anvil, hot) == 550 * TOKEN
    assert balance(anvil, cold_safe) == 4_450 * TOKEN
    assert safelib.safe_state(rpc_for(chain), cold_safe).nonce == 1

    # now it pays; signatures on an executed transaction are refused
    assert services.hot_wallet_can_pay(chain, usdt, 50 * TOKEN) is True
    with pytest.raises(SafeTxClosed):
        services.signature_add(row.pk, sign_hash(operators[2], row))
    # inside custody: no ledger entry but the gas
    assert non_fee_entries() == before_entries
    assert JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).count() == 1
    states = set(
        OutboxEvent.objects.filter(topic="treasury.safe_tx").values_list(
            "payload__state", flat=True
        )
    )
    assert states == {"proposed", "executable", "executing", "executed"}


def test_below_minimum_one_refill_requested_not_two(anvil, chain, usdt, cold_safe, hot, usdt_band):
    anvil.mint(usdt, cold_safe, 1_000 * TOKEN)
    anvil.mint(usdt, hot, 40 * TOKEN)  # below the 100 minimum
    first = services.treasury_tick(chain=chain)
    second = services.treasury_tick(chain=chain)
    assert first["refills"] == 1 and second["refills"] == 0
    (row,) = SafeTransaction.objects.all()
    assert row.amount_units == 460 * 10**usdt.ledger_decimals  # back to the 500 target
    again, created = services.refill_request(chain, usdt)
    assert (again.pk, created) == (row.pk, False)
    # the database refuses a second open refill of the token too
    with pytest.raises(IntegrityError), transaction.atomic():
        SafeTransaction.objects.create(
            chain=chain,
            safe_address=cold_safe,
            nonce=5,
            to_address=row.to_address,
            data=row.data,
            safe_tx_hash="0x" + "ab" * 32,
            kind=SafeTxKind.REFILL,
            token=usdt,
            threshold=2,
        )
    # above the minimum but a payment would take it below: a refill too (already open)
    assert services.hot_wallet_can_pay(chain, usdt, 10 * TOKEN) is True
    assert SafeTransaction.objects.count() == 1


def test_excess_above_maximum_swept_to_cold(anvil, chain, usdt, cold_safe, hot, usdt_band):
    anvil.mint(usdt, hot, 2_000 * TOKEN)
    before_entries = non_fee_entries()
    assert services.treasury_tick(chain=chain)["excess"] == 1
    (transfer,) = ColdTransfer.objects.all()
    assert transfer.amount_units == 1_500 * 10**usdt.ledger_decimals
    assert transfer.to_address == cold_safe and transfer.state == ColdTransferState.SENT
    # in flight: not sent twice
    assert services.treasury_tick(chain=chain)["excess"] == 0
    settle(anvil, chain)
    transfer.refresh_from_db()
    assert transfer.state == ColdTransferState.DONE
    assert balance(anvil, cold_safe) == 1_500 * TOKEN and balance(anvil, hot) == 500 * TOKEN
    assert services.treasury_tick(chain=chain)["excess"] == 0  # at the target now
    assert ColdTransfer.objects.count() == 1
    assert non_fee_entries() == before_entries
    usdt_band.refresh_from_db()
    assert usdt_band.level_units == 500 * 10**usdt.ledger_decimals


def test_execution_waits_when_the_safe_cannot_pay(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators
):
    # the Safe holds nothing: execTransaction would revert (GS013), nothing is sent
    row, created = services.refill_request(chain, usdt)
    assert created
    for owner in operators[:2]:
        row = services.signature_add(row.pk, sign_hash(owner, row))
    assert row.state == SafeTxState.EXECUTABLE
    with pytest.raises(SafeTxNotReady, match="revert"):
        services.safe_tx_execute(row.pk)
    row.refresh_from_db()
    assert row.state == SafeTxState.EXECUTABLE and row.exec_tx is None and row.error
    # funded later, the next tick executes it
    anvil.mint(usdt, cold_safe, 1_000 * TOKEN)
    assert services.treasury_tick(chain=chain)["executed"] == 1
    settle(anvil, chain)
    row.refresh_from_db()
    assert row.state == SafeTxState.EXECUTED
    assert balance(anvil, hot) == 500 * TOKEN


def test_a_later_nonce_waits_and_a_used_nonce_is_superseded(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators
):
    from settlement.treasury.models import HotWalletThreshold

    usdc = type(usdt).objects.get(symbol="USDC")
    HotWalletThreshold.objects.create(
        token=usdc, min_units=10**6, target_units=10 * 10**6, max_units=100 * 10**6
    )
    anvil.mint(usdt, cold_safe, 1_000 * TOKEN)
    anvil.mint(usdc, cold_safe, 1_000 * 10**6)
    first, _ = services.refill_request(chain, usdt)
    second, _ = services.refill_request(chain, usdc)
    assert (first.nonce, second.nonce) == (0, 1)
    for owner in operators[1:]:
        second = services.signature_add(second.pk, sign_hash(owner, second))
    with pytest.raises(SafeTxNotReady, match="nonce 0"):
        services.safe_tx_execute(second.pk)
    for owner in operators[:2]:
        first = services.signature_add(first.pk, sign_hash(owner, first))
    services.treasury_tick(chain=chain)  # nonce 0 goes; nonce 1 waits for it to be mined
    settle(anvil, chain)
    services.treasury_tick(chain=chain)
    settle(anvil, chain)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (SafeTxState.EXECUTED, SafeTxState.EXECUTED)
    assert anvil.usdc.functions.balanceOf(hot).call() == 10 * 10**6


def test_a_nonce_the_safe_used_elsewhere_supersedes_the_proposal(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators
):
    anvil.mint(usdt, cold_safe, 1_000 * TOKEN)
    row, _ = services.refill_request(chain, usdt)
    # the owners use nonce 0 for something else, straight on the Safe (e.g. its own app)
    other = safelib.SafeTx(
        safe=cold_safe, chain_id=chain.chain_id, to=operators[0].address, value=0, data=b"", nonce=0
    )
    digest = safelib.safe_tx_hash(other)
    packed = safelib.signatures_packed(
        [(o.address, o.unsafe_sign_hash(digest).signature) for o in operators[:2]]
    )
    w3 = anvil.w3
    sent = w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": cold_safe, "data": safelib.exec_data(other, packed)}
    )
    assert w3.eth.wait_for_transaction_receipt(sent).status == 1
    for owner in operators[:2]:
        row = services.signature_add(row.pk, sign_hash(owner, row))
    with pytest.raises(SafeTxNotReady, match="superseded"):
        services.safe_tx_execute(row.pk)
    row.refresh_from_db()
    assert row.state == SafeTxState.FAILED and "superseded" in row.error
    # the next proposal takes the Safe's next nonce
    again, created = services.refill_request(chain, usdt)
    assert created and again.nonce == 1


def test_safe_sign_tool_recomputes_the_hash(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators, tmp_path, capsys
):
    from tools import safe_sign

    row, _ = services.refill_request(chain, usdt)
    key_file = tmp_path / "owner.key"
    key_file.write_text(operators[2].key.hex())
    fields = [
        "--key-file",
        str(key_file),
        "--safe",
        row.safe_address,
        "--chain-id",
        str(chain.chain_id),
        "--nonce",
        str(row.nonce),
        "--to",
        row.to_address,
        "--data",
        row.data,
    ]
    assert safe_sign.main([*fields, "--expect", "0x" + "00" * 32]) == 2  # a tampered page
    capsys.readouterr()
    assert safe_sign.main([*fields, "--expect", row.safe_tx_hash]) == 0
    signature = capsys.readouterr().out.strip().splitlines()[-1]
    row = services.signature_add(row.pk, signature)
    assert row.signatures.get().owner == operators[2].address
    # an encrypted keystore, password asked on the terminal
    keystore = tmp_path / "owner.json"
    import json

    keystore.write_text(json.dumps(Account.encrypt(operators[0].key, "pw", iterations=2)))
    safe_sign.getpass.getpass = lambda prompt: "pw"
    assert safe_sign.main(["--key-file", str(keystore), row.safe_tx_hash]) == 0
    row = services.signature_add(row.pk, capsys.readouterr().out.strip().splitlines()[-1])
    assert row.state == SafeTxState.EXECUTABLE


def test_admin_page_adds_signatures_and_shows_refusals(
    anvil, chain, usdt, cold_safe, hot, usdt_band, operators, stranger, client
):
    from tests.wallets.factories import StaffFactory

    staff = StaffFactory(username="treasurer", is_superuser=True)
    client.force_login(staff)
    row, _ = services.refill_request(chain, usdt)
    url = f"/admin/settlement/safetransaction/{row.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert (
        row.safe_tx_hash in page.content.decode() and "tools/safe_sign.py" in page.content.decode()
    )
    answer = client.post(
        url, {"action": "sign", "signature": sign_hash(stranger, row)}, follow=True
    )
    assert "not_an_owner" in answer.content.decode()
    answer = client.post(url, {"action": "sign", "signature": "0xzz"}, follow=True)
    assert "bad_signature" in answer.content.decode()
    client.post(url, {"action": "sign", "signature": sign_hash(operators[0], row)})
    answer = client.post(
        url, {"action": "sign", "signature": sign_hash(operators[0], row)}, follow=True
    )
    assert "duplicate_signature" in answer.content.decode()
    assert row.signatures.count() == 1
    client.post(url, {"action": "sign", "signature": sign_hash(operators[1], row)})
    row.refresh_from_db()
    assert row.state == SafeTxState.EXECUTABLE
    listing = client.get("/admin/settlement/hotwalletthreshold/")
    assert listing.status_code == 200 and "below minimum" in listing.content.decode()
    assert client.get("/admin/settlement/safetransaction/").status_code == 200
    assert client.get("/admin/settlement/coldtransfer/").status_code == 200


def test_treasury_safe_command_deploys_a_dev_safe_once(anvil, chain, capsys):
    call_command("treasury_safe", "deploy-dev", "--chain-id", str(chain.chain_id))
    cold = PlatformAddress.objects.get(chain=chain, role=AddressRole.COLD)
    assert anvil.w3.eth.get_code(cold.address) != b""
    state = safelib.safe_state(rpc_for(chain), cold.address)
    assert state.threshold == 2 and state.owners == anvil.w3.eth.accounts[2:5]
    call_command("treasury_safe", "deploy-dev", "--chain-id", str(chain.chain_id))
    assert "kept" in capsys.readouterr().out
    assert PlatformAddress.objects.get(chain=chain, role=AddressRole.COLD).address == cold.address
    call_command("treasury_safe", "show", "--chain-id", str(chain.chain_id))
    assert "2 of 3" in capsys.readouterr().out
