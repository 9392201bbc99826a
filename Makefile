# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need
# (Python dependencies into .venv, a pinned Toxiproxy server, Redis from Debian) and are quick
# the second time.

# The Allure 3 command line (npm) that builds the HTML report from allure-results; the Allure
# test reads this pin.
ALLURE_VERSION := 3.18.0

# The one place the Toxiproxy version is pinned.
TOXIPROXY_VERSION := 2.12.0
TOXIPROXY_MODULE  := github.com/Shopify/toxiproxy/v2

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TIME_SCALE ?= 0.1

.PHONY: demo demo-compose test lint deps python toxiproxy redis chromium allure-cli clean help engine images bench

help:
	@echo "make demo   set everything up and run the demo game day (local processes, no Docker)"
	@echo "make test   set everything up and run the linters and the test suite"
	@echo "make demo-compose  the demo game day on docker compose (needs Docker; see README)"
	@echo "make images start a Docker engine if none answers and build the local images (no registry)"
	@echo "make bench  run every benchmark in benchmarks/ (BENCH_SMOKE=1: each at its smallest size)"

deps: python toxiproxy redis

python: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@echo ">> Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

toxiproxy: $(BIN)/toxiproxy-server
$(BIN)/toxiproxy-server: Makefile
	@echo ">> Toxiproxy $(TOXIPROXY_VERSION) (go install) into $(BIN)"
	@mkdir -p $(VENV)/gobin
	@GOBIN=$(CURDIR)/$(VENV)/gobin go install \
	  -ldflags "-X $(TOXIPROXY_MODULE).Version=$(TOXIPROXY_VERSION)" \
	  $(TOXIPROXY_MODULE)/cmd/server@v$(TOXIPROXY_VERSION)
	@GOBIN=$(CURDIR)/$(VENV)/gobin go install \
	  -ldflags "-X $(TOXIPROXY_MODULE).Version=$(TOXIPROXY_VERSION)" \
	  $(TOXIPROXY_MODULE)/cmd/cli@v$(TOXIPROXY_VERSION)
	@mkdir -p $(BIN)
	@cp $(VENV)/gobin/server $(BIN)/toxiproxy-server
	@cp $(VENV)/gobin/cli $(BIN)/toxiproxy-cli
	@$(BIN)/toxiproxy-server -version

redis:
	@command -v redis-server >/dev/null || { \
	  echo ">> redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version | cut -d' ' -f1-3

# Docker: an engine (Debian's docker.io when none answers) and local images built without a
# registry, named in fixtures/images/local.env for the compose file.
engine:
	@fixtures/images/engine.sh

images: engine
	@TOXIPROXY_VERSION=$(TOXIPROXY_VERSION) TOXIPROXY_MODULE=$(TOXIPROXY_MODULE) \
	  fixtures/images/build.sh

allure-cli: build/node/node_modules/.bin/allure
build/node/node_modules/.bin/allure: Makefile
	@echo ">> Allure $(ALLURE_VERSION) command line (npm) into build/node"
	@npm install --prefix build/node --no-audit --no-fund --silent allure@$(ALLURE_VERSION) >/dev/null
	@touch $@

# Debian's Chromium, for the test that opens the council page in a real browser.
chromium:
	@command -v chromium >/dev/null || { \
	  echo ">> chromium (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version 2>/dev/null

demo: deps
	@echo ">> Demo game day: payments-partition against the reference system (time scale $(TIME_SCALE))"
	@$(BIN)/harness run payments-partition --time-scale $(TIME_SCALE)
	@echo ">> The same scenario against a defective automation (DEFECT=no-pause): it must fail"
	@$(BIN)/harness run payments-partition --time-scale $(TIME_SCALE) --sut-env DEFECT=no-pause; \
	  code=$$?; if [ $$code -eq 1 ]; then echo ">> as expected, the broken promise was caught"; \
	  else echo ">> unexpected exit code $$code"; exit 1; fi

# The demo on docker compose: local images when `make images` built them, else public ones.
demo-compose: deps
	@echo ">> Demo game day on docker compose: payments-partition (time scale $(TIME_SCALE))"
	@set -a; [ ! -f fixtures/images/local.env ] || . fixtures/images/local.env; set +a; \
	  $(BIN)/harness run payments-partition --time-scale $(TIME_SCALE) --target compose

lint: python
	@echo ">> ruff and mypy"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

test: deps images chromium allure-cli lint
	@echo ">> tests"
	@$(BIN)/pytest

# Every script in benchmarks/, one after the other (results in benchmarks/results/); with
# BENCH_SMOKE=1 each runs at its smallest size, as the CI smoke test does.
bench: deps
	@for script in benchmarks/*.py; do \
	  echo ">> $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) reports/runs .mypy_cache .ruff_cache
