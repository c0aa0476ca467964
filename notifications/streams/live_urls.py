from django.urls import path

from notifications.streams.live import LiveLoginView, LiveLogoutView, live_page

urlpatterns = [
    path("", live_page, name="live"),
    path("login/", LiveLoginView.as_view(), name="live-login"),
    path("logout/", LiveLogoutView.as_view(), name="live-logout"),
]
