"""Sign-up and staff decisions on users."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.errors import DomainError
from fastpay.events import event_record
from fastpay.locks import for_update
from wallets.errors import InvalidStateTransition, UsernameTaken, WeakPassword
from wallets.models import User, UserRole, UserStatus
from wallets.usernames import username_skeleton

SIGNUP_ROLES = (UserRole.CUSTOMER, UserRole.VENDOR, UserRole.MERCHANT)


def user_signup(*, username: str, email: str, password: str, role: str) -> User:
    """Create a PENDING user; staff approve before they can move money.

    A username equal to an existing one ignoring case, or confusable with one (same
    skeleton: "bob" and "B0B"), is taken: payees are named by username. The unique
    indexes on LOWER(username) and username_skeleton decide a race; this check only gives
    the usual case a clear message.
    """
    if role not in SIGNUP_ROLES:
        raise DomainError(
            f"role must be one of {', '.join(SIGNUP_ROLES)}", param="role", code="invalid_role"
        )
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken(param="username")
    if User.objects.filter(username_skeleton=username_skeleton(username)).exists():
        raise UsernameTaken(
            "This username looks too much like an existing one; choose another.",
            param="username",
        )
    candidate = User(username=username, email=email, role=role)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise WeakPassword(" ".join(exc.messages), param="password") from None
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            event_record(
                topic="user.signed_up",
                aggregate_type="user",
                aggregate_id=candidate.pk,
                payload={
                    "user_id": candidate.pk,
                    "username": username,
                    "role": role,
                    "status": candidate.status,
                },
            )
    except IntegrityError:
        raise UsernameTaken(param="username") from None
    return candidate


def _user_set_status(
    *,
    user_id: int,
    status: str,
    allowed_from: set[str],
    by: User | None,
    topic: str,
    reason: str = "",
) -> User:
    with transaction.atomic():
        user = for_update(User.objects).get(pk=user_id)
        if user.status == status:
            return user  # already there: approving twice is harmless
        if user.status not in allowed_from:
            raise InvalidStateTransition(f"cannot move a {user.status} user to {status}")
        user.status = status
        user.status_changed_at = timezone.now()
        user.save(update_fields=["status", "status_changed_at"])
        event_record(
            topic=topic,
            aggregate_type="user",
            aggregate_id=user.pk,
            payload={
                "user_id": user.pk,
                "status": status,
                "by": by.pk if by else None,
                "reason": reason,
            },
        )
    return user


def user_approve(*, user_id: int, by: User | None) -> User:
    return _user_set_status(
        user_id=user_id,
        status=UserStatus.APPROVED,
        allowed_from={UserStatus.PENDING, UserStatus.SUSPENDED},
        by=by,
        topic="user.approved",
    )


def user_suspend(*, user_id: int, by: User | None, reason: str = "") -> User:
    return _user_set_status(
        user_id=user_id,
        status=UserStatus.SUSPENDED,
        allowed_from={UserStatus.PENDING, UserStatus.APPROVED},
        by=by,
        topic="user.suspended",
        reason=reason,
    )
