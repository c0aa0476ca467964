"""Signing certificates and committee batches for the contract tests, with the same
fastpay_protocol.typed_data module the authorities use, and equivocation reports."""

import os

from eth_account import Account
from eth_utils import keccak

from fastpay_protocol import typed_data as td

AUTHORITY_KEYS = [keccak(text=f"fastpay-test-authority-{i}") for i in range(8)]
AUTHORITIES = [Account.from_key(key) for key in AUTHORITY_KEYS]


def domain_of(verifier, chain_id):
    return td.Domain(chain_id=chain_id, verifying_contract=verifier.address)


def order(sender, recipient, token, amount, sequence=0, epoch=1):
    return td.TransferOrder(
        sender=str(sender),
        recipient=str(recipient),
        token=str(token),
        amount=amount,
        sequence=sequence,
        epoch=epoch,
    )


def certify(domain, the_order, signers):
    """Votes of ``signers`` (eth_account accounts) for the order, sorted for the contract."""
    return td.sign_certificate(domain, the_order, [a.key for a in signers])


def sign_batch(domain, epoch, batch_id, words, signers):
    """Batch signatures of ``signers`` (eth_account accounts), sorted for the contract."""
    return td.sign_committee_batch(domain, epoch, batch_id, words, [a.key for a in signers])


def malleable(signature):
    """The high-s twin of a valid signature: same signer, rejected by FastPay."""
    s = int.from_bytes(signature[32:64], "big")
    v = 55 - signature[64]
    return signature[:32] + (td.SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


def votes(domain, authority, first, second):
    """Equivocation evidence: (first order, its vote, second order, its vote) by
    ``authority`` (an eth_account account)."""
    return (
        first.as_tuple(),
        td.sign_vote(domain, first, authority.key),
        second.as_tuple(),
        td.sign_vote(domain, second, authority.key),
    )


def commit(manager, reporter, evidence, salt=None):
    """Step 1 of a report: commit to ``evidence`` as ``reporter``; returns the salt."""
    salt = salt or os.urandom(32)
    commitment = manager.evidenceCommitment(reporter, *evidence, salt)
    manager.commitEvidence(commitment, {"from": reporter})
    return salt


def report(manager, reporter, evidence):
    """Commit, then reveal in a later block (what an honest reporter does)."""
    salt = commit(manager, reporter, evidence)
    return manager.reportEquivocation(*evidence, salt, {"from": reporter, "gas_price": 0})
