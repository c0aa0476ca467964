from django.urls import path

from settlement.batches import api

urlpatterns = [
    path("", api.ChainRedemptionListCreateApi.as_view(), name="chain-redemptions"),
    path("<int:redemption_id>/", api.ChainRedemptionDetailApi.as_view(), name="chain-redemption"),
]
