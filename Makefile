# llm-metrics: `make run` starts the dashboard, `make test` runs every test. Both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8501

.DEFAULT_GOAL := help
.PHONY: help run test bench lint format migrate demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

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
