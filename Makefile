# trialdesk — two commands from a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench soak fuzz clean venv validation core core-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PY)) on PATH"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trialdesk demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP) .venv-core/.installed lint  # CORE_STAMP (defined below) expands too late here
	$(BIN)/python -m pytest -n 2 -q --junitxml=build/junit.xml $(PYTEST_ARGS)

# CDISC CORE rules engine: its own Python 3.12 venv (cdisc-rules-engine >= 0.10 needs 3.12; the
# project runs on 3.11). `make core` writes the SDTM package of a simulated study and runs the
# engine on it: tools/core/run_core.py -> build/core/core_report.csv and a table, with the
# published rules from the shipped cache (tools/core/cache) or CORE_CACHE, a fuller copy.
CORE_PY ?= $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)/versions/3.12.*/bin/python)))
CORE_VENV := .venv-core
CORE_STAMP := $(CORE_VENV)/.installed
CORE_ENGINE := cdisc-rules-engine==0.17.1
CORE_OUT := build/core
CORE_CACHE ?= tools/core/cache  # the published rules, shipped (tools/core/cache/README.md)

core-venv: $(CORE_STAMP)

$(CORE_STAMP):
	@test -x $(CORE_PY) || { echo "need Python 3.12 for CDISC CORE (CORE_PY=$(CORE_PY)); see pyenv versions"; exit 1; }
	test -d $(CORE_VENV) || $(CORE_PY) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/pip install -q '$(CORE_ENGINE)' 'rich==14.2.0'
	touch $(CORE_STAMP)

core: $(STAMP) $(CORE_STAMP)
	rm -rf $(CORE_OUT) && mkdir -p $(CORE_OUT)
	$(BIN)/trialdesk simulate --candidates 40 --seed 1 --stop-when-full --database sqlite:///$(CORE_OUT)/study.sqlite
	$(BIN)/trialdesk export sdtm --database sqlite:///$(CORE_OUT)/study.sqlite --out $(CORE_OUT)/sdtm
	$(CORE_VENV)/bin/python tools/core/run_core.py $(CORE_OUT)/sdtm --out $(CORE_OUT)/core_report.csv $(if $(CORE_CACHE),--cache $(CORE_CACHE))

# docs/validation.md: requirements (docs/requirements.yaml) -> tests -> the last `make test`.
validation: $(STAMP)
	$(BIN)/python -m tools.validation_matrix --junit build/junit.xml --out docs/validation.md

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# The crash test with 500 SIGKILLs per backend instead of the 40 of every run (a few minutes).
soak: $(STAMP)
	TRIALDESK_CRASH_CYCLES=500 $(BIN)/python -m pytest -q tests/reliability/test_reliability_crash.py

fuzz: $(STAMP)
	TRIALDESK_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q -s tests/security -k fuzz

clean:
	rm -rf $(VENV) $(CORE_VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
