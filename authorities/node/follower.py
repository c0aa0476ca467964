"""The deposit follower: reads FastPayRegistry.FastPayDeposit logs with web3, only from
blocks with AUTHORITY_CONFIRMATIONS confirmations, and credits each deposit id once.

It remembers the hashes of the blocks it processed: if the block under its cursor changed
(a reorg deeper than the confirmation depth) it logs it loudly and rewinds to the last
block still on the chain; deposit ids already credited are never credited again. Chain
errors (unreachable RPC, timeouts) are logged and retried: the follower catches up.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.db import close_old_connections
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import BlockNotFound

from authorities.node.services.deposits import (
    DepositEvent,
    cursor_get,
    cursor_rewind,
    deposits_credit,
    known_hashes,
)

log = logging.getLogger("authorities.node.follower")

DEPOSIT_TOPIC = "0x" + keccak(text="FastPayDeposit(uint256,address,address,uint256,uint256)").hex()


def _hex(value) -> str:
    return "0x" + bytes(value).hex()


def _address_topic(topic) -> str:
    return "0x" + bytes(topic)[-20:].hex()


def decode(entry) -> DepositEvent:
    data = bytes(entry["data"])
    topics = entry["topics"]
    return DepositEvent(
        deposit_id=int.from_bytes(bytes(topics[1]), "big"),
        account=_address_topic(topics[2]),
        token=_address_topic(topics[3]),
        units=int.from_bytes(data[:32], "big"),
        amount_onchain=int.from_bytes(data[32:64], "big"),
        block_number=int(entry["blockNumber"]),
        block_hash=_hex(entry["blockHash"]),
        tx_hash=_hex(entry["transactionHash"]),
        log_index=int(entry["logIndex"]),
    )


def registry_from_deployment(path: str) -> tuple[str, int]:
    """(FastPayRegistry address, block to start from) from the deployment JSON."""
    data = json.loads(Path(path).read_text())
    return data["contracts"]["FastPayRegistry"]["address"], int(data.get("block_number", 0))


class DepositFollower:
    def __init__(
        self,
        *,
        rpc_url: str,
        registry: str,
        start_block: int,
        confirmations: int,
        chunk: int = 2000,
    ):
        # no web3-level retries: the loop retries, logs it and keeps its cursor consistent
        self.w3 = Web3(
            Web3.HTTPProvider(
                rpc_url, request_kwargs={"timeout": 5}, exception_retry_configuration=None
            )
        )
        self.registry = Web3.to_checksum_address(registry)
        self.start_block = start_block
        self.confirmations = confirmations
        self.chunk = chunk

    def _hash(self, number: int) -> str:
        return _hex(self.w3.eth.get_block(number)["hash"])

    def _hash_or_none(self, number: int) -> str | None:
        try:
            return self._hash(number)
        except BlockNotFound:  # above the head after a reorg (connection errors propagate)
            return None

    def step(self) -> int:
        """Process every newly confirmed block; returns how many deposits were credited."""
        target = self.w3.eth.block_number - self.confirmations + 1
        cursor = cursor_get()
        if cursor is not None:
            number, known = cursor
            if self._hash_or_none(number) != known:
                self._rewind()
                return 0
            start = number + 1
        else:
            start = self.start_block
        credited = 0
        while start <= target:
            end = min(target, start + self.chunk - 1)
            logs = self.w3.eth.get_logs(
                {
                    "address": self.registry,
                    "fromBlock": start,
                    "toBlock": end,
                    "topics": [DEPOSIT_TOPIC],
                }
            )
            events = [decode(entry) for entry in logs if not entry.get("removed")]
            credited += deposits_credit(events=events, block_number=end, block_hash=self._hash(end))
            start = end + 1
        return credited

    def _rewind(self) -> None:
        for number, known in sorted(known_hashes().items(), reverse=True):
            if self._hash_or_none(number) == known:
                log.critical(
                    "chain reorganised deeper than %d confirmations: rewinding the deposit "
                    "cursor to block %d (deposits credited from orphaned blocks stay "
                    "credited: check them)",
                    self.confirmations,
                    number,
                )
                cursor_rewind(to_block=number)
                return
        log.critical("chain reorganised below every remembered block: rescanning")
        cursor_rewind(to_block=-1)

    def run_forever(self, poll_seconds: float) -> None:
        while True:
            close_old_connections()
            try:
                credited = self.step()
                if credited:
                    log.info("credited %d deposit(s)", credited)
            except Exception as exc:  # chain unreachable, timeouts, node restarting: retry
                log.warning("deposit follower: %s: %s (retrying)", type(exc).__name__, exc)
            time.sleep(poll_seconds)
