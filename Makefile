# The two commands of the README. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean chromium screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the main job — kubetrail serving on a fresh embedded store, fed a sample with an attack
demo: $(STAMP)
	$(BIN)/kubetrail demo run --data-dir data/demo --port $(or $(PORT),8080)

## test: lint, type-check and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check kubetrail tests bench
	$(BIN)/ruff format --check kubetrail tests bench

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

## bench: the throughput benchmarks (not part of `make test`: they measure, they do not assert)
bench: $(STAMP)
	$(BIN)/python bench/parse.py

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache .hypothesis
