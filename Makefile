# lakeloop: `make demo` runs the pipeline end to end, `make test` runs the tests.
# Both create/refresh the virtual env (.venv) when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.lakeloop/dagster_home

.PHONY: setup system-deps demo test test-fast docs lint dev clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the tests use: PostgreSQL (tests/test_postgres_instance.py starts a throw-away
# server from initdb/pg_ctl under /usr/lib/postgresql/<major>/bin) and Chromium (the browser
# test). Installed only when missing, so a machine that has them does no network work. With
# CI=true a failed install fails the build; elsewhere the tests that need them skip with the reason.
system-deps:  ## install the Debian packages the tests need, if missing (postgresql, chromium)
	@missing=""; \
	{ ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1 \
	  || missing="$$missing postgresql"; \
	{ command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 \
	  || missing="$$missing chromium"; \
	[ -n "$$missing" ] || exit 0; \
	echo "system-deps: installing$$missing"; \
	if [ "$$(id -u)" = 0 ]; then as=""; \
	elif command -v sudo >/dev/null 2>&1; then as="sudo -n"; else as="none"; fi; \
	if [ "$$as" != none ] \
	  && $$as env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	  && $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends $$missing; then exit 0; fi; \
	if [ "$$CI" = true ]; then \
	  echo "system-deps: could not install$$missing (CI=true: failing)" >&2; exit 1; fi; \
	echo "system-deps: could not install$$missing; tests that need them will be skipped" >&2

demo: setup  ## simulate days and run the nightly pipeline through Dagster
	$(BIN)/lakeloop demo --fresh

test: setup system-deps  ## lint, type-check the core, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest --durations=25

# the unit tier without the tests marked slow (model training, weeks of simulated features),
# on both cores (pytest-xdist): each unit test owns its temporary folders, so they run apart
test-fast: setup  ## the edit loop: lint and the unit tier, no training, no servers (~2 min)
	$(BIN)/ruff check .
	$(BIN)/pytest tests/unit -m "not slow" -n 2 --durations=10

# mkdocs-material prints a banner about its successor on every run: not the user's doing
docs: setup  ## the documentation site on http://127.0.0.1:8001 (mkdocs-material)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve -a 127.0.0.1:8001

# Evidently's UI on the monitoring workspace (lakeloop.settings.EvidentlySettings) runs beside
# it, http://127.0.0.1:8000 (the port of LAKELOOP_EVIDENTLY_URL), and stops when dagster dev does
dev: setup  ## the Dagster UI on the demo's instance: http://127.0.0.1:3000, Evidently's: :8000
	$(BIN)/lakeloop init --dagster-home $(DAGSTER_HOME)
	evidently="from urllib.parse import urlsplit; from lakeloop.settings import Settings; \
	e = Settings.from_env().evidently()" && \
	ws="$$($(BIN)/python -c "$$evidently; print(e.workspace)")" && mkdir -p "$$ws" && \
	port="$$($(BIN)/python -c "$$evidently; print(urlsplit(e.url).port or 8000)")" && \
	{ $(BIN)/evidently ui --workspace "$$ws" --host 127.0.0.1 --port "$$port" & } && \
	trap "kill $$! 2>/dev/null" EXIT INT TERM && \
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf .lakeloop $(VENV)
