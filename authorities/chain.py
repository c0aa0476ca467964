"""The platform's chain boundary for the committee: read the deployment, report
equivocation to AuthorityManager. Never call these inside a database transaction."""

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from eth_account import Account
from web3 import Web3

from fastpay.keyvault import kek_from_text, unseal


class ChainUnavailable(RuntimeError):
    """The chain (or the deployment file) cannot be reached; retry later."""


def deployment() -> dict:
    return _deployment(settings.FASTPAY_DEPLOYMENT_JSON)


@cache
def _deployment(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ChainUnavailable(f"cannot read the deployment file {path}: {exc}") from None


def web3() -> Web3:
    w3 = Web3(Web3.HTTPProvider(settings.FASTPAY_CHAIN_RPC_URL, request_kwargs={"timeout": 10}))
    if not w3.is_connected():
        raise ChainUnavailable(f"no chain at {settings.FASTPAY_CHAIN_RPC_URL}")
    return w3


def contract(w3: Web3, name: str):
    entry = deployment()["contracts"][name]
    return w3.eth.contract(address=entry["address"], abi=entry["abi"])


_schedule_source = None


def committee_schedule():
    """The epoch schedule as the chain holds it (docs/contracts.md): CommitteeConsensus'
    registered epochs (members, stakes, activatesAt), each member's node URL from
    AuthorityManager.endpointOf, the domain and redemption address from the deployment
    file: the nodes' own reader (authorities.node.schedule_sources.ChainSource), so the
    platform and the nodes follow one schedule. Raises ChainUnavailable. Network I/O:
    never inside a database transaction."""
    global _schedule_source
    from django.core.exceptions import ImproperlyConfigured

    from authorities.node.schedule_sources import ChainSource

    try:
        if _schedule_source is None:
            _schedule_source = ChainSource(
                settings.FASTPAY_DEPLOYMENT_JSON, settings.FASTPAY_CHAIN_RPC_URL
            )
        if _schedule_source._last is None:
            return _schedule_source.first().schedule
        polled = _schedule_source.poll()
        return polled.schedule if polled is not None else _schedule_source._last
    except ImproperlyConfigured as exc:
        raise ChainUnavailable(str(exc)) from None
    except OSError as exc:  # requests.ConnectionError is an OSError
        raise ChainUnavailable(f"CommitteeConsensus unreachable: {exc}") from None


class AlreadySlashed(ValueError):
    """AuthorityManager already slashed this authority, or already used this evidence:
    nothing left to do (not an operator problem)."""


def chain_sender_key() -> bytes:
    """The platform's transaction key (pays gas for reports), sealed under FASTPAY_KEK."""
    try:
        envelope = Path(settings.FASTPAY_CHAIN_SENDER_KEY_FILE).read_text()
    except OSError as exc:
        raise ChainUnavailable(
            f"FASTPAY_CHAIN_SENDER_KEY_FILE={settings.FASTPAY_CHAIN_SENDER_KEY_FILE}: {exc}"
        ) from None
    return unseal(envelope, kek_from_text(settings.FASTPAY_KEK))


def report_equivocation(
    first_order: tuple,
    first_sig: bytes,
    second_order: tuple,
    second_sig: bytes,
    *,
    authority: str,
    sender_key: bytes,
) -> str:
    """Report equivocation evidence to AuthorityManager; return the hash of the mined
    reveal transaction. Orders are (sender, recipient, token, amount, sequence, epoch)
    tuples with the same sender and sequence and another payment, of any epochs (a
    re-epoched same payment is not evidence). Commit-reveal, so that a copy of the pending
    report cannot take the reward: ``commitEvidence(evidenceCommitment(reporter, evidence,
    salt))``, then, in a later block, ``reportEquivocation(evidence, salt)`` from the same
    account (the reporter, paid the reward). A retry after a crash between the two simply
    commits again with a new salt.

    Raises ChainUnavailable when the chain is unreachable, AlreadySlashed when the
    authority was slashed before or the evidence was used, ValueError on another revert
    (the evidence is refused: checkEquivocation's reason)."""
    import os

    w3 = web3()
    manager = contract(w3, "AuthorityManager")
    account = Account.from_key(sender_key)
    evidence = (first_order, first_sig, second_order, second_sig)
    try:
        slashed = manager.functions.authorities(authority).call()[3]
        evidence_id = manager.functions.evidenceIdOf(
            authority, first_order[0], first_order[4]
        ).call()
        used = manager.functions.evidenceUsed(evidence_id).call()
    except OSError as exc:  # requests.ConnectionError is an OSError
        raise ChainUnavailable(f"AuthorityManager unreachable: {exc}") from None
    if slashed or used:
        raise AlreadySlashed(
            f"{authority} is already slashed" if slashed else "this evidence was already used"
        )
    # surfaces the revert reason (NotEquivocation, NotCommitteeMember, ...) before paying gas
    manager.functions.checkEquivocation(*evidence).call({"from": account.address})

    def send(call, **extra):
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                **extra,
            }
        )
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise ValueError(f"{call.fn_name} reverted in {bytes(tx_hash).hex()}")
        return "0x" + bytes(tx_hash).hex().removeprefix("0x")

    salt = os.urandom(32)
    commitment = manager.functions.evidenceCommitment(account.address, *evidence, salt).call()
    send(manager.functions.commitEvidence(commitment))
    # sent after the commitment's receipt, the reveal is mined in a later block; a fixed gas
    # limit because a node estimating on the commitment's block would see RevealTooEarly
    return send(manager.functions.reportEquivocation(*evidence, salt), gas=600_000)
