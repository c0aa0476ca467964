"""Health probes, metrics, and the OpenAPI schema."""

import pytest
from django.core.management import call_command
from django.test import Client

from wallets.models import LedgerAccount
from wallets.services.checks import ledger_check_run
from wallets.services.payments import PaymentItem, payment_create


def test_healthz_answers_without_the_database():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(settings):
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
    if settings.REDIS_URL:
        assert response.json()["checks"]["cache"] == "ok"


@pytest.mark.django_db
def test_readyz_says_unavailable_when_redis_is_down(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("error")


def test_ping_is_a_no_database_json_endpoint():
    # No django_db mark: any query here would raise.
    response = Client().get("/api/v1/ping/")
    assert response.json() == {"pong": True}


@pytest.mark.django_db
def test_metrics_export_payments_and_ledger_drift(alice, bob, usdt, fund):
    fund(alice, usdt, 5)
    payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=1))
    account = LedgerAccount.objects.get(owner=bob)
    LedgerAccount.objects.filter(pk=account.pk).update(balance=99)
    ledger_check_run()

    body = Client().get("/metrics").content.decode()

    assert 'fastpay_payments{state="success",token="USDT"} 1.0' in body
    assert "fastpay_ledger_drift 2.0" in body
    assert "django_http_requests_total_by_method_total" in body


@pytest.mark.django_db
def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/v1/payments/batch/" in text
    assert "Idempotency-Key" in text


@pytest.mark.django_db
def test_the_docs_page_is_served_without_a_cdn():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "cdn.jsdelivr" not in page


@pytest.mark.django_db
def test_the_beat_schedule_runs_the_ledger_check(alice, usdt, fund):
    from wallets.tasks import ledger_check_task

    fund(alice, usdt, 1)
    assert ledger_check_task.delay().get() == 0


def test_admin_assets_are_served_by_the_app(settings):
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200


def test_py_ecc_recursion_limit_is_undone():
    import sys

    import py_ecc  # noqa: F401  (sets 100000 on import; already imported by now)

    assert sys.getrecursionlimit() <= 3000
