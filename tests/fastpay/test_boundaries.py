"""The boundary lint of `make lint`: import-linter's contracts (pyproject.toml) and
tools/lint_invariants.py hold on the repository, and each rule fails on a deliberate
violation written into a copy of the code."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import lint_invariants

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = [
    "fastpay_protocol",
    "fastpay",
    "wallets",
    "authorities",
    "offline",
    "fraud",
    "notifications",
    "settlement",
    "merchants",
    "tests",
]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def code_copy(tmp_path_factory) -> Path:
    """The packages the contracts name, bench/, tools/ and pyproject.toml, copied once."""
    copy = tmp_path_factory.mktemp("repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "migrations")
    for name in [*PACKAGES, "bench", "tools"]:
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.fixture
def violation(code_copy):
    """violation("pkg/mod.py", source): write a module into the copy for one test."""
    written: list[Path] = []

    def _write(relative: str, source: str) -> None:
        path = code_copy / relative
        path.write_text(source)
        written.append(path)

    yield _write
    for path in written:
        path.unlink()


def test_the_repository_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_keeps_every_contract_before_a_violation_is_written(code_copy):
    result = lint_imports(code_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        (
            "fastpay_protocol/h7_violation.py",
            "import django\n",
            "fastpay_protocol is plain Python: no Django, no platform package BROKEN",
        ),
        (
            "fastpay_protocol/h7_violation.py",
            "from fastpay import money\n",
            "fastpay_protocol is plain Python: no Django, no platform package BROKEN",
        ),
        (
            "fastpay/h7_violation.py",
            "from wallets import models\n",
            "Dependencies point one way: the apps > wallets > fastpay > fastpay_protocol BROKEN",
        ),
        (
            "wallets/h7_violation.py",
            "from offline import models\n",
            "Dependencies point one way: the apps > wallets > fastpay > fastpay_protocol BROKEN",
        ),
        (
            "authorities/node/h7_violation.py",
            "from wallets.models import Token\n",
            "The node imports only fastpay_protocol and leaf modules of fastpay BROKEN",
        ),
        (
            "authorities/node/h7_violation.py",
            "from authorities import gateway\n",
            "The node imports only fastpay_protocol and leaf modules of fastpay BROKEN",
        ),
        (
            # fastpay.events imports fastpay.models: not a leaf
            "authorities/node/h7_violation.py",
            "from fastpay import events\n",
            "The node imports only fastpay_protocol and leaf modules of fastpay BROKEN",
        ),
        (
            "bench/h7_violation.py",
            "from tests.authorities import nodes\n",
            "Nothing outside tests/ imports tests/ (bench/ and tools/ included) BROKEN",
        ),
        (
            "tools/h7_violation.py",
            "import tests.conftest\n",
            "Nothing outside tests/ imports tests/ (bench/ and tools/ included) BROKEN",
        ),
    ],
)
def test_an_import_across_a_boundary_breaks_its_contract(
    violation, code_copy, module, source, contract
):
    violation(module, source)

    result = lint_imports(code_copy)

    assert result.returncode == 1, result.stdout
    assert contract in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout


def test_the_node_may_import_leaf_modules_of_fastpay(violation, code_copy):
    violation(
        "authorities/node/h7_violation.py",
        "from fastpay import bulk_insert, errors, keyvault\n"
        "from fastpay_protocol import messages\n",
    )

    result = lint_imports(code_copy)

    assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------ tools/lint_invariants.py


def test_the_repository_keeps_the_balance_and_lock_invariants():
    assert lint_invariants.check(ROOT) == []
    assert lint_invariants.stale_exceptions(ROOT) == []


@pytest.fixture
def tree(tmp_path):
    """tree({"pkg/mod.py": source}): a minimal tree for lint_invariants.check."""

    def _make(files: dict[str, str]) -> Path:
        for relative, source in files.items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        return tmp_path

    return _make


@pytest.mark.parametrize(
    "source",
    [
        "def f(account):\n    account.balance = 0\n",
        "def f(account):\n    account.balance += 5\n",
        "def f(qs):\n    qs.update(balance=0)\n",
        "def f(model):\n    model.objects.create(owner=None, balance=10)\n",
        'def f(model, rows):\n    model.objects.bulk_update(rows, ["balance"])\n',
        'def f(model, rows):\n    model.objects.bulk_update(rows, fields=("balance", "x"))\n',
        'SQL = "UPDATE wallets_ledgeraccount SET balance = balance + %s WHERE id = %s"\n',
        "def f(Posting, entry, a):\n    Posting.objects.create(entry=entry, account=a, amount=5)\n",
        "def f(JournalEntry):\n    JournalEntry.objects.bulk_create([])\n",
        "def f(Posting):\n    Posting.objects.filter(amount=1).update(amount=2)\n",
        "def f(JournalEntry):\n    return JournalEntry(kind='payment', reference='x')\n",
        'SQL = "INSERT INTO wallets_posting (entry_id, account_id, amount) VALUES (1, 2, 3)"\n',
    ],
)
def test_a_balance_written_outside_the_posting_service_is_refused(tree, source):
    root = tree({"offline/services/h7_violation.py": source})

    problems = lint_invariants.check(root)

    assert len(problems) == 1
    assert problems[0].startswith("offline/services/h7_violation.py:")
    assert "posting service" in problems[0]


def test_the_posting_service_may_write_balances(tree):
    root = tree(
        {
            "wallets/services/ledger.py": (
                "def post(model, account, changed):\n"
                "    account.balance += 1\n"
                '    model.objects.bulk_update(changed, ["balance", "updated_at"])\n'
                "    model.objects.select_for_update(no_key=True)\n"
            )
        }
    )

    assert lint_invariants.check(root) == []


@pytest.mark.parametrize(
    "source",
    [
        "def f(model):\n    return model.objects.select_for_update().get(pk=1)\n",
        "def f(qs):\n    return qs.select_for_update(no_key=True, of=('self',))\n",
        'SQL = "SELECT id FROM offline_voucher WHERE id = %s FOR NO KEY UPDATE"\n',
        'SQL = "select id from wallets_user for update"\n',
    ],
)
def test_a_row_lock_outside_a_lock_helper_is_refused(tree, source):
    root = tree({"fraud/services/h7_violation.py": source})

    problems = lint_invariants.check(root)

    assert len(problems) == 1
    assert "lock helper" in problems[0]


def test_a_lock_helper_module_may_lock_rows(tree):
    root = tree(
        {
            "offline/locks.py": "def f(qs):\n    return qs.select_for_update(no_key=True)\n",
            "authorities/node/services/locks.py": 'SQL = "SELECT 1 FROM t FOR NO KEY UPDATE"\n',
        }
    )

    assert lint_invariants.check(root) == []


def test_tests_and_migrations_are_not_scanned(tree):
    root = tree(
        {
            "tests/wallets/test_drift.py": "def f(account):\n    account.balance = 99\n",
            "wallets/migrations/0001_x.py": "def f(qs):\n    qs.select_for_update()\n",
        }
    )

    assert lint_invariants.check(root) == []


def test_the_command_exits_non_zero_on_a_violation(tree):
    root = tree({"wallets/h7_violation.py": "def f(a):\n    a.balance = 1\n"})

    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lint_invariants.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "wallets/h7_violation.py:2" in result.stdout


# ------------------------------------------------------------------ the repository stands alone

_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]
)
def test_every_relative_link_of_the_docs_leads_to_a_file_in_the_repository(page):
    text = (ROOT / page).read_text()
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = ((ROOT / page).parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page} links outside the repository: {target}"
        assert path.exists(), f"{page} links to a missing file: {target}"


def test_the_architecture_map_names_no_issue_and_no_file_outside_the_repository():
    text = (ROOT / "docs" / "architecture.md").read_text()

    assert not re.search(r"\bissues? \d", text, re.IGNORECASE)
    assert "../" not in text and "shared/" not in text


# ------------------------------------------------------------------ fastpay_protocol on its own


def _protocol_dependencies() -> dict[str, str]:
    import tomllib

    project = tomllib.loads((ROOT / "fastpay_protocol" / "pyproject.toml").read_text())
    pins = {}
    for requirement in project["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[_normalized(name)] = version
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_fastpay_protocol_imports_is_a_dependency_of_its_pyproject():
    import ast
    from importlib.metadata import packages_distributions

    provided_by = packages_distributions()
    imported = set()
    for path in (ROOT / "fastpay_protocol").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"fastpay_protocol", "__future__"}
    declared = set(_protocol_dependencies())

    missing = {
        module: provided_by.get(module)
        for module in third_party
        if not declared & {_normalized(d) for d in provided_by.get(module, [])}
    }
    assert missing == {}


def test_fastpay_protocol_pins_the_same_versions_as_the_platform():
    platform = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            platform[_normalized(name.split("[")[0])] = version

    for name, version in _protocol_dependencies().items():
        assert platform.get(name) == version, name
