from django.urls import path

from wallets.chain.api import views

urlpatterns = [
    path(
        "deposit-addresses/",
        views.DepositAddressListCreateApi.as_view(),
        name="deposit-addresses",
    ),
    path(
        "deposit-addresses/<int:address_id>/",
        views.DepositAddressDetailApi.as_view(),
        name="deposit-address",
    ),
    path(
        "deposit-addresses/<int:address_id>/qr.png",
        views.DepositAddressQrApi.as_view(),
        name="deposit-address-qr",
    ),
]
