"""tests/protocol runs in two places: inside the Django suite, and on its own in
.venv-protocol (`make test-protocol`), where fastpay_protocol is installed from its
pyproject.toml and neither Django nor the platform's code is there.

Make the repo root importable when pytest runs without pytest-django (`-p no:django`),
which otherwise puts manage.py's folder on sys.path for us."""

import importlib.util
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# These start real authority node processes (the platform's code, with Django): they run
# in the Django suite only.
PLATFORM_TESTS = ["test_voucher_nodes.py"]
if importlib.util.find_spec("django") is None:
    collect_ignore = PLATFORM_TESTS
