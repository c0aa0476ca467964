"""Committee batches for the settlement tests: the Batch names the processor that settles it
and the vault it credits (EIP-712 Batch(epoch, batchId, processor, vault, itemsHash))."""

from fastpay_protocol import typed_data as td


def sign_batch(domain, processor, epoch, batch_id, words, signers, *, vault=None):
    """Batch signatures of ``signers`` (eth_account accounts) for ``processor`` (a deployed
    OfflinePaymentProcessor) and its vault (or ``vault``), sorted for the contract."""
    return td.sign_committee_batch(
        domain,
        epoch,
        batch_id,
        words,
        [a.key for a in signers],
        processor=str(processor.address if hasattr(processor, "address") else processor),
        vault=str(vault if vault is not None else processor.vault()),
    )


def redeemed(processor, sender, *sequences):
    """Which of ``sequences`` are redeemed for ``sender`` (a list of bools)."""
    return [bool(processor.isRedeemed(sender, s)) for s in sequences]
