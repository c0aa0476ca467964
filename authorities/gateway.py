"""The platform's door to the authority committee: the committee file, the platform's
sealed key and the Django-free committee client (fastpay_protocol), behind one small API
the services call (and tests replace)."""

import logging
import threading
from functools import cache
from pathlib import Path

from django.conf import settings
from eth_account import Account

from authorities.errors import CommitteeUnavailable
from fastpay.keyvault import kek_from_text, unseal
from fastpay_protocol import typed_data as td
from fastpay_protocol.membership import CommitteeFileError, committee_load
from fastpay_protocol.messages import Certificate, Committee, InvalidCertificate, MessageError

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        committee: Committee,
        platform_key: bytes | None,
        timeout_s: float,
        previous: dict[int, Committee] | None = None,
    ):
        self.committee = committee  # the current epoch's
        # every epoch known: certificates of older epochs verify against their committee,
        # and outstanding offline spends of a previous epoch are certified by it
        self.committees = {**(previous or {}), committee.epoch: committee}
        self.platform_key = platform_key
        self.timeout_s = timeout_s
        self.platform_address = Account.from_key(platform_key).address if platform_key else None
        self._lock = threading.Lock()
        self._clients: dict = {}

    def epoch(self) -> int:
        return self.committee.epoch

    def committee_of(self, epoch: int | None = None) -> Committee | None:
        return self.committee if epoch is None else self.committees.get(epoch)

    def order(self, *, sender, recipient, token, amount, sequence, epoch) -> td.TransferOrder:
        return td.TransferOrder(sender, recipient, token, amount, sequence, epoch)

    def client(self, epoch: int | None = None):
        """The one committee client of this process for ``epoch`` (default: the current
        one; None for an epoch it does not know). Thread-safe: each calling thread gets its
        own keep-alive connections, and its worker pool is shared."""
        committee = self.committee_of(epoch)
        if committee is None:
            return None
        with self._lock:
            if committee.epoch not in self._clients:
                from fastpay_protocol.committee import CommitteeClient

                self._clients[committee.epoch] = CommitteeClient(committee, timeout=self.timeout_s)
            return self._clients[committee.epoch]

    def certify_and_confirm(self, order: td.TransferOrder) -> dict:
        """Sign `order` with the platform's key, gather a quorum, confirm; the certificate
        as JSON. The same order again yields the same votes (authorities are idempotent)."""
        from fastpay_protocol.committee_errors import CommitteeError

        if self.platform_key is None:
            raise CommitteeUnavailable("the platform has no FastPay key configured")
        try:
            certificate = self.client().transfer(order, self.platform_key)
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc
        return certificate.to_json()

    def verify(self, certificate: dict) -> td.TransferOrder:
        """The certified order; ValueError when it is malformed or not a quorum."""
        try:
            parsed = Certificate.from_json(certificate, "certificate")
            committee = self.committee_of(parsed.order.epoch)
            if committee is None:
                raise InvalidCertificate(f"unknown epoch {parsed.order.epoch}")
            parsed.verify(committee)
        except (MessageError, InvalidCertificate) as exc:
            raise ValueError(str(exc)) from None
        self.client(parsed.order.epoch).watch_certificate(parsed)  # equivocation check
        return parsed.order

    def confirm(self, certificate: dict) -> None:
        from fastpay_protocol.committee_errors import CommitteeError

        try:
            parsed = Certificate.from_json(certificate, "certificate")
            (self.client(parsed.order.epoch) or self.client()).confirm(parsed)
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc

    def account_state(self, address: str) -> dict:
        from fastpay_protocol.committee_errors import CommitteeError

        try:
            return self.client().account_state(address).to_json()
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc


@cache
def _load(committee_file: str, key_file: str, kek: str, timeout_s: int) -> Gateway:
    try:
        loaded = committee_load(committee_file)  # the one loader: the nodes read it too
    except CommitteeFileError as exc:
        # The operator's log names the file and the fault; an API client is never shown
        # a server path.
        log.error("cannot load the committee file %s: %s", committee_file, exc)
        raise CommitteeUnavailable("the committee is not configured on this platform") from None
    key = None
    if kek and Path(key_file).exists():
        key = unseal(Path(key_file).read_text(), kek_from_text(kek))
    return Gateway(loaded.committee, key, timeout_s, dict(loaded.previous))


def gateway() -> Gateway:
    return _load(
        settings.FASTPAY_COMMITTEE_FILE,
        settings.FASTPAY_PLATFORM_KEY_FILE,
        settings.FASTPAY_KEK,
        settings.FASTPAY_COMMITTEE_TIMEOUT_S,
    )
