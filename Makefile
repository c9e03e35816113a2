# The two commands of the README. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench bench-store services clean chromium screenshots

# setup.py builds the C speedups in place: a change to them reinstalls
$(STAMP): pyproject.toml setup.py kubetrail/parse/_speedups.c kubetrail/store/clickhouse/_flatten.c kubetrail/store/clickhouse/_native.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the main job — kubetrail serving on a fresh embedded store, fed a sample with an attack
demo: $(STAMP)
	$(BIN)/kubetrail demo run --data-dir data/demo --port $(or $(PORT),8080)

## test: lint, type-check and the whole test suite
test: services lint typecheck unit

# services: the ClickHouse and PostgreSQL binaries the store tests start themselves (on
# loopback ports, in temporary directories; no system service). Installed from Debian when
# missing. Without them the backend tests skip on a workstation and fail in CI (CI=true).
HAVE_SERVERS = { command -v clickhouse-server || test -x /usr/sbin/clickhouse-server; } >/dev/null \
	&& ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
services:
	@if ! ( $(HAVE_SERVERS) ); then \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing clickhouse-server and postgresql (Debian packages)" >&2; \
	  ( $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$sudo apt-get install -y -qq clickhouse-server postgresql >/dev/null ) \
	  || { [ "$$CI" != true ] || { echo "cannot install the store servers" >&2; exit 1; }; \
	       echo "warning: store servers not installed; their tests will skip" >&2; }; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check kubetrail tests bench setup.py
	$(BIN)/ruff format --check kubetrail tests bench setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a broken suite, not a pass
unit: $(STAMP) chromium
	$(BIN)/pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

## chromium: Debian's Chromium, which the web tests drive (a browser is never downloaded)
chromium:
	command -v chromium >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## screenshots: refresh the README's pictures of the web pages from a browser test run
screenshots: $(STAMP) chromium
	KUBETRAIL_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/web/test_browser.py

## bench: parser, intake and detection throughput (not part of `make test`: they measure, they do not assert)
bench: $(STAMP)
	$(BIN)/python -m bench.parse
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.detect

## bench-store: ingest and query latency at 1M and 10M, SQLite against ClickHouse (~23 GB of TMPDIR at 10M)
bench-store: $(STAMP) services
	$(BIN)/python -m bench.store --events $(or $(EVENTS),1000000) --grow-to $(or $(GROW_TO),10000000)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache .hypothesis
