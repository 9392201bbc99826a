# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need
# (Python dependencies into .venv, a pinned Toxiproxy server, Redis from Debian) and are quick
# the second time.

# The Allure 3 command line (npm) that builds the HTML report from allure-results; the Allure
# test reads this pin.
ALLURE_VERSION := 3.18.0

# The one place the Toxiproxy version is pinned.
TOXIPROXY_VERSION := 2.12.0
TOXIPROXY_MODULE  := github.com/Shopify/toxiproxy/v2

# The one place the docker compose v2 version is pinned: the CLI plugin built from its Go module
# (`make compose-v2`), so that the compose tests run on v2 as well as on Debian's v1. It is
# installed where the Docker CLI looks for a user's plugins ($DOCKER_CONFIG, default ~/.docker).
COMPOSE_VERSION := 5.6.0
COMPOSE_MODULE  := github.com/docker/compose/v5
DOCKER_CLI_PLUGINS ?= $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins

# `make wheels`: the platforms of the Toxiproxy companion's wheels (fixtures/wheels/).
WHEEL_PLATFORMS ?= linux-amd64 linux-arm64 macos-amd64 macos-arm64

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TIME_SCALE ?= 0.1

.PHONY: demo demo-compose test lint deps python toxiproxy redis postgresql prometheus chromium allure-cli clean \
  help engine images compose-v2 wheels bench

help:
	@echo "make demo   set everything up and run the demo game day (local processes, no Docker)"
	@echo "make test   set everything up and run the linters and the test suite"
	@echo "make demo-compose  the demo game day on docker compose (needs Docker; see README)"
	@echo "make images start a Docker engine if none answers and build the local images (no registry)"
	@echo "make compose-v2  build docker compose v2 (pinned) and install it as a Docker CLI plugin"
	@echo "make wheels the harness's wheel and the Toxiproxy companion's platform wheels, in dist/"
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

# Debian's PostgreSQL and Prometheus, for the tests of the sql and prometheus probes (the tests
# start their own servers in temporary folders; Debian keeps initdb off PATH).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo ">> postgresql (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null | tail -1 | xargs -I{} sh -c '{} --version' \
	  || postgres --version

prometheus:
	@command -v prometheus >/dev/null || { \
	  echo ">> prometheus (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@prometheus --version 2>&1 | head -1

# Docker: an engine (Debian's docker.io when none answers) and local images built without a
# registry, named in fixtures/images/local.env for the compose file.
engine:
	@fixtures/images/engine.sh

images: engine
	@TOXIPROXY_VERSION=$(TOXIPROXY_VERSION) TOXIPROXY_MODULE=$(TOXIPROXY_MODULE) \
	  fixtures/images/build.sh

# docker compose v2, built from source (Go) at COMPOSE_VERSION; kept when it already reports it.
compose-v2:
	@COMPOSE_VERSION=$(COMPOSE_VERSION) COMPOSE_MODULE=$(COMPOSE_MODULE) \
	  PLUGIN_DIR=$(DOCKER_CLI_PLUGINS) fixtures/images/compose-plugin.sh

# What a pip user installs: the harness (sdist and wheel) and chaos-policy-harness-toxiproxy,
# platform wheels with the pinned Toxiproxy server cross-compiled by Go (fixtures/wheels/).
wheels: python
	@echo ">> dist/: chaos-policy-harness (sdist, wheel)"
	@$(BIN)/python -m build --no-isolation --outdir dist . >build/wheels.log 2>&1 \
	  || { cat build/wheels.log; exit 1; }
	@! grep "Warning" build/wheels.log || { echo "!! the build warned (build/wheels.log)"; exit 1; }
	@echo ">> dist/: chaos-policy-harness-toxiproxy $(TOXIPROXY_VERSION) for $(WHEEL_PLATFORMS)"
	@$(BIN)/python fixtures/wheels/toxiproxy_wheels.py --toxiproxy $(TOXIPROXY_VERSION) \
	  --module $(TOXIPROXY_MODULE) --out dist $(addprefix --platform ,$(WHEEL_PLATFORMS))

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

test: deps postgresql prometheus images compose-v2 chromium allure-cli lint
	@echo ">> tests"
	@$(BIN)/pytest

# Every script in benchmarks/ but the `_*.py` helpers, one after the other (results in
# benchmarks/results/); with BENCH_SMOKE=1 each runs at its smallest size, as the CI smoke test does.
bench: deps
	@for script in benchmarks/[!_]*.py; do \
	  echo ">> $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) reports/runs .mypy_cache .ruff_cache
