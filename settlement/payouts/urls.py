from django.urls import path

from settlement.payouts import api

urlpatterns = [
    path("", api.PayoutListCreateApi.as_view(), name="payouts"),
    path("<uuid:payout_id>/", api.PayoutDetailApi.as_view(), name="payout"),
    path(
        "<uuid:payout_id>/statement.csv", api.PayoutStatementApi.as_view(), name="payout-statement"
    ),
]
