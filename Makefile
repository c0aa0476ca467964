# FastPay: `make run` sets everything up and starts the platform on embedded defaults;
# `make test` sets everything up and runs lint plus every test suite.
# Per-area targets live in mk/*.mk (contracts, ...), included below.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
HOST   ?= 127.0.0.1
# Local development and the test suite run with DEBUG on unless told otherwise.
export DEBUG ?= 1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help venv run reset run-platform migrate demo test test-app test-protocol lint format bench clean

help:
	@echo "make run        start the local world (anvil + contracts + 4 authorities + the platform), kept in var/"
	@echo "make reset      remove the local world from var/: the next make run builds a fresh one"
	@echo "make run-platform  only the Django platform on http://$(HOST):$(PORT)"
	@echo "make test       set up and run lint plus every test suite"
	@echo "make test-app   the Django suite only (pytest tests/, contracts excluded)"
	@echo "make test-protocol  fastpay_protocol installed on its own (no Django) and its tests"
	@echo "make lint       ruff check + ruff format --check + the boundary lint"
	@echo "make bench      run every bench/ script with --quick"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# mk/*.mk add their own targets and may append prerequisites of the app suite to
# TEST_APP_DEPS (e.g. a browser for admin tests).
TEST_APP_DEPS :=
-include mk/*.mk

migrate: venv
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# The platform plus a local chain and a 4-node authority committee (tools/run_local.py),
# supervised (a node that exits is restarted). The world persists in var/ (FASTPAY_VAR_DIR)
# across runs: chain state, keys, KEKs, the nodes' and the platform's databases.
run: venv brownie-venv solc-shim node_modules
	HOST=$(HOST) PORT=$(PORT) ANVIL_PORT=$(ANVIL_PORT) NODE_BASE_PORT=$(NODE_BASE_PORT) \
		$(BIN)/python tools/run_local.py

# The next `make run` starts a fresh local world (var/static and the like are kept).
reset: venv
	$(BIN)/python tools/run_local.py reset

# Only the Django platform (no chain, no committee): offline features answer 503.
run-platform: demo
	$(BIN)/daphne -b $(HOST) -p $(PORT) fastpay.asgi:application

# Boundaries (pyproject.toml [tool.importlinter], tools/lint_invariants.py): who may import
# whom, balances written only by the posting service, row locks only through helpers.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python tools/lint_invariants.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# APP_WORKERS=N runs the Django suite in N parallel processes (pytest-xdist; a module's
# tests stay in one worker, each worker has its own test database and Redis database).
# Off by default: the transactional tests' flush empties the migrations' seed rows
# (tokens, groups) under a worker's later tests, which xdist does not order last.
APP_WORKERS ?= 0
APP_PARALLEL := $(if $(filter-out 0,$(APP_WORKERS)),-n $(APP_WORKERS) --dist loadfile,)

test-app: venv $(TEST_APP_DEPS)
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null || \
		(echo "models changed without a migration: run manage.py makemigrations" && exit 1)
	$(BIN)/pytest tests --ignore=tests/contracts -q -p no:cacheprovider $(APP_PARALLEL) $(PYTEST_ARGS)

# fastpay_protocol on its own: installed from its pyproject.toml into .venv-protocol (no
# Django there), its tests (tests/protocol, bar the ones that start platform processes)
# run from a copy so that they import the installed package, not the source tree.
PROTOCOL_VENV  := .venv-protocol
PROTOCOL_PINS  := $(shell grep -E '^(pytest|hypothesis)==' requirements-dev.txt)
PROTOCOL_STAMP := $(PROTOCOL_VENV)/.installed-$(shell cat fastpay_protocol/pyproject.toml requirements-dev.txt | sha1sum | cut -c1-12)

$(PROTOCOL_STAMP): fastpay_protocol/pyproject.toml requirements-dev.txt
	test -x $(PROTOCOL_VENV)/bin/python || $(PYTHON) -m venv $(PROTOCOL_VENV)
	rm -rf $(PROTOCOL_VENV)/src && mkdir -p $(PROTOCOL_VENV)/src
	cp -r fastpay_protocol $(PROTOCOL_VENV)/src/
	$(PROTOCOL_VENV)/bin/pip install -q --disable-pip-version-check \
		./$(PROTOCOL_VENV)/src/fastpay_protocol $(PROTOCOL_PINS) \
		$$(grep -oE 'setuptools==[0-9.]+' fastpay_protocol/pyproject.toml)
	rm -f $(PROTOCOL_VENV)/.installed-*
	touch $@

test-protocol: $(PROTOCOL_STAMP)
	rm -rf $(PROTOCOL_VENV)/src $(PROTOCOL_VENV)/tests $(PROTOCOL_VENV)/contracts
	mkdir -p $(PROTOCOL_VENV)/src $(PROTOCOL_VENV)/tests
	cp -r fastpay_protocol $(PROTOCOL_VENV)/src/
	$(PROTOCOL_VENV)/bin/pip install -q --disable-pip-version-check --no-deps \
		--no-build-isolation --force-reinstall ./$(PROTOCOL_VENV)/src/fastpay_protocol
	@! $(PROTOCOL_VENV)/bin/python -c "import django" 2>/dev/null || \
		(echo "Django is installed in $(PROTOCOL_VENV): the protocol must run without it" && exit 1)
	$(PROTOCOL_VENV)/bin/fastpay --help >/dev/null
	rm -rf $(PROTOCOL_VENV)/contracts && cp -r contracts $(PROTOCOL_VENV)/
	cp tests/__init__.py $(PROTOCOL_VENV)/tests/ && cp -r tests/protocol $(PROTOCOL_VENV)/tests/
	printf '[pytest]\naddopts = --strict-markers\n' > $(PROTOCOL_VENV)/pytest.ini
	cd $(PROTOCOL_VENV) && bin/python -c "import fastpay_protocol as p; assert 'site-packages' in p.__file__, p.__file__"
	cd $(PROTOCOL_VENV) && bin/pytest -c pytest.ini tests/protocol -q -p no:cacheprovider $(PYTEST_ARGS)

test: lint test-app test-protocol test-contracts

bench: venv brownie-venv solc-shim node_modules contracts
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f --quick || exit 1; done

clean: clean-contracts
	rm -rf $(VENV) $(PROTOCOL_VENV) var .pytest_cache .ruff_cache
