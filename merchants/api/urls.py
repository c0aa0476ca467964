from django.urls import path

from merchants.api import views
from merchants.invoices import api as invoices

urlpatterns = [
    path("rates/", views.RateApi.as_view(), name="rates"),
    path("invoices/", invoices.InvoiceListCreateApi.as_view(), name="invoices"),
    path("invoices/<uuid:invoice_id>/", invoices.InvoiceDetailApi.as_view(), name="invoice"),
    path(
        "invoices/<uuid:invoice_id>/cancel/",
        invoices.InvoiceCancelApi.as_view(),
        name="invoice-cancel",
    ),
    path("invoices/<uuid:invoice_id>/pay/", invoices.InvoicePayApi.as_view(), name="invoice-pay"),
]
