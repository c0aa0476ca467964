"""A reviewer in a real (headless Debian) Chromium: log in, open the queue, approve one
payment, reject another; then the balances are checked in the ledger. The pages run under
the Content-Security-Policy of production (django-csp): nothing is blocked, in the admin or
in Swagger UI."""

import os
import shutil

import pytest

from fraud.models import Review
from wallets.models import AccountKind, PaymentState
from wallets.services.ledger import user_account
from wallets.services.payments import PaymentItem, payment_create

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
USDT = 10**6

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
        "--window-size=1280,1024",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def two_held(alice, usdt, fund, rule):
    from tests.wallets.factories import UserFactory

    rule("large_amount", review_at_tokens=100)
    rule("new_payee", enabled=False)
    fund(alice, usdt, 1_000)
    for name, whole in (("bob", 200), ("carol", 300)):
        UserFactory(username=name)
        payment_create(payer=alice, item=PaymentItem(payee=name, token=usdt, amount=whole * USDT))
    return {r.payment.payee.username: r for r in Review.objects.select_related("payment__payee")}


def csp_violations(browser) -> list[str]:
    """The console messages of the pages seen since the last call that report something
    the Content-Security-Policy refused."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def decide(browser, live_server, review, verdict, note):
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/fraud/review/")
    browser.find_element(
        By.CSS_SELECTOR, f'a[href$="/admin/fraud/review/{review.pk}/change/"]'
    ).click()
    assert str(review.payment_id) in browser.find_element(By.ID, "payment-id").text
    assert (
        "at or above the 100 USDT review threshold" in browser.find_element(By.ID, "reasons").text
    )
    browser.find_element(By.ID, "id_note").send_keys(note)
    browser.find_element(By.ID, verdict).click()
    assert "/admin/fraud/review/" in browser.current_url
    return browser.find_element(By.CSS_SELECTOR, ".messagelist").text


def test_a_reviewer_approves_one_payment_and_rejects_another(
    browser, live_server, two_held, reviewer, alice, usdt
):
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/login/?next=/admin/fraud/review/")
    browser.find_element(By.ID, "id_username").send_keys(reviewer.username)
    browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2

    approved = decide(browser, live_server, two_held["bob"], "approve", "regular customer")
    rejected = decide(browser, live_server, two_held["carol"], "reject", "card reported stolen")

    assert "approved" in approved
    assert "rejected" in rejected
    assert browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr") == []
    bob, carol = (two_held[name].payment.payee for name in ("bob", "carol"))
    assert user_account(bob, usdt).balance == 200 * USDT
    assert user_account(carol, usdt).balance == 0
    assert user_account(alice, usdt).balance == 800 * USDT  # 1,000 - 200 released
    assert user_account(alice, usdt, AccountKind.HELD).balance == 0
    states = {r.payment.payee.username: r.payment.state for r in Review.objects.all()}
    assert states == {"bob": PaymentState.SUCCESS, "carol": PaymentState.FAILED}
    assert csp_violations(browser) == []


def test_swagger_ui_renders_every_operation_under_the_csp(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live_server.url}/api/docs/")

    WebDriverWait(browser, 20).until(
        seen.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
    )
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/payments/" in paths
    assert csp_violations(browser) == []
