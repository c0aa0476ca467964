"""HTTP security middleware: what Django's SecurityMiddleware does not cover.

- `UntrustedProxyHeadersMiddleware` (before SecurityMiddleware): X-Forwarded-Proto and
  X-Forwarded-Host are believed only from a trusted proxy (FASTPAY_TRUSTED_PROXIES). From
  anyone else they are dropped, so a client cannot claim "https" to slip past the SSL
  redirect (SECURE_PROXY_SSL_HEADER) or the CSRF referer check.
- `ApiNoStoreMiddleware`: API responses carry balances, payments and keys shown once;
  no cache on the way (browser, proxy, CDN) may keep them: `Cache-Control: no-store`.
"""

from django.utils.cache import patch_cache_control

from fastpay.client_ip import peer_is_trusted_proxy

_PROXY_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")


class UntrustedProxyHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if any(name in meta for name in _PROXY_HEADERS) and not peer_is_trusted_proxy(request):
            for name in _PROXY_HEADERS:
                meta.pop(name, None)
        return self.get_response(request)


class ApiNoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/v1/"):
            patch_cache_control(response, no_store=True, private=True)
        return response
