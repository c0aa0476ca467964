"""Batches: many orders or certificates in one request per authority."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastpay_protocol import typed_data as td
from fastpay_protocol.committee.base import (
    ClientBase,
    Confirmation,
    Outcome,
    bind,
    encode,
    error_code,
    guard,
    int_or_none,
)
from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    CommitteeError,
    NoQuorum,
    NotConfirmed,
)
from fastpay_protocol.messages import (
    Certificate,
    PendingOrder,
    SignedOrder,
    Vote,
)

BATCH_LIMIT = 1000  # items per batch request (docs/protocol.md)


class BatchMethods(ClientBase):
    """``certify_batch`` and ``confirm_batch`` of CommitteeClient (they fall back on its
    one-by-one ``certify`` and ``_confirm_at`` for authorities that are behind)."""

    # -------------------------------------------------------------- batches

    def certify_batch(
        self, signed_orders: Sequence[SignedOrder]
    ) -> list[Certificate | CommitteeError]:
        """Certify many orders (distinct (sender, sequence) pairs) with one
        ``/orders/batch`` request per authority per 1000 orders. Returns, in order, a
        Certificate or the error that ``certify`` would have raised. Orders that an
        authority refuses only because it is behind are retried one by one with
        synchronisation."""
        results: list[Certificate | CommitteeError] = []
        for start in range(0, len(signed_orders), BATCH_LIMIT):
            results.extend(self._certify_chunk(signed_orders[start : start + BATCH_LIMIT]))
        return results

    def _certify_chunk(self, chunk: Sequence[SignedOrder]) -> list[Certificate | CommitteeError]:
        payload = encode({"orders": [signed.to_json() for signed in chunk]})
        size = len(chunk)
        votes: list[dict[str, Vote]] = [{} for _ in range(size)]
        conflicts: list[dict[str, PendingOrder]] = [{} for _ in range(size)]
        failures: list[dict[str, AuthorityFailure]] = [{} for _ in range(size)]
        digests: list[bytes | None] = [None] * size
        done = [False] * size
        remaining = [size]

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            authority = outcome.authority
            for i in range(size):
                if done[i]:
                    continue
                if outcome.failure is not None:
                    failures[i][authority] = outcome.failure
                    continue
                self._read_batch_vote(
                    authority,
                    chunk[i].order,
                    outcome.results[i],
                    i,
                    digests,
                    votes,
                    conflicts,
                    failures,
                )
                if self.committee.has_quorum(votes[i]):
                    done[i] = True
                    remaining[0] -= 1
            return remaining[0] == 0

        unfinished = self._gather(
            {a: bind(self._batch_at, a, "/orders/batch", payload, size) for a in self._endpoints},
            on_outcome,
        )
        results: list[Certificate | CommitteeError] = []
        for i, signed in enumerate(chunk):
            if done[i]:
                results.append(
                    Certificate(signed.order, signed.signature, tuple(votes[i].values()))
                )
                continue
            if self.sync and any(
                f.code == "sequence_mismatch"
                and (int_or_none((f.extra or {}).get("next_sequence")) or 0) < signed.order.sequence
                for f in failures[i].values()
            ):
                try:
                    results.append(self.certify(signed))
                except CommitteeError as exc:
                    results.append(exc)
                continue
            failures[i].update(unfinished)
            results.append(self._no_quorum(signed.order, votes[i], conflicts[i], failures[i]))
        return results

    def _read_batch_vote(
        self,
        authority: str,
        order: td.TransferOrder,
        result: Any,
        i: int,
        digests: list[bytes | None],
        votes: list[dict[str, Vote]],
        conflicts: list[dict[str, PendingOrder]],
        failures: list[dict[str, AuthorityFailure]],
    ) -> None:
        if digests[i] is None:
            digests[i] = self.hasher.vote_digest(order)
        if isinstance(result, dict) and "vote" in result:
            outcome = self._read_vote(authority, result["vote"], digests[i], order)
        else:
            failure = self._refusal(authority, 200, result)
            if failure.code == "sequence_locked":
                outcome = self._read_conflict(authority, order, failure, digests[i])
            else:
                outcome = Outcome(authority, failure=failure)
        if outcome.vote is not None:
            votes[i][authority] = outcome.vote
        if outcome.conflict is not None:
            conflicts[i][authority] = outcome.conflict
        if outcome.failure is not None:
            failures[i][authority] = outcome.failure

    def confirm_batch(
        self, certificates: Sequence[Certificate], *, wait_all: bool = False
    ) -> list[Confirmation | NotConfirmed]:
        """Confirm many certificates with one ``/certificates/batch`` request per
        authority per 1000; an authority missing earlier sequences is caught up and the
        certificate retried alone. Returns a Confirmation or NotConfirmed per certificate."""
        results: list[Confirmation | NotConfirmed] = []
        for start in range(0, len(certificates), BATCH_LIMIT):
            chunk = certificates[start : start + BATCH_LIMIT]
            results.extend(self._confirm_chunk(chunk, wait_all))
        return results

    def _confirm_chunk(
        self, chunk: Sequence[Certificate], wait_all: bool
    ) -> list[Confirmation | NotConfirmed]:
        payload = encode({"certificates": [c.to_json() for c in chunk]})
        size = len(chunk)
        applied: list[set[str]] = [set() for _ in range(size)]
        failures: list[dict[str, AuthorityFailure]] = [{} for _ in range(size)]

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            authority = outcome.authority
            for i in range(size):
                if outcome.failure is not None:
                    failures[i][authority] = outcome.failure
                    continue
                result = outcome.results[i]
                if isinstance(result, Outcome):  # retried alone after a sync
                    if result.failure is None:
                        applied[i].add(authority)
                    else:
                        failures[i][authority] = result.failure
                elif isinstance(result, dict) and "applied" in result:
                    applied[i].add(authority)
                else:
                    failures[i][authority] = self._refusal(authority, 200, result)
            return not wait_all and all(self.committee.has_quorum(a) for a in applied)

        def at(authority: str) -> Outcome:
            outcome = self._batch_at(authority, "/certificates/batch", payload, size)
            if outcome.results is None or not self.sync:
                return outcome
            for i, result in enumerate(outcome.results):
                # an authority missing the sender's earlier certificates: catch it up, then
                # send this one alone (in this authority's own worker thread)
                error = error_code(result)
                if error == "conflicting_certificate":
                    # verified, and told to the watch's handler; the item is NotConfirmed
                    # by this authority (its failure carries the ConflictingCertificate)
                    failure = self._refusal(authority, 409, result)
                    outcome.results[i] = Outcome(
                        authority, failure=self._conflicting(authority, chunk[i], failure)
                    )
                    continue
                if error == "missing_sequence":
                    certificate = chunk[i]
                    outcome.results[i] = guard(
                        authority,
                        lambda c=certificate: self._confirm_at(authority, c, encode(c.to_json())),
                    )
            return outcome

        unfinished = self._gather({a: bind(at, a) for a in self._endpoints}, on_outcome)
        results: list[Confirmation | NotConfirmed] = []
        for i, certificate in enumerate(chunk):
            if wait_all:
                failures[i].update(unfinished)
            if self.committee.has_quorum(applied[i]):
                results.append(Confirmation(certificate, frozenset(applied[i]), failures[i]))
            else:
                failures[i].update(unfinished)
                results.append(
                    NotConfirmed(
                        f"certificate for {certificate.order.sender} sequence "
                        f"{certificate.order.sequence} applied by too few authorities",
                        certificate=certificate,
                        failures=failures[i],
                    )
                )
        return results

    def sign_settlement_batch(
        self, epoch: int, batch_id: int, certificates: Sequence[Certificate], items_hash: bytes
    ) -> bytes:
        """The committee's signatures over the settlement Batch (``POST /batches``) of
        ``certificates`` for this client's committee (its redemption address and vault),
        packed sorted by signer for ``submitCommitteeBatch``. ``items_hash`` is what the
        caller packed (the vault's token ids are the caller's); an answer naming another
        hash, or a signature that does not recover to the member, is a ``bad_vote``.
        Raises NoQuorum (with every authority's failure) below a quorum."""
        committee = self.committee
        if not committee.vault_address:
            raise NoQuorum("the committee names no vault: no batch can be signed")
        message = td.batch_message(
            committee.domain,
            epoch,
            batch_id,
            items_hash,
            processor=committee.redemption_address,
            vault=committee.vault_address,
        )
        expected = "0x" + bytes(items_hash).hex()
        payload = encode(
            {
                "epoch": epoch,
                "batch_id": batch_id,
                "certificates": [c.to_json() for c in certificates],
            }
        )
        signatures: dict[str, bytes] = {}
        failures: dict[str, AuthorityFailure] = {}

        def at(authority: str) -> Outcome:
            status, body = self._call(authority, "POST", "/batches", payload)
            if status != 200:
                return Outcome(authority, failure=self._refusal(authority, status, body))
            try:
                if body["items_hash"].lower() != expected:
                    raise ValueError(f"signed items hash {body['items_hash']}, not {expected}")
                signature = bytes.fromhex(body["signature"].removeprefix("0x"))
                if td.recover(message, signature) != authority:
                    raise ValueError("the batch signature is not this authority's")
            except Exception as exc:  # a broken or lying node: not a vote
                return Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
            return Outcome(authority, results=[signature])

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            if outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            else:
                signatures[outcome.authority] = outcome.results[0]
            return committee.has_quorum(signatures)

        failures.update(self._gather({a: bind(at, a) for a in self._endpoints}, on_outcome))
        if not committee.has_quorum(signatures):
            raise NoQuorum(f"batch {batch_id} of epoch {epoch}: no quorum", failures=failures)
        return td.pack_signatures(signatures)

    def _batch_at(self, authority: str, path: str, payload: bytes, size: int) -> Outcome:
        status, body = self._call(authority, "POST", path, payload)
        if status != 200:
            return Outcome(authority, failure=self._refusal(authority, status, body))
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != size:
            return Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_response", f"expected {size} results in the batch answer"
                ),
            )
        return Outcome(authority, results=results)
