"""DRF's rate throttles, keyed on the client address from `fastpay.client_ip`.

DRF's own `get_ident` believes X-Forwarded-For (all of it when NUM_PROXIES is unset): a
client sending a fresh random header on every request had a fresh bucket every time, which
made the login and sign-up limits useless. These subclasses change only the identity.
"""

from rest_framework import throttling

from fastpay.client_ip import client_ip


class ClientIpIdent:
    def get_ident(self, request) -> str:
        return client_ip(request)


class AnonRateThrottle(ClientIpIdent, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientIpIdent, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientIpIdent, throttling.ScopedRateThrottle):
    """Per view `throttle_scope` (signup, login); per user when authenticated, else per
    client address."""


class LoginRateThrottle(AnonRateThrottle):
    """Password logins (POST /auth/token/), per client address: FASTPAY_THROTTLE_LOGIN."""

    scope = "login"
