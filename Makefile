# Two commands do everything on a fresh machine:
#   make demo   run the bundled sample scenario on the built-in sandbox (Temporal UI on :8233)
#   make test   run the test suite (a real Temporal dev server, the simulators, SQLite and PostgreSQL)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_SCENARIO ?= sandbox/samples/demo-50-skus.json

.PHONY: demo test lint format scenarios clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p var
	$(PY) starter.py demo --scenario $(DEMO_SCENARIO) --out var/demo-result.json --ui-port 8233 --workdir var/demo --day-seconds 3

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -x -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

scenarios: $(STAMP)
	$(PY) ../shared/tools/check_scenarios.py

clean:
	rm -rf var .pytest_cache
