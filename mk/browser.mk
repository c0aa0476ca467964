# Browser for the admin tests (tests/fraud/test_browser.py): Debian's chromium and
# chromium-driver, installed when missing (CI runs as root; apt-get update first). Selenium,
# pinned in requirements-dev.txt, drives them: nothing downloads a browser build of its own.

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: browser

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing Debian chromium + chromium-driver for the browser test"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends \
			chromium chromium-driver; \
	fi

TEST_APP_DEPS += browser
