from django.urls import path

from offline.api import views

urlpatterns = [
    path("account/", views.OfflineAccountApi.as_view(), name="offline-account"),
    path("fund/", views.OfflineFundApi.as_view(), name="offline-fund"),
    path("defund/", views.OfflineDefundApi.as_view(), name="offline-defund"),
    path("transfers/", views.OfflineTransferListApi.as_view(), name="offline-transfers"),
    path("vouchers/", views.VoucherListApi.as_view(), name="offline-vouchers"),
    path("redemptions/", views.RedemptionListApi.as_view(), name="offline-redemptions"),
    path("redemptions/sync/", views.RedemptionSyncApi.as_view(), name="offline-redemptions-sync"),
    path("terminal/", views.TerminalConfigApi.as_view(), name="offline-terminal"),
]
