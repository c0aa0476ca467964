from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from fastpay.throttling import LoginRateThrottle
from wallets.api import serializers as s
from wallets.api import views

urlpatterns = [
    path("auth/signup/", views.SignupApi.as_view(), name="signup"),
    path(
        "auth/token/",
        TokenObtainPairView.as_view(
            throttle_classes=[LoginRateThrottle], serializer_class=s.TokenObtainPairSerializer
        ),
        name="token-obtain",
    ),
    path(
        "auth/token/refresh/",
        TokenRefreshView.as_view(serializer_class=s.TokenRefreshSerializer),
        name="token-refresh",
    ),
    path("me/", views.MeApi.as_view(), name="me"),
    path("tokens/", views.TokenListApi.as_view(), name="tokens"),
    path("balances/", views.BalanceListApi.as_view(), name="balances"),
    path("payments/", views.PaymentListCreateApi.as_view(), name="payments"),
    path("payments/batch/", views.PaymentBatchApi.as_view(), name="payments-batch"),
    path("payments/<uuid:payment_id>/", views.PaymentDetailApi.as_view(), name="payment"),
    path(
        "payments/<uuid:payment_id>/refunds/",
        views.PaymentRefundApi.as_view(),
        name="payment-refunds",
    ),
    path("ledger/statement/", views.StatementApi.as_view(), name="statement"),
    path("api-keys/", views.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/", views.ApiKeyRevokeApi.as_view(), name="api-key"),
    path("", include("wallets.chain.api.urls")),
    path("", include("wallets.escrow.api.urls")),
]
