from django.urls import path

from wallets.escrow.api import views

urlpatterns = [
    path("holds/", views.HoldListCreateApi.as_view(), name="holds"),
    path("holds/<uuid:hold_id>/", views.HoldDetailApi.as_view(), name="hold"),
    path("holds/<uuid:hold_id>/capture/", views.HoldCaptureApi.as_view(), name="hold-capture"),
    path("holds/<uuid:hold_id>/void/", views.HoldVoidApi.as_view(), name="hold-void"),
    path("holds/<uuid:hold_id>/dispute/", views.HoldDisputeApi.as_view(), name="hold-dispute"),
]
