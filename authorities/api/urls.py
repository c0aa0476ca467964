from django.urls import path

from authorities.api import views

urlpatterns = [
    path("account/", views.OfflineAccountApi.as_view(), name="offline-account"),
    path("fund/", views.OfflineFundApi.as_view(), name="offline-fund"),
    path("defund/", views.OfflineDefundApi.as_view(), name="offline-defund"),
    path("transfers/", views.OfflineTransferListApi.as_view(), name="offline-transfers"),
]
