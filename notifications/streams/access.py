"""Who may open which stream (the ticket API and the stream ask the same question)."""

from notifications.streams.models import StreamName


def stream_refusal(user, stream: str) -> tuple[str, str] | None:
    """(code, message) when `user` may not open `stream`, else None; the ticket API asks
    the same question before issuing a ticket."""
    if not user.is_active:
        return "account_inactive", "your account is inactive"
    if stream == StreamName.STAFF:
        return None if user.is_staff else ("staff_only", "only staff may open the staff stream")
    if getattr(user, "status", None) == "suspended":
        return "account_suspended", "your account is suspended; contact support"
    if not getattr(user, "is_approved", False):
        return "account_not_approved", "your account is not approved yet"
    return None
