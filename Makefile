# Set-up and entry points. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: bedtools, tabix (bgzip, for the fast BAM writer) and tcmalloc (faster CPU
# training with train.allocator: tcmalloc) for the pipeline; Slurm and munge for the cluster test.
PIPELINE_PACKAGES := bedtools tabix libtcmalloc-minimal4
TEST_PACKAGES := slurm-wlm munge
# PyTorch comes from wherever pip finds it; on Linux x86-64 from PyPI that is the CUDA build
# and its nvidia-* wheels (about 3 GB). `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# installs the pinned version from that index (the CPU build) before the rest.
TORCH_INDEX ?=
TORCH_VERSION := $(shell sed -n 's/.*"torch==\([^"]*\)".*/\1/p' pyproject.toml)

.PHONY: setup demo test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v bedtools >/dev/null && command -v bgzip >/dev/null && /sbin/ldconfig -p | grep -q libtcmalloc_minimal || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(PIPELINE_PACKAGES); }
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(BIN)/pip install -q torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/snakemake --cores 2

# The lint checks first (seconds), then the test suite.
test: lint
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_PACKAGES); }
	$(BIN)/pytest

# No conflict markers in tracked files; config/README.md's table of keys as generated from the
# config schema (by this checkout's package, also in a git worktree beside the editable
# install); style; Snakemake's linter.
lint: setup
	$(BIN)/python tools/check_conflict_markers.py
	PYTHONPATH=src $(BIN)/python -m attentivechrome.config_docs --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: setup
	PYTHONPATH=src $(BIN)/python -m attentivechrome.config_docs
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/Snakefile workflow/rules

clean:
	rm -rf results .snakemake
