"""API authentication and permissions.

Merchants and vendors send `Authorization: Bearer fpk_...` (an API key, scoped); app users
send a JWT access token (`Authorization: Bearer eyJ...`); staff use their admin session.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from fastpay.api_keys import KEY_PREFIX, api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() not in {"bearer", "api-key"} or not raw.startswith(KEY_PREFIX):
            return None  # not ours: let JWT or the session try
        key = api_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return key.user, key

    def authenticate_header(self, request):
        return self.keyword


def request_scopes(request) -> set[str] | None:
    """The API key's scopes, or None for a user session/JWT (which may do anything its
    user may do)."""
    from fastpay.models import ApiKey

    auth = getattr(request, "auth", None)
    return set(auth.scopes) if isinstance(auth, ApiKey) else None


class IsApprovedUser(permissions.BasePermission):
    """Authenticated, active, and approved by staff (pending users may only read /me).

    A suspended user is told so (`account_suspended`), not that they await approval."""

    message = "your account is not approved yet"

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            raise exceptions.NotAuthenticated()
        if getattr(user, "status", None) == "suspended":
            raise exceptions.PermissionDenied(
                "your account is suspended; contact support", code="account_suspended"
            )
        if not getattr(user, "is_approved", False):
            raise exceptions.PermissionDenied(self.message, code="account_not_approved")
        return True


class IsAuthenticatedUser(permissions.BasePermission):
    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        return True


def scope_required(scope: str):
    """Permission class: an API key must carry `scope`; other credentials pass."""

    name = str(getattr(scope, "value", scope))  # "payments:write", as the docs spell it

    class ScopeRequired(permissions.BasePermission):
        message = f"this API key lacks the {name} scope"

        def has_permission(self, request, view):
            scopes = request_scopes(request)
            return scopes is None or name in scopes

    ScopeRequired.__name__ = f"ScopeRequired[{scope}]"
    return ScopeRequired


class UserCredentialsOnly(permissions.BasePermission):
    """Refuse API keys (e.g. an API key must not mint more API keys)."""

    message = "use your login (JWT or session), not an API key, for this endpoint"

    def has_permission(self, request, view):
        return request_scopes(request) is None


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "fastpay.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "fpk_<prefix>_<secret>",
            "description": "A merchant or vendor API key (scoped, revocable).",
        }
