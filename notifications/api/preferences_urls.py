from django.urls import path

from notifications.api.preferences import NotificationPreferenceApi

urlpatterns = [
    path(
        "notification-preferences/",
        NotificationPreferenceApi.as_view(),
        name="notification-preferences",
    ),
]
