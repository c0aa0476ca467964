# Contracts: Solidity compiled with solc-js, tested and deployed with Brownie.
# Brownie lives in its own virtualenv (.venv-brownie, from requirements-brownie.txt);
# solc-js, OpenZeppelin and anvil come from npm (package.json, exact pins).

BROWNIE_VENV   := .venv-brownie
BROWNIE_BIN    := $(BROWNIE_VENV)/bin
BROWNIE_STAMP  := $(BROWNIE_VENV)/.installed-$(shell sha1sum requirements-brownie.txt | cut -c1-12)
NODE_STAMP     := node_modules/.installed-$(shell cat package.json package-lock.json | sha1sum | cut -c1-12)
# The one place the compiler version is pinned is package.json; brownie-config.yaml must agree.
SOLC_VERSION   := $(shell sed -n 's/^ *"solc": *"\([0-9.]*\)".*/\1/p' package.json)
SOLC_SHIM      := node_modules/.solcx/solc-v$(SOLC_VERSION)
WITH_ANVIL     := tools/contracts/with-anvil.sh
ANVIL_PORT     ?= 8545
DEPLOYMENT_JSON ?= var/deployment.json
COMMITTEE_CONFIG ?= deploy/committee.local.json
CONTRACT_TEST_ARGS ?=

.PHONY: node_modules brownie-venv solc-shim check-solc-version contracts test-contracts \
	anvil deploy-local clean-contracts

node_modules: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

brownie-venv: $(BROWNIE_STAMP)

$(BROWNIE_STAMP): requirements-brownie.txt
	test -x $(BROWNIE_BIN)/python || $(PYTHON) -m venv $(BROWNIE_VENV)
	$(BROWNIE_BIN)/pip install -q --disable-pip-version-check -r requirements-brownie.txt
	rm -f $(BROWNIE_VENV)/.installed-*
	touch $@

check-solc-version:
	@grep -Eq '^ +version: *$(SOLC_VERSION) *$$' brownie-config.yaml || { \
		echo "brownie-config.yaml compiler.solc.version must be $(SOLC_VERSION) (the solc pin in package.json)"; \
		exit 1; }

# py-solc-x looks for $SOLCX_BINARY_PATH/solc-v<version>: a two-line wrapper around solc-js.
solc-shim: $(SOLC_SHIM)

$(SOLC_SHIM): tools/solc/solc.js $(NODE_STAMP) | check-solc-version
	mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec node "$$(dirname "$$0")/../../tools/solc/solc.js" "$$@"\n' > $@
	chmod +x $@
	$@ --version | grep -q 'Version: $(SOLC_VERSION)+commit' || { echo "solc-js is not $(SOLC_VERSION)"; exit 1; }

contracts: check-solc-version brownie-venv solc-shim
	$(WITH_ANVIL) $(CURDIR)/$(BROWNIE_BIN)/brownie compile

# The app suite's node tests deploy build/contracts artifacts to their own anvil.
TEST_APP_DEPS += contracts

# Own anvil on a free port, Brownie's pytest over tests/contracts only: its own pytest.ini
# and confcutdir keep the Django conftest and pyproject's pytest options out.
test-contracts: check-solc-version brownie-venv solc-shim
	$(WITH_ANVIL) $(CURDIR)/$(BROWNIE_BIN)/brownie test tests/contracts \
		-c tests/contracts/pytest.ini --rootdir . --confcutdir tests/contracts \
		-p no:cacheprovider -q $(CONTRACT_TEST_ARGS)

# A local chain for `make run`-style use, in the foreground (Ctrl-C stops it).
anvil: node_modules
	node_modules/.bin/anvil --host 127.0.0.1 --port $(ANVIL_PORT) --hardfork cancun \
		--gas-limit 60000000 --base-fee 0

# Deploy everything to the anvil started by `make anvil` (same ANVIL_PORT).
deploy-local: check-solc-version brownie-venv solc-shim
	mkdir -p $(dir $(DEPLOYMENT_JSON))
	ANVIL_PORT=$(ANVIL_PORT) DEPLOYMENT_JSON=$(abspath $(DEPLOYMENT_JSON)) \
		COMMITTEE_CONFIG=$(abspath $(COMMITTEE_CONFIG)) \
		$(WITH_ANVIL) $(CURDIR)/$(BROWNIE_BIN)/brownie run scripts/deploy.py --network development

# Everything the contract targets generate (the root `clean` only knows the app's venv).
clean-contracts:
	rm -rf $(BROWNIE_VENV) node_modules build .hypothesis
