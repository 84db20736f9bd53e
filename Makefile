# Two commands for a new machine: `make demo` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-fast lint bench install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## make demo: migrate, seed a demo receiver with a fleet and signed releases, run web + worker/beat + simulated panels
demo: $(BIN)/.installed
	$(BIN)/python manage.py rundemo

## make test: the whole suite (embedded SQLite; PostgreSQL when DATABASE_URL is set)
test: $(BIN)/.installed
	scripts/ensure-test-deps.sh
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$status

## make test-fast: everything but the browser, swupdate, nginx and real-worker tests
test-fast: $(BIN)/.installed
	$(BIN)/pytest -m "not browser and not swupdate and not nginx and not celery_worker" $(PYTEST_ARGS)

## make lint: ruff, the import contracts ([tool.importlinter] in pyproject.toml) and no model
## change without its migration (makemigrations needs no database server: embedded default)
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

## make bench: benchmarks (not part of CI); see docs/benchmarks.md
bench: $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache
