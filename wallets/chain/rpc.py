"""JSON-RPC of one Chain, over web3.py's HTTP provider (docs/deposits.md, "The watcher").

``ChainRpc(chain)`` tries ``chain.rpc_urls`` in order: an error, a timeout or an answer
that does not parse (garbage) moves to the next URL; when every URL failed, it waits
(exponential backoff with jitter) and goes round again, ``retries`` times, then raises
``RpcError``. The URL that answered last is tried first on the next call (the first one
again after ``PRIMARY_RETRY_S``). Every failure counts in
``fastpay_chain_rpc_errors_total{chain,url}`` (the URL without its path: providers put
API keys there) and in ``ChainRpc.errors`` (the watcher records them on its cursor).

Answers are validated here, so callers get plain ints, 0x-hex strings and dicts, never a
half-parsed object: a block without a 32-byte hash, a non-list of logs, a non-hex
quantity is an RpcError like a timeout. Requests go out raw (``make_request`` and
JSON-RPC batches, ``make_batch_request``: ``blocks()`` fetches 100 headers in one round
trip); ``.w3`` is the web3 of the first URL for contract helpers, with
``ExtraDataToPOAMiddleware`` when ``chain.poa`` (BSC's extraData is longer than 32
bytes).

Errors: ``RpcError`` (could not ask: retry later), ``RpcRevert`` (the node says the call
reverts; ``str()`` is the reason), ``SendRefused`` (a raw transaction the node refused).
``send_raw`` returns the node's text for benign refusals ("already known", "nonce too
low": the receipt decides). Network I/O: never call this inside a database transaction.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from prometheus_client import Counter
from web3 import Web3

logger = logging.getLogger("wallets.chain.rpc")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 3
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0
PRIMARY_RETRY_S = 60.0
BATCH_SIZE = 100

#: send_raw answers that only mean "the node has it already, or has mined this nonce"
BENIGN_SEND_ERRORS = (
    "already known",
    "known transaction",
    "already imported",
    "already exists",
    "nonce too low",
    "nonce has already been used",
)
ERC20_BALANCE_OF = "0x70a08231"
ERC20_DECIMALS = "0x313ce567"

RPC_ERRORS = Counter(
    "fastpay_chain_rpc_errors_total",
    "Failed JSON-RPC calls (error, timeout or garbage answer), per chain and provider",
    ["chain", "url"],
)

_HEX = re.compile(r"^0x[0-9a-fA-F]*$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class RpcError(RuntimeError):
    """The node could not be asked (every URL down, timeouts, garbage): retry later."""

    def __init__(self, message: str, *, method: str = "", url: str = "", node_error=None):
        super().__init__(message)
        self.method = method
        self.url = url
        self.node_error = node_error  # the JSON-RPC error object, when the node answered one


class RpcRevert(RuntimeError):
    """The node says this call reverts; ``str()`` is the reason (or the error data)."""


class SendRefused(RuntimeError):
    """The node refused a raw transaction (underpriced, insufficient funds, ...)."""


class Garbage(ValueError):
    """An answer that does not have the expected shape."""


# ------------------------------------------------------------------ answer checks


def quantity(value, what: str = "quantity") -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or not _HEX.match(value) or len(value) < 3 or len(value) > 66:
        raise Garbage(f"{what}: {value!r} is not a hex quantity")
    return int(value, 16)


def hash32(value, what: str = "hash") -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise Garbage(f"{what}: {value!r} is not a 32-byte hash")
    return value.lower()


def address20(value, what: str = "address") -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise Garbage(f"{what}: {value!r} is not an address")
    return value.lower()


def data_hex(value, what: str = "data") -> str:
    if not isinstance(value, str) or not _HEX.match(value) or len(value) % 2:
        raise Garbage(f"{what}: {value!r} is not 0x-hex bytes")
    return value.lower()


def header(raw) -> dict:
    """A block header as {number, hash, parentHash, timestamp, baseFeePerGas}."""
    if not isinstance(raw, dict):
        raise Garbage(f"block: {raw!r:.80} is not an object")
    base_fee = raw.get("baseFeePerGas")
    return {
        "number": quantity(raw.get("number"), "block number"),
        "hash": hash32(raw.get("hash"), "block hash"),
        "parentHash": hash32(raw.get("parentHash"), "parent hash"),
        "timestamp": quantity(raw.get("timestamp"), "timestamp"),
        "baseFeePerGas": None if base_fee is None else quantity(base_fee, "baseFeePerGas"),
    }


def _logs(raw) -> list:
    """A list of log objects; each log's own fields are checked by the watcher (a
    malformed log is skipped and counted there, the rest of the answer kept)."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise Garbage(f"logs: {raw!r:.80} is not a list of objects")
    return raw


