"""Work around a Brownie/anvil race that reports mined transactions as dropped.

Brownie 1.22's TransactionReceipt._await_confirmation reads the sender's nonce, then the
receipt; on anvil the nonce can already count a transaction whose receipt is not served
yet, and Brownie then raises "Tx dropped without known replacement" for a transaction that
was in fact mined (seen in tests and in bench/gas.py). Waiting for the receipt first
closes that window; a transaction that really is dropped still ends up in Brownie's own
handling after the wait times out. `install()` is idempotent.
"""

import contextlib

from brownie.network import transaction

_PATCHED = "_fastpay_waits_for_receipt"


def install(timeout=60):
    receipt_class = transaction.TransactionReceipt
    if getattr(receipt_class, _PATCHED, False):
        return
    original = receipt_class._await_confirmation

    def _await_confirmation(self, block_number=None, required_confs=1):
        from brownie import web3

        # a timeout or an RPC error is left to Brownie's own handling below
        with contextlib.suppress(Exception):
            web3.eth.wait_for_transaction_receipt(self.txid, timeout=timeout, poll_latency=0.02)
        return original(self, block_number, required_confs)

    receipt_class._await_confirmation = _await_confirmation
    setattr(receipt_class, _PATCHED, True)
