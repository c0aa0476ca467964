"""API key services: create (the secret is returned once), revoke, authenticate."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from fastpay.errors import InvalidScope, NotFound
from fastpay.locks import for_update
from fastpay.models import ApiKey, ApiKeyScope

KEY_PREFIX = "fpk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, user, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; return it with the full secret, which is never shown again."""
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown:
        raise InvalidScope(f"unknown scope(s): {', '.join(unknown)}", param="scopes")
    if not scopes:
        raise InvalidScope("give at least one scope", param="scopes")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user, name=name, prefix=prefix, secret_hash=_hash(secret), scopes=sorted(set(scopes))
    )
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, user, key_id: int) -> ApiKey:
    key = for_update(ApiKey.objects).filter(user=user, id=key_id).first()
    if key is None:
        raise NotFound("no such API key", param="id")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """Return the active key for a presented secret, or None."""
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    now = timezone.now()
    # Touch last_used_at at most once a minute: a write on every request would serialise
    # a merchant's traffic on this row.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(id=key.id).update(last_used_at=now)
    return key
