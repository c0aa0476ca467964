"""The block watcher of one chain (docs/deposits.md, "The watcher").

``Watcher(chain).tick()`` does one bounded step: take the cursor's lease, read the head
(and the finalized block where the chain has one), fetch the headers above the cursor (a
JSON-RPC batch, at most ``batch_blocks``), check that they hang off the block the cursor
remembers (else a reorg: walk back over the remembered blocks to the fork point, orphan or
reverse what was above it, move the cursor down), fetch the ERC-20 Transfer logs of the
chain's tokens over that range in chunks of ``Chain.max_log_range``, keep those to known
deposit addresses, and record the blocks, the new deposits and the new cursor in ONE short
transaction. Then credit what reached its depth (wallets/chain/deposits.py).

Never a skipped block: the cursor only moves in the transaction that records the blocks
below it; any failure (RPC error, a reorg during the tick, a lost lease, a crash) leaves
it where it was and the next tick reads the same range again; the deposits' unique
on-chain identity makes re-reading harmless. No network call runs inside a transaction.

One watcher advances a chain at a time: the lease on the cursor row (``lease_owner`` until
``lease_until``) is taken in a short transaction and checked again in the tick's; another
watcher waits, a killed one's lease expires after ``lease_s``.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone
from prometheus_client import Counter

from fastpay.locks import for_update
from wallets.chain.deposits import Found, Rules, deposits_credit, deposits_orphan, deposits_record
from wallets.chain.models import Chain, ChainBlock, DepositAddress, WatcherCursor
from wallets.chain.rpc import ChainRpc, RpcError, RpcRevert
from wallets.models import Token

logger = logging.getLogger("wallets.chain.watcher")

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
NATIVE_CONTRACT = "0x" + "00" * 20
BATCH_BLOCKS = 500
LEASE_S = 20.0
TOKEN_CHECK_S = 600.0
WALK_BACK_STEP = 64
RPC_TIMEOUT_S = 5.0
RPC_RETRIES = 2
#: the largest deposit in ledger units (balances are 64-bit; no real token comes close)
MAX_UNITS = 2**62

LOGS_SKIPPED = Counter(
    "fastpay_chain_logs_skipped_total",
    "Transfer logs of a watched token the watcher could not read (skipped, logged)",
    ["chain", "reason"],
)


class Malformed(ValueError):
    pass


@dataclass
class TickResult:
    state: str  # advanced idle leased reorg retry stalled rpc_error error disabled
    head: int | None = None
    cursor: int | None = None
    recorded: int = 0
    credited: int = 0
    orphaned: int = 0
    skipped_logs: int = 0
    behind: bool = False  # more to do at once (no sleep before the next tick)
    detail: str = ""
    timings: dict = field(default_factory=dict)


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Watcher:
    def __init__(
        self,
        chain: Chain,
        *,
        rpc: ChainRpc | None = None,
        owner: str | None = None,
        batch_blocks: int = BATCH_BLOCKS,
        lease_s: float = LEASE_S,
    ):
        self.chain = chain
        self.rpc = rpc or ChainRpc(chain, timeout=RPC_TIMEOUT_S, retries=RPC_RETRIES)
        self.owner = (owner or process_owner())[:64]
        self.batch_blocks = max(1, batch_blocks)
        self.lease_s = lease_s
        self._addresses: dict[str, int] = {}  # 32-byte topic form -> DepositAddress id
        self._address_max_id = 0
        self._tokens_ok: dict[int, float] = {}  # token id -> monotonic time of the check
        self._errors_recorded = 0

    # ---------------------------------------------------------------- the loop

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_ticks: int | None = None,
        max_seconds: float | None = None,
    ) -> list[TickResult]:
        """Tick until ``stop`` is set (or the bounds are reached), sleeping
        ``Chain.poll_interval_ms`` when caught up, backing off after errors. Never raises
        on RPC or database errors (they are logged and recorded on the cursor)."""
        stop = stop or threading.Event()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        results: list[TickResult] = []
        failures = 0
        try:
            while not stop.is_set():
                result = self.tick()
                results.append(result)
                if max_ticks is not None and len(results) >= max_ticks:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if result.state in ("rpc_error", "error", "stalled"):
                    failures += 1
                    wait = min(30.0, self.chain.poll_interval_ms / 1000 * 2**failures)
                else:
                    failures = 0
                    wait = 0.0 if result.behind else self.chain.poll_interval_ms / 1000
                if result.state == "leased":
                    wait = max(wait, min(self.lease_s / 4, 2.0))
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                if wait:
                    stop.wait(wait)
        finally:
            self.lease_release()
        return results

    def tick(self) -> TickResult:
        try:
            return self._tick()
        except RpcError as exc:
            self._problem(f"RPC: {exc}")
            return TickResult("rpc_error", detail=str(exc))
        except DatabaseError as exc:
            logger.exception("watcher of chain %s: database error", self.chain.chain_id)
            return TickResult("error", detail=f"database: {exc}")
        except Exception as exc:  # never the watcher's crash: logged, recorded, next tick
            logger.exception("watcher of chain %s: tick failed", self.chain.chain_id)
            self._problem(f"{type(exc).__name__}: {exc}")
            return TickResult("error", detail=str(exc))

    # ---------------------------------------------------------------- one tick

    def _tick(self) -> TickResult:
        started = time.monotonic()
        chain = self.chain = Chain.objects.get(pk=self.chain.pk)
        if not chain.enabled:
            return TickResult("disabled")
        cursor = self._lease_take()
        if cursor is None:
            return TickResult("leased")
        head = self.rpc.block("latest")
        finalized = None
        if chain.finality == "finalized":
            block = self.rpc.block_or_none("finalized")
            finalized = block["number"] if block else None
        tokens = self._tokens()
        problem = self._tokens_check(tokens)
        if problem:
            credited = self._credit(head["number"], finalized)
            self._problem(problem, head=head["number"])
            return TickResult("stalled", head=head["number"], credited=credited, detail=problem)

        number, known_hash = cursor.block_number, cursor.block_hash
        if head["number"] <= number:
            stored = known_hash if head["number"] == number else self._stored(head["number"])
            if stored == head["hash"]:
                credited = self._credit(head["number"], finalized)
                self._heartbeat(head["number"], finalized)
                return TickResult("idle", head=head["number"], cursor=number, credited=credited)
            return self._reorg(min(number, head["number"]), cursor, head)

        to = min(head["number"], number + self.batch_blocks)
        headers = self.rpc.blocks(range(number + 1, to + 1))
        if headers[0]["number"] != number + 1:
            raise RpcError(f"asked for block {number + 1}, got {headers[0]['number']}")
        if headers[0]["parentHash"] != known_hash:
            return self._reorg(number, cursor, head)
        for expected, (prev, header) in enumerate(itertools.pairwise(headers), start=number + 2):
            if header["number"] != expected or header["parentHash"] != prev["hash"]:
                return TickResult("retry", head=head["number"], behind=True, detail="moved")
        by_number = {h["number"]: h for h in headers}
        fetched = time.monotonic()

        contracts = {token.contract_address.lower(): token for token in tokens}
        logs: list = []
        for start in range(number + 1, to + 1, chain.max_log_range):
            end = min(to, start + chain.max_log_range - 1)
            if contracts:
                logs += self.rpc.logs(start, end, list(contracts), [TRANSFER_TOPIC])
        logged = time.monotonic()

        self._addresses_refresh()
        found, skipped = [], 0
        for log in logs:
            try:
                item = self._parse(log, contracts, number + 1, to)
            except Exception as exc:  # Malformed, or a field of an unexpected type
                skipped += 1
                self._skip(log, str(exc) if isinstance(exc, Malformed) else f"bad field: {exc}")
                continue
            if item is None:
                continue
            header = by_number[item.block_number]
            if item.block_hash != header["hash"]:  # the chain moved while we read it
                return TickResult("retry", head=head["number"], behind=True, detail="log hash")
            found.append(item)

        rules = Rules(chain, tokens)
        with transaction.atomic():
            locked = for_update(WatcherCursor.objects).get(chain=chain)
            if not self._still_ours(locked, number, known_hash):
                return TickResult("leased", head=head["number"], detail="lease lost mid-tick")
            ChainBlock.objects.filter(chain=chain, number__gt=number).delete()
            ChainBlock.objects.bulk_create(
                [
                    ChainBlock(
                        chain=chain,
                        number=h["number"],
                        hash=h["hash"],
                        parent_hash=h["parentHash"],
                        timestamp=h["timestamp"],
                    )
                    for h in headers
                ]
            )
            ChainBlock.objects.filter(chain=chain, number__lt=to - chain.block_window).delete()
            recorded = deposits_record(chain, found, rules)
            locked.block_number = to
            locked.block_hash = by_number[to]["hash"]
            self._cursor_fields(locked, head["number"], finalized)
            if skipped:
                locked.last_error = self._stamp(f"skipped {skipped} malformed Transfer log(s)")
            locked.save()
        written = time.monotonic()
        credited = self._credit(head["number"], finalized)
        return TickResult(
            "advanced",
            head=head["number"],
            cursor=to,
            recorded=len(recorded),
            credited=credited,
            skipped_logs=skipped,
            behind=to < head["number"],
            timings={
                "headers": fetched - started,
                "logs": logged - fetched,
                "record": written - logged,
                "credit": time.monotonic() - written,
            },
        )

    # ---------------------------------------------------------------- reorgs

    def _reorg(self, top: int, cursor: WatcherCursor, head: dict) -> TickResult:
        """The remembered block at ``top`` is not the chain's: find the fork point (the
        highest remembered block still canonical), orphan what was above it, move the
        cursor there. Deeper than the window: stop and alert (never guess)."""
        chain = self.chain
        stored = dict(
            ChainBlock.objects.filter(chain=chain, number__lte=top).values_list("number", "hash")
        )
        stored[cursor.block_number] = cursor.block_hash
        floor = max(min(stored), top - chain.block_window)
        canonical: dict[int, str] = {}
        fork = None
        hi = top
        while hi >= floor and fork is None:
            lo = max(floor, hi - WALK_BACK_STEP + 1)
            for header in reversed(self.rpc.blocks(range(lo, hi + 1))):
                canonical[header["number"]] = header["hash"]
                if stored.get(header["number"]) == header["hash"]:
                    fork = header["number"]
                    break
            hi = lo - 1
        if fork is None:
            message = (
                f"REORG DEEPER THAN THE WINDOW on chain {chain.chain_id}: no remembered block "
                f"between {floor} and {top} is canonical any more (block_window "
                f"{chain.block_window}); the watcher stops here until an operator decides"
            )
            logger.critical(message)
            self._problem(message, head=head["number"])
            return TickResult("stalled", head=head["number"], detail=message)
        with transaction.atomic():
            locked = for_update(WatcherCursor.objects).get(chain=chain)
            if not self._still_ours(locked, cursor.block_number, cursor.block_hash):
                return TickResult("leased", head=head["number"], detail="lease lost in reorg")
            gone = deposits_orphan(chain, fork=fork, canonical=canonical)
            ChainBlock.objects.filter(chain=chain, number__gt=fork).delete()
            locked.block_number = fork
            locked.block_hash = canonical[fork]
            self._cursor_fields(locked, head["number"], None)
            locked.last_error = self._stamp(
                f"reorg: fork at {fork}, {cursor.block_number - fork} block(s) replaced, "
                f"{len(gone)} deposit(s) orphaned or reversed"
            )
            locked.save()
        logger.warning(
            "chain %s: reorg, fork point %s (cursor was %s), %s deposit(s) orphaned/reversed",
            chain.chain_id,
            fork,
            cursor.block_number,
            len(gone),
        )
        return TickResult(
            "reorg", head=head["number"], cursor=fork, orphaned=len(gone), behind=True
        )

    def _stored(self, number: int) -> str | None:
        return (
            ChainBlock.objects.filter(chain=self.chain, number=number)
            .values_list("hash", flat=True)
            .first()
        )

    # ---------------------------------------------------------------- logs

    def _parse(self, log: dict, contracts: dict, lo: int, hi: int) -> Found | None:
        """A Transfer log to a known deposit address as Found; None for a transfer to
        anyone else; Malformed when it is not a well-formed ERC-20 Transfer."""
        if log.get("removed"):
            raise Malformed("removed log in an eth_getLogs answer")
        topics = log.get("topics")
        if not isinstance(topics, list) or len(topics) != 3:
            count = len(topics) if isinstance(topics, list) else "no"
            raise Malformed(f"Transfer with {count} topics (ERC-20 has 3)")
        if not isinstance(topics[0], str) or topics[0].lower() != TRANSFER_TOPIC:
            raise Malformed("not a Transfer topic")
        to_topic = _word(topics[2], "to topic")
        if to_topic[2:26] != "0" * 24:
            raise Malformed("to topic is not an address")
        address_id = self._addresses.get(to_topic)
        if address_id is None:
            return None
        from_topic = _word(topics[1], "from topic")
        if from_topic[2:26] != "0" * 24:
            raise Malformed("from topic is not an address")
        token = contracts.get(str(log.get("address", "")).lower())
        if token is None:
            raise Malformed(f"log of an unknown contract {log.get('address')!r:.50}")
        data = log.get("data")
        if not isinstance(data, str) or len(data) != 66:
            size = (len(data) - 2) // 2 if isinstance(data, str) else "no"
            raise Malformed(f"Transfer data of {size} bytes (not 32)")
        amount = int(_word(data, "data"), 16)
        if amount // 10 ** (token.decimals - token.ledger_decimals) > MAX_UNITS:
            raise Malformed(f"amount {amount} beyond the ledger's range (a fake token?)")
        try:
            block_number = int(log["blockNumber"], 16)
            log_index = int(log["logIndex"], 16)
            block_hash = _hash(log["blockHash"])
            tx_hash = _hash(log["transactionHash"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Malformed(f"log position fields: {exc}") from None
        if not lo <= block_number <= hi:
            raise Malformed(f"log of block {block_number} outside {lo}..{hi}")
        return Found(
            token=token,
            address_id=address_id,
            tx_hash=tx_hash,
            log_index=log_index,
            block_number=block_number,
            block_hash=block_hash,
            from_address="0x" + from_topic[26:],
            amount=amount,
        )

    def _skip(self, log: dict, reason: str) -> None:
        LOGS_SKIPPED.labels(chain=str(self.chain.chain_id), reason=reason.split(" ")[0]).inc()
        logger.warning(
            "chain %s: skipped a malformed Transfer log (tx %s, log %s, block %s): %s",
            self.chain.chain_id,
            log.get("transactionHash"),
            log.get("logIndex"),
            log.get("blockNumber"),
            reason,
        )

    def _addresses_refresh(self) -> None:
        """Deposit addresses are never deleted: read the new ones since the last tick."""
        rows = DepositAddress.objects.filter(chain=self.chain, pk__gt=self._address_max_id)
        for pk, address in rows.values_list("pk", "address").order_by("pk").iterator(2000):
            self._addresses["0x" + "0" * 24 + address[2:].lower()] = pk
            self._address_max_id = max(self._address_max_id, pk)

    # ---------------------------------------------------------------- tokens

    def _tokens(self) -> list[Token]:
        return list(
            Token.objects.filter(chain_id=self.chain.chain_id, enabled=True).exclude(
                contract_address__iexact=NATIVE_CONTRACT
            )
        )

    def _tokens_check(self, tokens: list[Token]) -> str:
        """Each token's decimals() against Token.decimals (every TOKEN_CHECK_S): a token
        that reverts or answers odd decimals stops the chain's watcher (nothing read,
        nothing credited with the wrong scale) until it answers again or is disabled."""
        now = time.monotonic()
        for token in tokens:
            if now - self._tokens_ok.get(token.pk, -TOKEN_CHECK_S) < TOKEN_CHECK_S:
                continue
            try:
                decimals = self.rpc.decimals(token.contract_address)
            except (RpcRevert, RpcError) as exc:
                return f"token {token.symbol} ({token.contract_address}): decimals() failed: {exc}"
            if decimals != token.decimals:
                return (
                    f"token {token.symbol} ({token.contract_address}) answers decimals() = "
                    f"{decimals}, configured {token.decimals}: not watched until they agree"
                )
            self._tokens_ok[token.pk] = now
        return ""

    # ---------------------------------------------------------------- the cursor

    def _lease_take(self) -> WatcherCursor | None:
        now = timezone.now()
        with transaction.atomic():
            cursor = for_update(WatcherCursor.objects).filter(chain=self.chain).first()
            if cursor is None:
                cursor = self._cursor_create()
            elif (
                cursor.lease_owner
                and cursor.lease_owner != self.owner
                and cursor.lease_until
                and cursor.lease_until > now
            ):
                return None
            cursor.lease_owner = self.owner
            cursor.lease_until = now + timedelta(seconds=self.lease_s)
            cursor.save(update_fields=["lease_owner", "lease_until", "updated_at"])
        return cursor

    def _cursor_create(self) -> WatcherCursor:
        """A chain watched for the first time starts at the current head (earlier
        deposits are not looked for; ``chain_watch --from-block`` starts lower)."""
        head = self.rpc.block("latest")  # a short call; the row does not exist yet
        logger.warning("chain %s: new watcher cursor at the head %s", self.chain, head["number"])
        cursor, _ = WatcherCursor.objects.get_or_create(
            chain=self.chain,
            defaults={"block_number": head["number"], "block_hash": head["hash"]},
        )
        return cursor

    def lease_release(self) -> None:
        try:
            WatcherCursor.objects.filter(chain=self.chain, lease_owner=self.owner).update(
                lease_owner="", lease_until=None
            )
        except DatabaseError:
            logger.exception("watcher of chain %s: lease release", self.chain.chain_id)

    def _still_ours(self, locked: WatcherCursor, number: int, hash_: str) -> bool:
        return (
            locked.lease_owner == self.owner
            and locked.block_number == number
            and locked.block_hash == hash_
        )

    def _cursor_fields(self, cursor: WatcherCursor, head: int, finalized: int | None) -> None:
        now = timezone.now()
        cursor.head_number = head
        cursor.head_seen_at = now
        if finalized is not None:
            cursor.finalized_number = finalized
        cursor.lease_until = now + timedelta(seconds=self.lease_s)
        new_errors = self.rpc.error_count - self._errors_recorded
        if new_errors:
            self._errors_recorded = self.rpc.error_count
            cursor.rpc_errors += new_errors
            method, url, text = self.rpc.errors[-1]
            cursor.last_error = self._stamp(f"RPC {url} {method}: {text}")

    def _heartbeat(self, head: int, finalized: int | None) -> None:
        with transaction.atomic():
            cursor = for_update(WatcherCursor.objects).get(chain=self.chain)
            if cursor.lease_owner != self.owner:
                return
            self._cursor_fields(cursor, head, finalized)
            cursor.save()

    def _problem(self, text: str, *, head: int | None = None) -> None:
        """Record a problem on the cursor (visible in admin), whoever holds the lease."""
        logger.error("watcher of chain %s: %s", self.chain.chain_id, text)
        try:
            with transaction.atomic():
                cursor = for_update(WatcherCursor.objects).filter(chain=self.chain).first()
                if cursor is None:
                    return
                new_errors = self.rpc.error_count - self._errors_recorded
                self._errors_recorded = self.rpc.error_count
                cursor.rpc_errors += max(0, new_errors)
                cursor.last_error = self._stamp(text)[:2000]
                if head is not None:
                    cursor.head_number = head
                    cursor.head_seen_at = timezone.now()
                cursor.save()
        except DatabaseError:
            logger.exception("watcher of chain %s: could not record a problem", self.chain)

    @staticmethod
    def _stamp(text: str) -> str:
        return f"{timezone.now():%Y-%m-%d %H:%M:%S}Z {text}"

    # ---------------------------------------------------------------- credit

    def _credit(self, head: int, finalized: int | None) -> int:
        return len(deposits_credit(self.chain, head=head, finalized=finalized))


def _word(value, what: str) -> str:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise Malformed(f"{what} is not a 32-byte word")
    try:
        int(value, 16)
    except ValueError:
        raise Malformed(f"{what} is not hex") from None
    return value.lower()


def _hash(value) -> str:
    return _word(value, "hash")


def watch_chains(*, max_seconds: float, owner: str | None = None) -> dict[int, str]:
    """The beat task's bounded work: each enabled chain watched for up to ``max_seconds``
    (a chain another watcher holds is skipped). Returns {chain_id: last state}."""
    done = {}
    for chain in Chain.objects.filter(enabled=True):
        if not chain.rpc_urls:
            continue
        results = Watcher(chain, owner=owner).run(max_seconds=max_seconds)
        done[chain.chain_id] = results[-1].state if results else "none"
    return done
