# lakeloop: `make demo` runs the pipeline end to end, `make test` runs the tests.
# Both create/refresh the virtual env (.venv) when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.lakeloop/dagster_home

.PHONY: setup demo test lint dev clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## simulate days and run the nightly pipeline through Dagster
	$(BIN)/lakeloop demo --fresh

test: setup  ## lint, then the test suite
	$(BIN)/ruff check .
	$(BIN)/pytest

dev: setup  ## the Dagster UI on the demo's instance: http://127.0.0.1:3000
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf .lakeloop $(VENV)
