from django.urls import path, re_path

from authorities.node import views

urlpatterns = [
    path("authority/v1/orders", views.orders),
    path("authority/v1/orders/batch", views.orders_batch),
    path("authority/v1/certificates", views.certificates),
    path("authority/v1/certificates/batch", views.certificates_batch),
    path("authority/v1/accounts/<str:address>", views.account),
    path("authority/v1/accounts/<str:address>/certificates", views.account_certificates),
    path("authority/v1/committee", views.committee),
    path("authority/v1/batches", views.batches),
    path("authority/v1/handover", views.handover),
    path("authority/v1/health", views.health),
    re_path(r"^.*$", views.not_found),
]