def _receipt(raw) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Garbage(f"receipt: {raw!r:.80} is not an object")
    price = raw.get("effectiveGasPrice")
    return {
        "transactionHash": hash32(raw.get("transactionHash"), "transactionHash"),
        "blockNumber": quantity(raw.get("blockNumber"), "blockNumber"),
        "blockHash": hash32(raw.get("blockHash"), "blockHash"),
        "status": quantity(raw.get("status"), "status"),
        "gasUsed": quantity(raw.get("gasUsed"), "gasUsed"),
        "effectiveGasPrice": 0 if price is None else quantity(price, "effectiveGasPrice"),
        "logs": _logs(raw.get("logs", [])),
    }


def _bytes(raw) -> bytes:
    return bytes.fromhex(data_hex(raw)[2:])


def _block_id(block) -> str:
    if isinstance(block, int) and not isinstance(block, bool):
        if block < 0:
            raise ValueError(f"block {block}")
        return hex(block)
    if block in ("latest", "pending", "earliest", "safe", "finalized"):
        return block
    if isinstance(block, str) and _HEX.match(block):
        return block
    raise ValueError(f"not a block tag: {block!r}")


def url_label(url: str) -> str:
    """scheme://host[:port] only: providers put API keys in paths and queries."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


# ------------------------------------------------------------------ the client


class _Endpoint:
    def __init__(self, url: str, timeout: float, poa: bool):
        self.url = url
        self.label = url_label(url)
        self.provider = Web3.HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self._w3: Web3 | None = None
        self._poa = poa

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            w3 = Web3(self.provider)
            if self._poa:
                from web3.middleware import ExtraDataToPOAMiddleware

                w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            self._w3 = w3
        return self._w3


class _NodeError(Exception):
    def __init__(self, error):
        super().__init__(str(error.get("message") if isinstance(error, dict) else error))
        self.error = error


class ChainRpc:
    """The JSON-RPC calls of one Chain (see the module docstring). Thread-safe."""

    def __init__(
        self,
        chain,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_base: float = BACKOFF_BASE_S,
        backoff_cap: float = BACKOFF_CAP_S,
        sleep: Callable[[float], None] = time.sleep,
    ):
        urls = [str(url) for url in (chain.rpc_urls or []) if url]
        if not urls:
            raise RpcError(f"chain {chain.chain_id} has no rpc_urls")
        self.chain_id = chain.chain_id
        self.endpoints = [_Endpoint(url, timeout, bool(chain.poa)) for url in urls]
        self.retries = max(0, retries)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._preferred = 0
        self._preferred_since = 0.0
        self._lock = threading.Lock()
        #: failures seen by this client: (method, url label, text), newest last (bounded)
        self.errors: list[tuple[str, str, str]] = []
        self.error_count = 0

    @property
    def w3(self) -> Web3:
        return self.endpoints[0].w3

    # ---------------------------------------------------------------- transport

    def _order(self) -> list[_Endpoint]:
        with self._lock:
            if self._preferred and time.monotonic() - self._preferred_since > PRIMARY_RETRY_S:
                self._preferred = 0
            first = self._preferred
        return self.endpoints[first:] + self.endpoints[:first]

    def _prefer(self, endpoint: _Endpoint) -> None:
        index = self.endpoints.index(endpoint)
        with self._lock:
            if index != self._preferred:
                self._preferred = index
                self._preferred_since = time.monotonic()

    def _failed(self, method: str, endpoint: _Endpoint, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"[:500]
        RPC_ERRORS.labels(chain=str(self.chain_id), url=endpoint.label).inc()
        with self._lock:
            self.error_count += 1
            self.errors.append((method, endpoint.label, text))
            del self.errors[:-20]
        logger.warning(
            "rpc %s %s on chain %s failed: %s", endpoint.label, method, self.chain_id, text
        )
        return text

    def _run(self, method: str, once: Callable[[_Endpoint], object], *, node_errors_final=False):
        """``once(endpoint)`` on each URL in order, rounds with backoff in between.
        ``node_errors_final``: a JSON-RPC error answer is raised at once (another node
        would say the same: a revert, a refused transaction) as ``_NodeError``."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
                self._sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter, not crypto)
            for endpoint in self._order():
                try:
                    result = once(endpoint)
                except _NodeError as exc:
                    if node_errors_final:
                        raise
                    last = self._failed(method, endpoint, exc)
                except Exception as exc:  # connection, timeout, non-JSON body, garbage
                    last = self._failed(method, endpoint, exc)
                else:
                    self._prefer(endpoint)
                    return result
        raise RpcError(
            f"chain {self.chain_id}: {method} failed on every RPC URL "
            f"({self.retries + 1} rounds): {last}",
            method=method,
        )

    def request(self, method: str, params: list, check: Callable = lambda r: r, **kw):
        """One JSON-RPC call; ``check(result)`` validates and converts the answer."""

        def once(endpoint: _Endpoint):
            answer = endpoint.provider.make_request(method, params)
            if not isinstance(answer, dict):
                raise Garbage(f"{method}: answer {answer!r:.80} is not an object")
            if answer.get("error") is not None:
                raise _NodeError(answer["error"])
            if "result" not in answer:
                raise Garbage(f"{method}: answer without result")
            return check(answer["result"])

        return self._run(method, once, **kw)

    def batch(self, method: str, params_list: Sequence[list], check: Callable = lambda r: r):
        """Many calls of one method in JSON-RPC batches of ``BATCH_SIZE``; all or an
        RpcError (a batch with any bad answer is retried whole)."""
        results: list = []
        for start in range(0, len(params_list), BATCH_SIZE):
            chunk = params_list[start : start + BATCH_SIZE]

            def once(endpoint: _Endpoint, chunk=chunk):
                answers = endpoint.provider.make_batch_request([(method, p) for p in chunk])
                if not isinstance(answers, list) or len(answers) != len(chunk):
                    raise Garbage(f"{method}: batch answer of the wrong size")
                by_id = sorted(answers, key=lambda a: a.get("id", 0) if isinstance(a, dict) else 0)
                out = []
                for answer in by_id:
                    if not isinstance(answer, dict):
                        raise Garbage(f"{method}: batch item {answer!r:.80}")
                    if answer.get("error") is not None:
                        raise _NodeError(answer["error"])
                    out.append(check(answer.get("result")))
                return out

            results.extend(self._run(method, once))
        return results

    # ---------------------------------------------------------------- reads

    def chain_id_check(self) -> int:
        return self.request("eth_chainId", [], quantity)

    def block_number(self) -> int:
        return self.request("eth_blockNumber", [], quantity)

    def block(self, number="latest") -> dict:
        """The header of block ``number`` (an int, "latest", "finalized", ...): {number,
        hash, parentHash, timestamp, baseFeePerGas}. A block the node does not have (null)
        is an RpcError."""
        return self.request("eth_getBlockByNumber", [_block_id(number), False], _header_required)

    def block_or_none(self, number) -> dict | None:
        """As ``block``, None when the node has no such block (e.g. "finalized" on a node
        without it, or a height above its head)."""
        return self.request(
            "eth_getBlockByNumber",
            [_block_id(number), False],
            lambda raw: None if raw is None else header(raw),
        )

    def blocks(self, numbers: Sequence[int]) -> list[dict]:
        """The headers of ``numbers`` in order, in JSON-RPC batches."""
        return self.batch(
            "eth_getBlockByNumber", [[hex(n), False] for n in numbers], _header_required
        )

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str], topics: list) -> list:
        """eth_getLogs over [from_block, to_block] (the caller bounds the range) as raw
        log objects (0x-hex fields)."""
        params = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
            "topics": topics,
        }
        return self.request("eth_getLogs", [params], _logs)

    def gas_price(self) -> int:
        return self.request("eth_gasPrice", [], quantity)

    def max_priority_fee(self) -> int:
        return self.request("eth_maxPriorityFeePerGas", [], quantity)

    def base_fee(self) -> int | None:
        return self.block("latest")["baseFeePerGas"]

    def fee_history(self, blocks: int, newest="latest", percentiles=()) -> dict:
        def check(raw):
            if not isinstance(raw, dict):
                raise Garbage("feeHistory: not an object")
            return {
                "oldestBlock": quantity(raw.get("oldestBlock"), "oldestBlock"),
                "baseFeePerGas": [quantity(v) for v in raw.get("baseFeePerGas") or []],
                "gasUsedRatio": [float(v) for v in raw.get("gasUsedRatio") or []],
                "reward": [[quantity(v) for v in row] for row in raw.get("reward") or []],
            }

        return self.request(
            "eth_feeHistory", [hex(blocks), _block_id(newest), list(percentiles)], check
        )

    def nonce(self, address: str, block="pending") -> int:
        return self.request("eth_getTransactionCount", [address, _block_id(block)], quantity)

    def native_balance(self, address: str, block="latest") -> int:
        return self.request("eth_getBalance", [address, _block_id(block)], quantity)

    def receipt(self, tx_hash: str) -> dict | None:
        """The receipt, None while the transaction is not mined (or was reorged out)."""
        return self.request("eth_getTransactionReceipt", [tx_hash], _receipt)

    def call(self, call: dict, block="latest") -> bytes:
        """eth_call; RpcRevert when the node says it reverts."""
        try:
            return self.request(
                "eth_call", [_call_params(call), _block_id(block)], _bytes, node_errors_final=True
            )
        except _NodeError as exc:
            raise RpcRevert(_node_text(exc.error)) from None

    def estimate_gas(self, call: dict) -> int:
        try:
            return self.request(
                "eth_estimateGas", [_call_params(call)], quantity, node_errors_final=True
            )
        except _NodeError as exc:
            raise RpcRevert(_node_text(exc.error)) from None

    def balance_of(self, token_address: str, address: str, block="latest") -> int:
        """ERC-20 balanceOf(address) at ``block``; a reverting or odd contract (answer not
        32 bytes) is an RpcRevert/RpcError."""
        data = ERC20_BALANCE_OF + "00" * 12 + address20(address)[2:]
        raw = self.call({"to": token_address, "data": data}, block)
        if len(raw) != 32:
            raise RpcError(f"balanceOf of {token_address} answered {len(raw)} bytes")
        return int.from_bytes(raw, "big")

    def decimals(self, token_address: str) -> int:
        """ERC-20 decimals(); RpcError when the answer is not a uint8."""
        raw = self.call({"to": token_address, "data": ERC20_DECIMALS})
        if len(raw) != 32 or int.from_bytes(raw, "big") > 255:
            raise RpcError(f"decimals of {token_address} answered {raw.hex()[:80]!r}")
        return int.from_bytes(raw, "big")

    # ---------------------------------------------------------------- writes

    def send_raw(self, raw: str) -> str | None:
        """Broadcast; None when accepted, the node's text when benign (already known,
        nonce too low); SendRefused for any other refusal."""
        try:
            self.request("eth_sendRawTransaction", [raw], hash32, node_errors_final=True)
        except _NodeError as exc:
            text = _node_text(exc.error)
            if any(marker in text.lower() for marker in BENIGN_SEND_ERRORS):
                return text
            raise SendRefused(text) from None
        return None


def _header_required(raw) -> dict:
    if raw is None:
        raise Garbage("block: null (the node does not have it)")
    return header(raw)


def _call_params(call: dict) -> dict:
    params = {"to": call["to"], "data": call.get("data") or "0x"}
    for key in ("from", "gas"):
        if call.get(key) is not None:
            params[key] = call[key] if isinstance(call[key], str) else hex(call[key])
    if call.get("value"):
        params["value"] = hex(int(call["value"]))
    return params


def _node_text(error) -> str:
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        data = error.get("data")
        if data and isinstance(data, str) and data not in message:
            return f"{message} ({data})" if message else data
        return message or str(error)
    return str(error)


def rpc_for(chain, **kwargs) -> ChainRpc:
    return ChainRpc(chain, **kwargs)
