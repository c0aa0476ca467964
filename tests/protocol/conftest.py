"""tests/protocol runs in two places: inside the Django suite, and on its own in
.venv-protocol (`make test-protocol`), where fastpay_protocol is installed from its
pyproject.toml and neither Django nor the platform's code is there.

Make the repo root importable when pytest runs without pytest-django (`-p no:django`),
which otherwise puts manage.py's folder on sys.path for us."""

import importlib.util
import re
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

WITHOUT_DJANGO = importlib.util.find_spec("django") is None
# A module that imports the platform (Django, an app, or the test helpers that start real
# authority node processes) runs in the Django suite only.
_PLATFORM_IMPORT = re.compile(
    r"^\s*(from|import)\s+(django|rest_framework|fastpay|wallets|authorities|offline|fraud"
    r"|tests\.(?!protocol\b)\w+)\b",
    re.MULTILINE,
)
_left_to_the_django_suite: list[str] = []


def pytest_ignore_collect(collection_path, config):
    if (
        WITHOUT_DJANGO
        and collection_path.suffix == ".py"
        and _PLATFORM_IMPORT.search(collection_path.read_text())
    ):
        _left_to_the_django_suite.append(collection_path.name)
        return True
    return None


def pytest_report_header(config):
    if WITHOUT_DJANGO:
        return "fastpay_protocol without Django: modules that import the platform are skipped"
    return None


def pytest_terminal_summary(terminalreporter):
    if _left_to_the_django_suite:
        names = ", ".join(sorted(_left_to_the_django_suite))
        terminalreporter.write_line(f"left to the Django suite (they import the platform): {names}")
