# Set-up and entry points. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: bedtools, tabix (bgzip, for the fast BAM writer) and tcmalloc (faster CPU
# training with train.allocator: tcmalloc) for the pipeline; Slurm and munge for the cluster test.
PIPELINE_PACKAGES := bedtools tabix libtcmalloc-minimal4
TEST_PACKAGES := slurm-wlm munge

.PHONY: setup demo test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v bedtools >/dev/null && command -v bgzip >/dev/null && /sbin/ldconfig -p | grep -q libtcmalloc_minimal || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(PIPELINE_PACKAGES); }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/snakemake --cores 2

# Style and Snakemake's linter first (seconds), then the test suite.
test: lint
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_PACKAGES); }
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake
