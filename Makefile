# The two quickstart commands are `make sweep` and `make test`; both set everything up first.
# Only Python 3.11+ and make are needed: the venv, the packages and PostgreSQL (pgserver) come
# from PyPI.

PYTHON ?= $(shell command -v python3.13 || command -v python3.12 || command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install sweep test bench ui lint db-stop clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "econ_obs needs Python 3.11+, found " + sys.version.split()[0]'
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

ui: install
	$(BIN)/econ-obs ui

lint: install
	$(BIN)/ruff check .

db-stop: install
	$(BIN)/econ-obs db stop

clean: db-stop
	rm -rf $(VENV) .econ_obs
