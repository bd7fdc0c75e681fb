# Two commands do everything on a fresh machine with Python 3.11, make and git:
#   make repro   set up .venv from the pinned requirements, then `dvc repro`
#   make test    same setup, then the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro test test-fast clean-venv

setup: $(STAMP)

# The venv is rebuilt when the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

repro: setup
	dvc repro

test: setup
	python -m pytest

test-fast: setup
	python -m pytest -m "not slow"

clean-venv:
	rm -rf $(VENV)
