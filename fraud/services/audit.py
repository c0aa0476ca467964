"""The append-only audit log: every review decision, threshold change and breaker move."""

from fastpay.client_ip import current_client_ip
from fastpay.events import _require_transaction
from fraud.models import AuditLog


def audit_record(
    *, action: str, actor, object_type: str, object_id, before=None, after=None, note: str = ""
) -> AuditLog:
    """Write one entry. Must run inside the transaction of the change it describes. The
    client address is the current request's (fastpay.client_ip.ClientIpMiddleware)."""
    _require_transaction()
    return AuditLog.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        note=note,
        client_ip=current_client_ip(),
    )
