"""/live/ in a real (headless Debian) Chromium against a real daphne: a vendor logs in,
the page opens its stream with a ticket, and a payment made through the API shows on the
page within a second. The page runs under the production Content-Security-Policy."""

import asyncio
import os
import shutil
import time

import httpx
import pytest

from tests.notifications.daphne_processes import (
    daphnes,
    pay_http,
    server_env,
    shared_database_url,
)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=390,844",  # a phone
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def vendor_and_payer(fund, usdt, settings):
    from rest_framework_simplejwt.tokens import AccessToken

    from fraud.models import RuleConfig
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    vendor = UserFactory(username="kiosk", role=UserRole.VENDOR)
    # daphne checks the password with the production hashers, not the tests' fast one
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    vendor.set_password("correct horse battery")
    vendor.save(update_fields=["password"])
    payer = UserFactory(username="walker")
    fund(payer, usdt, 100)
    RuleConfig.objects.update_or_create(rule="rate_limit", defaults={"enabled": False})
    return vendor, str(AccessToken.for_user(payer))


def test_a_payment_made_through_the_api_shows_on_the_live_page_within_a_second(
    browser, vendor_and_payer, tmp_path
):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    vendor, payer_token = vendor_and_payer
    with daphnes(1, server_env(shared_database_url(tmp_path)), tmp_path) as (host,):
        browser.get(f"http://{host}/live/")
        assert "/live/login/" in browser.current_url  # a session is needed
        browser.find_element(By.ID, "id_username").send_keys(vendor.username)
        browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
        browser.find_element(By.ID, "login").click()
        try:
            WebDriverWait(browser, 15).until(
                seen.text_to_be_present_in_element((By.ID, "state"), "live")
            )
        except TimeoutException:
            logs = [e["message"] for e in browser.get_log("browser")]
            server = "\n".join(p.read_text()[-1500:] for p in tmp_path.glob("daphne-*.log"))
            pytest.fail(f"not live: {browser.current_url} {logs}\n{server}")
        assert browser.find_elements(By.CSS_SELECTOR, "#events li") == []

        async def pay():
            async with httpx.AsyncClient(timeout=10) as http:
                return await pay_http(http, host, payer_token, "kiosk", "12.5")

        payment = asyncio.run(pay())
        paid_at = time.monotonic()
        item = WebDriverWait(browser, 5, poll_frequency=0.02).until(
            seen.presence_of_element_located((By.CSS_SELECTOR, "#events li"))
        )
        elapsed = time.monotonic() - paid_at
        text = item.text
        if os.environ.get("LIVE_SCREENSHOT"):
            browser.save_screenshot(os.environ["LIVE_SCREENSHOT"])
        logs = browser.get_log("browser")

    assert elapsed < 1.0, f"shown {elapsed:.2f} s after the API answered"
    assert "Payment received" in text and "12.500000 USDT" in text and "walker" in text
    assert payment["amount"] in ("12.5", "12.50", "12.500000")
    refused = [e["message"] for e in logs if "Content Security Policy" in e["message"]]
    assert refused == []
