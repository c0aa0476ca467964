"""The committee client's plumbing: one task per authority in parallel, with the
deadline, the HTTP call and the protocol error body."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    CommitteeError,
    ConflictingCertificate,
)
from fastpay_protocol.messages import (
    AccountInfo,
    Certificate,
    Committee,
    ErrorBody,
    InvalidCertificate,
    MessageError,
    PendingOrder,
    Vote,
)
from fastpay_protocol.transport import Endpoint, HttpTransport, TransportError


@dataclass
class Outcome:
    """What one authority's task produced: a vote, a conflict, an applied flag, an
    account, a certificate, batch results, or a failure."""

    authority: str
    vote: Vote | None = None
    conflict: PendingOrder | None = None
    applied: bool | None = None
    account: AccountInfo | None = None
    results: list[Any] | None = None
    failure: AuthorityFailure | None = None
    certificate: Certificate | None = None


@dataclass(frozen=True)
class Confirmation:
    """Which authorities hold a certificate as applied (``applied``: including those that
    had it already) and why the others do not (``failures``; authorities still working in
    the background when ``confirm`` returned at a quorum are in neither)."""

    certificate: Certificate
    applied: frozenset[str]
    failures: Mapping[str, AuthorityFailure] = field(default_factory=dict)


def fetch_committee(url: str, *, timeout: float = 3.0) -> Committee:
    """The committee as one node describes it. Pin it (compare with AuthorityManager
    on-chain, or with several nodes) before trusting it: a node could describe a fake one."""
    transport = HttpTransport(timeout)
    try:
        status, body = transport.request(Endpoint.parse(url), "GET", "/committee")
    finally:
        transport.close()
    if status != 200:
        raise CommitteeError(f"GET /committee at {url} answered HTTP {status}: {body!r}")
    return Committee.from_json(body)


class ClientBase:
    """What CommitteeClient's methods share: the committee, one endpoint per member, the
    worker pool, the HTTP transport, and fanning a task out to every authority."""

    def __init__(
        self,
        committee: Committee,
        *,
        timeout: float = 3.0,
        deadline: float | None = None,
        max_workers: int | None = None,
        sync: bool = True,
        transport: HttpTransport | None = None,
        committees: Mapping[int, Committee] | None = None,
    ):
        self.committee = committee
        # the committees of other epochs (epoch -> Committee) that certificates are
        # verified against: a certificate is valid under its own order's epoch, and the
        # committee of that epoch may have moved on. A live mapping: the platform passes
        # its schedule's dictionary and adds epochs to it as they are announced.
        self.committees: Mapping[int, Committee] = committees if committees is not None else {}
        self.hasher = committee.hasher
        self.timeout = timeout
        self.deadline = 3 * timeout if deadline is None else deadline
        self.sync = sync
        self._endpoints = {m.address: Endpoint.parse(m.url) for m in committee.members}
        self._transport = transport or HttpTransport(timeout)
        self._pool = ThreadPoolExecutor(
            max_workers or max(16, 4 * len(committee.members)),
            thread_name_prefix="fastpay-committee",
        )
        self._last_failure: dict[str, float] = {}

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> Any:
        """A client for the committee that the node at ``url`` describes (see
        ``fetch_committee`` about trusting it)."""
        return cls(fetch_committee(url, timeout=kwargs.get("timeout", 3.0)), **kwargs)

    def committee_of(self, epoch: int) -> Committee | None:
        """The committee of ``epoch`` (this client's own, or one of ``committees``)."""
        if epoch == self.committee.epoch:
            return self.committee
        return self.committees.get(epoch)

    def verify_certificate(self, certificate: Certificate) -> None:
        """Raise InvalidCertificate unless ``certificate`` proves a quorum of the committee
        of ITS order's epoch (which need not be this client's)."""
        committee = self.committee_of(certificate.order.epoch)
        if committee is None:
            raise InvalidCertificate(
                f"epoch {certificate.order.epoch} is unknown to this client (epochs "
                f"{sorted({self.committee.epoch, *self.committees})})"
            )
        certificate.verify(committee)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -------------------------------------------------------------- plumbing

    def _call(
        self, authority: str, method: str, path: str, payload: bytes | None = None
    ) -> tuple[int, Any]:
        """One HTTP request; raises TransportError (and notes the authority as failing)."""
        try:
            return self._transport.request(self._endpoints[authority], method, path, payload)
        except TransportError:
            self._last_failure[authority] = time.monotonic()
            raise

    @staticmethod
    def _refusal(authority: str, status: int, body: Any) -> AuthorityFailure:
        try:
            error = ErrorBody.from_json(body)
        except MessageError:
            return AuthorityFailure(
                authority, "bad_response", f"HTTP {status} without a protocol error body"
            )
        return AuthorityFailure(
            authority, "refused", error.message, error.code, status, dict(error.extra)
        )

    def _gather(
        self,
        tasks: Mapping[str, Callable[[], Outcome]],
        on_outcome: Callable[[Outcome, set[str]], bool],
    ) -> dict[str, AuthorityFailure]:
        """Run one task per authority in parallel; feed each outcome to ``on_outcome``
        (with the authorities still running) until it returns True, every task finished or
        the deadline passed. Returns failures for the authorities that were not waited for.

        Tasks left running finish in the background; their answers are dropped."""
        futures: dict[Future[Outcome], str] = {
            self._pool.submit(guard, authority, task): authority
            for authority, task in tasks.items()
        }
        waiting = set(futures)
        end = time.monotonic() + self.deadline
        stopped = False
        while waiting and not stopped:
            finished, _ = wait(
                waiting, timeout=max(0.0, end - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not finished:
                break
            for future in finished:
                waiting.discard(future)
                if on_outcome(future.result(), {futures[f] for f in waiting}):
                    stopped = True
                    break
        if stopped:
            reason, message = "abandoned", "not waited for (already decided)"
        else:
            reason, message = "timeout", f"no answer within the {self.deadline}s deadline"
        return {futures[f]: AuthorityFailure(futures[f], reason, message) for f in waiting}


def guard(authority: str, task: Callable[[], Outcome]) -> Outcome:
    """Run one authority's task; turn every failure into an AuthorityFailure (a broken or
    lying node must not break the caller)."""
    try:
        return task()
    except TransportError as exc:
        return Outcome(authority, failure=AuthorityFailure(authority, exc.kind, exc.message))
    except ConflictingCertificate as exc:  # found while catching the authority up
        return Outcome(
            authority,
            failure=AuthorityFailure(
                authority,
                "conflicting_certificate",
                str(exc),
                "conflicting_certificate",
                409,
                {"conflict": exc},
            ),
        )
    except CommitteeError as exc:
        return Outcome(authority, failure=AuthorityFailure(authority, "sync_failed", str(exc)))
    except (MessageError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return Outcome(authority, failure=AuthorityFailure(authority, "bad_response", str(exc)))


def bind(function: Callable[..., Outcome], *args: Any) -> Callable[[], Outcome]:
    return lambda: function(*args)


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_code(result: Any) -> str | None:
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        code = result["error"].get("code")
        return code if isinstance(code, str) else None
    return None
