"""Notification preferences: read (the defaults when never set) and change."""

from django.db import transaction

from fastpay.errors import DomainError
from fastpay.locks import for_update
from notifications.preferences import NotificationPreference

SMS_FIELDS = ("sms_account", "sms_payments", "sms_webhooks")
PREFERENCE_FIELDS = (
    "email_account",
    "email_payments",
    "email_webhooks",
    *SMS_FIELDS,
    "phone_number",
)


class SmsNeedsPhone(DomainError):
    code = "sms_needs_phone"
    default_message = "SMS notifications need a phone number (phone_number, E.164)"


def preference_get(*, user) -> NotificationPreference:
    """The user's preferences; an unsaved row with the defaults when never set."""
    found = NotificationPreference.objects.filter(user=user).first()
    return found or NotificationPreference(user=user)


def preferences_of(user_ids) -> dict[int, NotificationPreference]:
    """Preferences of many users at once (the defaults for those without a row)."""
    found = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)}
    return {uid: found.get(uid) or NotificationPreference(user_id=uid) for uid in user_ids}


def preference_update(*, user, changes: dict) -> NotificationPreference:
    """Apply `changes` (validated fields of PREFERENCE_FIELDS) under the row's lock."""
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise DomainError(f"unknown preference {sorted(unknown)[0]}", code="unknown_field")
    with transaction.atomic():
        NotificationPreference.objects.get_or_create(user=user)
        preference = for_update(NotificationPreference.objects).get(user=user)
        for name, value in changes.items():
            setattr(preference, name, value)
        if not preference.phone_number and any(getattr(preference, f) for f in SMS_FIELDS):
            param = (
                "phone_number"
                if "phone_number" in changes
                else next(f for f in SMS_FIELDS if getattr(preference, f))
            )
            raise SmsNeedsPhone(param=param)
        preference.save()
    return preference
