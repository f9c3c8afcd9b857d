# llm-metrics: `make run` starts the dashboard, `make test` runs every test. Both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TIMETRAVEL := $(VENV)/.timetravel
HOST ?= 127.0.0.1
PORT ?= 8501

.DEFAULT_GOAL := help
.PHONY: help run test test-calendar bench lint format migrate demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "Installing dependencies into $(VENV) (first run, or the requirements changed): about 2-3 minutes..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)
	@echo "✓ Dependencies installed in $(VENV)"

run: $(STAMP) ## migrate the database and start the dashboard on http://$(HOST):$(PORT)
	@$(BIN)/python -c "import socket, sys; sys.exit(socket.socket().connect_ex(('$(HOST)', $(PORT))) == 0)" || \
		{ echo "error: port $(PORT) on $(HOST) is already in use (another dashboard?); choose another: make run PORT=8502" >&2; exit 1; }
	$(BIN)/llm-metrics migrate
	@echo "Starting the dashboard on http://$(HOST):$(PORT) (Ctrl+C stops it)"
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(STAMP) ## run the whole test suite
	@echo "Running the test suite on SQLite and PostgreSQL (a throwaway server; several minutes)..."
	$(BIN)/python -m pytest -q

# The calendar step: the suite (SQLite, no browser) with the clock moved, subprocesses included, by
# tests/timetravel (a .pth file in the venv starts time-machine when LLM_METRICS_TEST_NOW is set).
# Two pytest-xdist workers (one per core: the runs are CPU-bound) keep the three runs to a few minutes.
CALENDAR_INSTANTS ?= 2026-12-31T23:59:00Z 2027-01-01T00:05:00Z 2028-02-29T12:00:00Z
CALENDAR_WORKERS ?= 2
CALENDAR_PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(CALENDAR_WORKERS) \
	--deselect tests/test_dashboard_browser.py \
	-W "ignore:Module already imported so cannot be rewritten; time_machine:pytest.PytestAssertRewriteWarning"

$(TIMETRAVEL): $(STAMP) tests/timetravel/llm_metrics_timetravel.py tests/timetravel/llm_metrics_timetravel.pth
	site="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" && \
	  cp tests/timetravel/llm_metrics_timetravel.py tests/timetravel/llm_metrics_timetravel.pth "$$site/"
	@touch $(TIMETRAVEL)

test-calendar: $(TIMETRAVEL) ## run the suite (SQLite) at a month's last minute, New Year, 29 February
	@failed=""; for now in $(CALENDAR_INSTANTS); do \
	  echo "---- LLM_METRICS_TEST_NOW=$$now"; \
	  LLM_METRICS_TEST_NOW=$$now $(BIN)/python -m llm_metrics_timetravel || exit 1; \
	  LLM_METRICS_TEST_NOW=$$now LLM_METRICS_TEST_BACKENDS=sqlite $(CALENDAR_PYTEST) || failed="$$failed $$now"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-calendar: the suite failed at:$$failed"; exit 1; fi

bench: $(STAMP) ## run the benchmarks (ratios against baselines measured in the same run)
	$(BIN)/python -m bench

lint: $(STAMP) ## ruff (lint and format check) and import-linter (layers import only downward)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP) ## create or upgrade the schema of $$LLM_METRICS_DB_URL (default data/metrics.db)
	$(BIN)/llm-metrics migrate

demo: $(STAMP) ## fill the database with 90 days of demo data
	$(BIN)/llm-metrics demo --days 90

clean: ## remove the virtualenv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis artifacts
