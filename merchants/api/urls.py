from django.urls import path

from merchants.api import views

urlpatterns = [
    path("rates/", views.RateApi.as_view(), name="rates"),
]
