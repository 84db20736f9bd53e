# Two commands for a new machine: `make demo` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

# Every dependency, dev extra and build backend included, pinned with its hashes (DEVELOPERS.md
# "Dependencies"); `make lock` remakes it after pyproject.toml's dependencies change.
LOCK      := requirements/lock.txt
PIP_TOOLS := pip-tools==7.6.2

.PHONY: demo demo-fresh test test-fast lint bench install lock lock-upgrade clean

## make install: .venv from the lock, every file checked against its hash; refused (check-lock)
## while pyproject.toml's dependencies are not what the lock was made from
$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) scripts/check-lock.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

## the translations: each locale/*/LC_MESSAGES/*.po compiled into its .mo (never committed) by
## polib, no GNU gettext needed (core/i18n.py); again whenever a .po changes
PO := $(wildcard locale/*/LC_MESSAGES/*.po)
MO := $(PO:.po=.mo)
$(MO): %.mo: %.po $(BIN)/.installed
	$(BIN)/python manage.py compiletranslations

install: $(BIN)/.installed $(MO)

## make lock: resolve pyproject.toml (dependencies, the dev extra, the build backend) into the
## lock, keeping the versions it pins where they still fit; make lock-upgrade: newest of everything
lock:
	$(PYTHON) scripts/check-lock.py --target
	$(PYTHON) -m venv var/lock-tools
	var/lock-tools/bin/pip install --quiet $(PIP_TOOLS)
	mkdir -p $(dir $(LOCK))
	CUSTOM_COMPILE_COMMAND="make lock" var/lock-tools/bin/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --strip-extras --all-build-deps --extra dev --no-emit-index-url \
	  --no-emit-find-links $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml
	$(PYTHON) scripts/check-lock.py --stamp

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

## make demo: migrate, seed a demo receiver with a fleet and signed releases, run web + worker/beat + simulated panels
demo: install
	$(BIN)/python manage.py rundemo

## make demo-fresh: the same, started afresh (database emptied, a new fleet, keys and password)
demo-fresh: $(BIN)/.installed
	$(BIN)/python manage.py rundemo --fresh

## make test: the whole suite (embedded SQLite; PostgreSQL when DATABASE_URL is set)
test: install
	scripts/ensure-test-deps.sh
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$status

## make test-fast: everything but the browser, swupdate, nginx and real-worker tests
test-fast: install
	$(BIN)/pytest -m "not browser and not swupdate and not nginx and not celery_worker" $(PYTEST_ARGS)

## make lint: ruff, the import contracts ([tool.importlinter] in pyproject.toml) and no model
## change without its migration (makemigrations needs no database server: embedded default)
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

## make bench: benchmarks (not part of CI); see docs/benchmarks.md
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache
