# dynaclr: `make demo` runs the whole workflow on the embedded simulated plate; `make test`
# runs the test suite. Both create .venv (Python 3.12, exact pins from requirements.lock) first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dynaclr-installed
CORES ?= all
PYTEST_ARGS ?=
# `make resume` reruns this config; SNAKEMAKE_ARGS adds flags (e.g. --profile profiles/slurm).
CONFIG ?= config/config.yaml
SNAKEMAKE_ARGS ?=
SNAKEMAKE := $(BIN)/snakemake --configfile $(CONFIG) $(SNAKEMAKE_ARGS)

.PHONY: help venv demo resume test test-fast lint schema lock env dry-run clean-results browser screenshots

help:
	@echo "make demo       run the workflow on the simulated demo plate (results/)"
	@echo "make resume     after a crash or kill -9: unlock, rerun the interrupted jobs, then the report"
	@echo "make test       run the whole test suite on 2 pytest-xdist workers (PYTEST_WORKERS=0: one process)"
	@echo "make test-fast  the fast layer (about 5 min on 2 cores): not the workflow runs, torchrun launches, fresh interpreters and solves marked slow, nor SLURM"
	@echo "make lint       ruff check, ruff format --check, mypy and snakemake --lint"
	@echo "make browser    install Debian's chromium + chromedriver (the explorer's browser test; root or sudo)"
	@echo "make screenshots  after make demo: docs/screenshots/report.png and explorer.png (needs make browser)"
	@echo "make schema     regenerate config/config.schema.json from the config models"
	@echo "make lock       regenerate requirements.lock from the current .venv, and envs/dynaclr.yaml from it"
	@echo "make env        regenerate envs/dynaclr.yaml (the rules' conda environment) from requirements.lock"

venv: $(STAMP)

# Find a Python 3.12 interpreter: $$PYTHON, python3.12 on PATH, then pyenv's versions.
$(STAMP): requirements.lock pyproject.toml
	@set -e; \
	if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then \
		echo "$(VENV) is not Python 3.12: recreating it"; rm -rf $(VENV); fi; \
	if [ ! -x $(BIN)/python ]; then \
		py=""; \
		for candidate in "$${PYTHON:-}" python3.12 \
			$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV) \
			/usr/local/bin/python3.12 /usr/bin/python3.12 python3; do \
			[ -n "$$candidate" ] || continue; \
			path=$$(command -v "$$candidate" 2>/dev/null) || continue; \
			if "$$path" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then py=$$path; break; fi; \
		done; \
		if [ -z "$$py" ]; then \
			echo "error: dynaclr needs Python 3.12 (iohub 0.3 and waveorder >= 3.0.3 require it) and none was found."; \
			echo "  Looked at \$$PYTHON, python3.12 on PATH, pyenv versions 3.12.*, /usr/bin/python3.12."; \
			echo "  Install one (e.g. 'pyenv install 3.12' or 'uv python install 3.12'), then run"; \
			echo "  'make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)'."; \
			echo "  Do not use Python 3.11: pip silently resolves an incompatible zarr-2 stack there."; \
			exit 1; fi; \
		echo "creating $(VENV) with $$py"; \
		"$$py" -m venv $(VENV); \
	fi; \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -r requirements.lock; \
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .; \
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --logger dynaclr
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --report results/report.html

# After a crash, `kill -9` or a lost node: Snakemake left its lock and marked the running jobs'
# outputs incomplete. Unlock (only when no other Snakemake runs in this directory), rerun the
# incomplete jobs and everything still missing, then write the report.
resume: $(STAMP)
	$(SNAKEMAKE) --unlock
	$(SNAKEMAKE) --cores $(CORES) --rerun-incomplete
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html

# `make test` runs PYTEST_WORKERS pytest-xdist workers (0: none); each group of tests (a file, tests/slurm,
# tests/faults: tests/conftest.py) runs on one worker, the longest groups first (not xdist's reorder by count).
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not slurm" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow benchmarks docs
	$(BIN)/ruff format --check src tests workflow benchmarks docs
	$(BIN)/mypy
	$(BIN)/snakemake --lint

# Debian's chromium and chromedriver for tests/unit/test_explorer_browser.py and `make screenshots`
# (the test skips without them, fails with DYNACLR_REQUIRE_BROWSER=1). Refreshes the package lists
# only when the first try fails.
browser:
	@if { command -v chromium || command -v chromium-browser; } >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	else \
		apt="$$([ "$$(id -u)" = 0 ] || echo sudo -n) env DEBIAN_FRONTEND=noninteractive apt-get"; \
		$$apt install -y -q chromium chromium-driver \
			|| { $$apt update -q && $$apt install -y -q chromium chromium-driver; }; \
	fi

screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py --results results --out docs/screenshots

schema: $(STAMP)
	$(BIN)/python -m dynaclr.config.schema config/config.schema.json

lock: $(STAMP)
	@{ echo "# Exact pins of the dynaclr environment (Python 3.12, Linux x86_64). Generated by \`make lock\`;"; \
	   echo "# pyproject.toml declares the ranges. torch comes from PyPI (a CUDA build that also runs on CPU)."; \
	   $(BIN)/python -m pip freeze --exclude-editable | grep -v '^dynaclr'; } > requirements.lock
	@$(MAKE) --no-print-directory env

# The conda environment of every rule: requirements.lock, and dynaclr from this checkout (pip expands
# $${DYNACLR_SOURCE}, which workflow/rules/common.smk sets to the repository when Snakemake builds it).
env:
	@{ echo "# The one conda environment of every rule (snakemake --sdm conda). Generated by \`make lock\`:"; \
	   echo "# requirements.lock, and dynaclr installed editable from this checkout (\$${DYNACLR_SOURCE}: the"; \
	   echo "# workflow sets it; by hand: DYNACLR_SOURCE=\$$PWD conda env create -f envs/dynaclr.yaml)."; \
	   echo "name: dynaclr"; \
	   echo "channels: [conda-forge, nodefaults]"; \
	   echo "dependencies:"; \
	   echo "  - python=3.12"; \
	   echo "  - pip"; \
	   echo "  - pip:"; \
	   echo '      - -e $${DYNACLR_SOURCE}'; \
	   grep -v '^#' requirements.lock | sed 's/^/      - /'; } > envs/dynaclr.yaml

dry-run: $(STAMP)
	$(BIN)/snakemake -n --quiet rules

clean-results:
	rm -rf results .snakemake
