"""Every ModelAdmin answers a malformed URL (bad primary key, bad filter or ordering
parameter) with a 404 or the change list's own "bad parameter" page, never a 500."""

import pytest
from django.contrib import admin
from django.test import Client

MALFORMED_PKS = ["not-a-pk", "0x41", "-1", "1.5", "%00", "9" * 40, "' OR 1=1 --"]
BAD_QUERIES = [
    "o=abc",
    "o=99",
    "o=1.-x",
    "p=abc",
    "p=-1",
    "p=99999",
    "q=%00",
    "e=1",
    "_to_field=password",
    "state__in=nope",
    "id__gt=abc",
    "pk=abc",
    "created_at__gte=yesterday",
    "unknown_field=1",
    "all=",
    "_changelist_filters=%00",
]


def registered():
    return sorted((model._meta.app_label, model._meta.model_name) for model in admin.site._registry)


@pytest.fixture
def superuser_client(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(("app", "model"), registered())
def test_malformed_object_urls_are_404s(superuser_client, app, model):
    from urllib.parse import quote

    statuses = {}
    for pk in MALFORMED_PKS:
        for view in ("change", "delete", "history"):
            url = f"/admin/{app}/{model}/{quote(pk, safe='')}/{view}/"
            statuses[url] = superuser_client.get(url).status_code
    bad = {url: status for url, status in statuses.items() if status not in (302, 403, 404)}
    assert bad == {}


@pytest.mark.parametrize(("app", "model"), registered())
def test_bad_changelist_parameters_are_not_500s(superuser_client, app, model):
    statuses = {}
    for query in BAD_QUERIES:
        url = f"/admin/{app}/{model}/?{query}"
        statuses[url] = superuser_client.get(url).status_code
    bad = {url: status for url, status in statuses.items() if status >= 500}
    assert bad == {}


def test_a_well_formed_id_still_reaches_the_view(superuser_client, admin_user):
    assert superuser_client.get(f"/admin/wallets/user/{admin_user.pk}/change/").status_code == 200
    assert superuser_client.get("/admin/wallets/user/999999/change/").status_code == 302  # gone


def test_the_id_check_knows_each_key_type():
    from fastpay.admin_urls import pk_text_valid
    from fraud.models import Review, RiskProfile
    from offline.models import Redemption

    assert pk_text_valid(Review, "12")
    assert not pk_text_valid(Review, "12abc")
    assert not pk_text_valid(Review, str(2**63))  # past BigAutoField
    assert pk_text_valid(Redemption, "6c1f7a3e-3f7e-4a53-9d0c-3b1a3f1d2e4f")
    assert not pk_text_valid(Redemption, "not-a-uuid")
    assert not pk_text_valid(RiskProfile, "9" * 40)
