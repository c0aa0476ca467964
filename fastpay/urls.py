from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from fastpay import health, metrics_endpoint

admin.site.site_header = "FastPay back office"
admin.site.site_title = "FastPay"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("wallets.api.urls")),
    path("api/v1/offline/", include("offline.api.urls")),
    path("api/v1/", include("settlement.api.urls")),
    path("api/v1/", include("merchants.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1/", include("notifications.streams.api_urls")),
    path("api/v1/", include("notifications.api.preferences_urls")),
    path("live/", include("notifications.streams.live_urls")),
    path("api/v1/ping/", health.ping, name="ping"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script,
    # so the CSP (script-src 'self') holds on the docs too.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_endpoint.metrics, name="prometheus-django-metrics"),
]

handler404 = "fastpay.views.not_found"
handler500 = "fastpay.views.server_error"
