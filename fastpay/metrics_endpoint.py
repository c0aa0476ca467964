"""GET /metrics, for Prometheus only.

The metrics name tenants (breaker keys), volumes and queue sizes: not for the public. A
scrape is let in when it comes from an allow-listed network (FASTPAY_METRICS_ALLOW, CIDRs;
default loopback) or carries `Authorization: Bearer <FASTPAY_METRICS_TOKEN>`. Anything
else gets a 404, as if there were nothing here.

The network test uses `client_ip`, so behind a trusted proxy it sees the real client. A
request that carries X-Forwarded-For from a peer that is not a trusted proxy came through
a proxy we were not told about (e.g. nginx on the same host, whose peer address is
127.0.0.1): the allow-list does not let it in, only the token does.
"""

import hmac

from django.conf import settings
from django.http import Http404
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from fastpay.client_ip import client_ip, ip_in, peer_is_trusted_proxy


def _bearer_ok(request) -> bool:
    token = settings.FASTPAY_METRICS_TOKEN
    if not token:
        return False
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _network_ok(request) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META and not peer_is_trusted_proxy(request):
        return False
    return ip_in(client_ip(request), settings.FASTPAY_METRICS_ALLOW)


@require_GET
def metrics(request):
    if not (_bearer_ok(request) or _network_ok(request)):
        raise Http404("no such page")
    return ExportToDjangoView(request)
