from django.urls import include, path

from settlement.api import views

urlpatterns = [
    path("withdrawals/", views.WithdrawalListCreateApi.as_view(), name="withdrawals"),
    path("withdrawals/quote/", views.WithdrawalQuoteApi.as_view(), name="withdrawal-quote"),
    path(
        "withdrawals/<uuid:withdrawal_id>/", views.WithdrawalDetailApi.as_view(), name="withdrawal"
    ),
    path(
        "withdrawals/<uuid:withdrawal_id>/cancel/",
        views.WithdrawalCancelApi.as_view(),
        name="withdrawal-cancel",
    ),
    path(
        "withdrawal-addresses/",
        views.AllowedAddressListCreateApi.as_view(),
        name="withdrawal-addresses",
    ),
    path(
        "withdrawal-addresses/<int:address_id>/",
        views.AllowedAddressRemoveApi.as_view(),
        name="withdrawal-address",
    ),
    path("chain-redemptions/", include("settlement.batches.urls")),  # on-chain settlement
    path("payouts/", include("settlement.payouts.urls")),  # merchant payouts
]
