from django.urls import path

from notifications.streams.api import StreamTicketCreateApi

urlpatterns = [
    path("stream-tickets/", StreamTicketCreateApi.as_view(), name="stream-tickets"),
]
