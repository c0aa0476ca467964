"""Make the repo root importable when pytest runs without pytest-django (`-p no:django`),
which otherwise puts manage.py's folder on sys.path for us."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
