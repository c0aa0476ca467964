"""Production security: /metrics restricted, proxy headers only from trusted proxies,
no-store on API responses, a CSP on the admin and the API docs, `check --deploy` clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


class TestMetricsAccess:
    def test_a_scrape_from_loopback_is_let_in_by_default(self, db):
        response = Client().get("/metrics")

        assert response.status_code == 200
        assert b"fastpay_ledger_drift" in response.content

    def test_a_scrape_from_elsewhere_is_a_404(self, db):
        response = Client(REMOTE_ADDR="203.0.113.5").get("/metrics")

        assert response.status_code == 404
        assert b"fastpay_" not in response.content

    def test_a_public_request_through_an_unknown_local_proxy_is_refused(self, db, settings):
        # nginx on the same host: the peer is 127.0.0.1, the header names the real client.
        settings.FASTPAY_TRUSTED_PROXIES = []

        response = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5")

        assert response.status_code == 404

    def test_behind_a_trusted_proxy_the_real_client_is_checked(self, db, settings):
        settings.FASTPAY_TRUSTED_PROXIES = ["10.0.0.0/8"]
        settings.FASTPAY_METRICS_ALLOW = ["192.168.7.0/24"]
        via_proxy = Client(REMOTE_ADDR="10.0.0.2")

        assert via_proxy.get("/metrics", HTTP_X_FORWARDED_FOR="192.168.7.9").status_code == 200
        assert via_proxy.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404

    def test_the_bearer_token_lets_a_scraper_in_from_anywhere(self, db, settings):
        settings.FASTPAY_METRICS_TOKEN = "s3cret-scrape-token"
        outside = Client(REMOTE_ADDR="203.0.113.5")

        ok = outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
        wrong = outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-tokeN")

        assert (ok.status_code, wrong.status_code) == (200, 404)

    def test_no_token_configured_means_no_bearer_access(self, db, settings):
        settings.FASTPAY_METRICS_TOKEN = ""

        response = Client(REMOTE_ADDR="203.0.113.5").get("/metrics", HTTP_AUTHORIZATION="Bearer ")

        assert response.status_code == 404

    def test_an_empty_allow_list_closes_the_network_path(self, db, settings):
        settings.FASTPAY_METRICS_ALLOW = []

        assert Client().get("/metrics").status_code == 404


class TestHeaders:
    def test_api_responses_are_not_stored_by_caches(self, db):
        response = Client().get("/api/v1/ping/")

        assert "no-store" in response["Cache-Control"]

    def test_api_errors_are_not_stored_either(self, db):
        response = Client().get("/api/v1/balances/")

        assert response.status_code in (401, 403)
        assert "no-store" in response["Cache-Control"]

    @pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
    def test_the_admin_and_the_docs_have_a_content_security_policy(self, db, path):
        response = Client().get(path)

        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-eval" not in policy

    def test_the_docs_page_has_no_inline_script(self, db):
        body = Client().get("/api/docs/").content.decode()

        assert "<script>" not in body.replace(" ", "")
        assert 'src="' in body

    def test_a_forwarded_proto_from_an_untrusted_peer_is_dropped(self, db, settings):
        from django.http import HttpResponse
        from django.test import RequestFactory

        from fastpay.security import UntrustedProxyHeadersMiddleware

        seen = {}

        def view(request):
            seen["secure"] = request.is_secure()
            return HttpResponse()

        middleware = UntrustedProxyHeadersMiddleware(view)
        settings.FASTPAY_TRUSTED_PROXIES = ["10.0.0.0/8"]
        factory = RequestFactory()

        middleware(factory.get("/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_PROTO="https"))
        assert seen["secure"] is False
        middleware(factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_PROTO="https"))
        assert seen["secure"] is True


def production_env(tmp_path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FASTPAY_", "SECURE_")) and key not in {"DEBUG", "SECRET_KEY"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="pay.example.com",
        FASTPAY_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    return env


def test_check_deploy_with_production_settings_gives_no_warning(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_redirect_to_https_but_not_the_probes(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(SERVER_NAME='pay.example.com')\n"
        "print(c.get('/admin/login/', HTTP_HOST='pay.example.com').status_code)\n"
        "print(c.get('/healthz', HTTP_HOST='pay.example.com').status_code)\n"
        "r = c.get('/api/v1/ping/', HTTP_HOST='pay.example.com', HTTP_X_FORWARDED_PROTO='https')\n"
        "print(r.status_code)\n"
    )
    env = {**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "fastpay.settings"}
    env["FASTPAY_TRUSTED_PROXIES"] = "127.0.0.1"  # the test client's peer plays the proxy
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["301", "200", "200"]
