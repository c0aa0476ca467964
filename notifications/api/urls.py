from django.urls import path

from notifications.api import views

ENDPOINT = "webhook-endpoints/<int:endpoint_id>/"

urlpatterns = [
    path("events/", views.EventListApi.as_view(), name="events"),
    path("events/<uuid:event_id>/", views.EventDetailApi.as_view(), name="event"),
    path(
        "webhook-endpoints/",
        views.WebhookEndpointListCreateApi.as_view(),
        name="webhook-endpoints",
    ),
    path(ENDPOINT, views.WebhookEndpointDetailApi.as_view(), name="webhook-endpoint"),
    path(
        ENDPOINT + "rotate-secret/",
        views.WebhookSecretRotateApi.as_view(),
        name="webhook-endpoint-rotate",
    ),
    path(ENDPOINT + "test/", views.WebhookTestApi.as_view(), name="webhook-endpoint-test"),
    path(
        ENDPOINT + "redeliver/",
        views.WebhookRedeliverApi.as_view(),
        name="webhook-endpoint-redeliver",
    ),
    path(
        ENDPOINT + "deliveries/",
        views.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        ENDPOINT + "deliveries/<int:delivery_id>/",
        views.WebhookDeliveryDetailApi.as_view(),
        name="webhook-delivery",
    ),
]
