from django.urls import path

from offline.api import views

urlpatterns = [
    path("vouchers/", views.VoucherListApi.as_view(), name="offline-vouchers"),
    path("redemptions/", views.RedemptionListApi.as_view(), name="offline-redemptions"),
    path("redemptions/sync/", views.RedemptionSyncApi.as_view(), name="offline-redemptions-sync"),
    path("terminal/", views.TerminalConfigApi.as_view(), name="offline-terminal"),
]
