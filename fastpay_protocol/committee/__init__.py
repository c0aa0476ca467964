"""The committee client: FastPay's client side, with no Django import.

A wallet app, a POS terminal or the platform embeds it to move money between FastPay
accounts (docs/committee-client.md):

    client = CommitteeClient(committee, timeout=2.0)
    certificate = client.pay(sender_key, recipient=..., token=..., amount=12_500_000)
    certificate = client.transfer(order, sender_key)  # an order built by the caller

- ``certify`` sends a signed order to every authority in parallel and returns a
  Certificate as soon as valid votes hold more than 2/3 of the stake; it never waits for
  slow authorities past that point and fails fast once a quorum has become impossible.
  Every vote is verified before it counts, so a lying authority cannot break it.
- ``confirm`` sends the certificate to every authority. An authority that is behind on the
  sender's sequence (``missing_sequence``) is caught up first: the client fetches the
  sender's certificates from another authority, verifies them and pushes them in order
  (FastPay's synchronisation), then retries.
- ``account_state`` pushes the missing certificates, in the background, to an authority
  that answered behind; ``catch_up(address)`` does it for every authority and waits.
- Every verified vote goes through a ``VoteWatch``: two votes of one authority for
  different orders of one (sender, sequence) are an ``Equivocation`` (its handler acts).
- ``EpochClients`` keeps one client per epoch of a ``handoff.Schedule`` and re-signs a
  payment whose epoch closed for the active one (``reepoch``: same sequence, same payment).
- ``certify_batch`` / ``confirm_batch`` do the same for many orders (from many senders)
  with one request per authority per 1000 items.

Up to f of 3f+1 authorities (by stake: less than 1/3) may be down, slow or lying.
"""

from fastpay_protocol.committee.accounts import AccountState
from fastpay_protocol.committee.base import Confirmation, fetch_committee
from fastpay_protocol.committee.batches import BATCH_LIMIT
from fastpay_protocol.committee.client import CatchUp, CommitteeClient
from fastpay_protocol.committee.epochs import EpochClients, reepoch
from fastpay_protocol.committee.equivocation import Equivocation, VoteWatch, process_watch
from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    CommitteeError,
    ConflictingCertificate,
    ConflictingOrder,
    HandoverPending,
    NoQuorum,
    NotConfirmed,
    StateUnknown,
    WrongEpoch,
)

__all__ = [
    "BATCH_LIMIT",
    "AccountState",
    "AuthorityFailure",
    "CatchUp",
    "CommitteeClient",
    "CommitteeError",
    "Confirmation",
    "ConflictingCertificate",
    "ConflictingOrder",
    "EpochClients",
    "Equivocation",
    "HandoverPending",
    "NoQuorum",
    "NotConfirmed",
    "StateUnknown",
    "VoteWatch",
    "WrongEpoch",
    "fetch_committee",
    "process_watch",
    "reepoch",
]
