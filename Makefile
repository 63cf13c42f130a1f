# The two quickstart commands are `make sweep` and `make test`; both set everything up first.
# Only Python 3.11+ and make are needed: the venv, the packages and PostgreSQL (pgserver) come
# from PyPI.

# The first interpreter that actually runs and is 3.11+ (pyenv shims can exist without one).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install sweep test bench ui lint db-stop clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "econ_obs needs Python 3.11+ on PATH (python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

sweep: install
	$(BIN)/econ-obs sweep

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m econ_obs.bench

# `make ui PORT=3001 CONFIG=path.yaml`: only values given on make's command line are passed,
# never a PORT or CONFIG that happens to be set in the environment.
UI_ARGS := $(if $(filter command line,$(origin PORT)),--port '$(PORT)') \
	$(if $(filter command line,$(origin CONFIG)),--config '$(CONFIG)')

ui: install
	$(BIN)/econ-obs ui $(strip $(UI_ARGS))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

db-stop: install
	$(BIN)/econ-obs db stop

clean: db-stop
	rm -rf $(VENV) .econ_obs
