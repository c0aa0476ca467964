"""The node's domain errors: stable codes from docs/protocol.md, rendered by views.py as
``{"error": {"code", "message", "param"}, **extra}`` with the error's HTTP status."""

from fastpay.errors import DomainError


class NodeError(DomainError):
    def __init__(self, message: str | None = None, *, param: str | None = None, **extra):
        super().__init__(message, param=param)
        self.extra = extra

    def as_body(self) -> dict:
        return {"error": self.as_dict(), **self.extra}


class InvalidRequest(NodeError):
    code = "invalid_request"
    status_code = 400
    default_message = "Malformed request."


class InvalidSignature(NodeError):
    code = "invalid_signature"
    status_code = 400
    default_message = "The signature is not the sender's, is malleable or is malformed."


class WrongEpoch(NodeError):
    code = "wrong_epoch"
    status_code = 409
    default_message = (
        "The order's epoch is not the epoch active by this node's clock, or this node is not "
        "one of its members."
    )


class HandoverPending(NodeError):
    code = "handover_pending"
    status_code = 503
    default_message = (
        "This node has not completed the handover of the previous epoch yet: retry shortly."
    )


class SequenceMismatch(NodeError):
    code = "sequence_mismatch"
    status_code = 409
    default_message = "The order's sequence is not the account's next sequence."


class SequenceLocked(NodeError):
    code = "sequence_locked"
    status_code = 409
    default_message = "A different order holds this sequence."


class InsufficientBalance(NodeError):
    code = "insufficient_balance"
    status_code = 402
    default_message = "This node's view of the sender's balance does not cover the amount."


class InvalidCertificate(NodeError):
    code = "invalid_certificate"
    status_code = 400
    default_message = "Not a valid quorum of committee votes for this order."


class MissingSequence(NodeError):
    code = "missing_sequence"
    status_code = 409
    default_message = "Earlier certificates of this sender are missing here."


class ConflictingCertificate(NodeError):
    code = "conflicting_certificate"
    status_code = 409
    default_message = (
        "A certificate for a different payment was applied at this (sender, sequence): more "
        "than a third of some committee's stake signed both."
    )


class InvalidBatch(NodeError):
    code = "invalid_batch"
    status_code = 409
    default_message = "This node will not sign this batch."


class NotFound(NodeError):
    code = "not_found"
    status_code = 404
    default_message = "No such endpoint."
