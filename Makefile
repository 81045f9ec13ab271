# Two entry points on a fresh machine with only Python 3.11 and make:
#   make demo   -- the main job, end to end
#   make test   -- the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per extra set, so editing pyproject.toml reinstalls and nothing else does.
# The demo trains (datasets: the offline digits) and serves (serving: uvicorn).
$(VENV)/.demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[datasets,serving]"
	touch $@

$(VENV)/.test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# make demo DEMO_FAST=1: one epoch on a subset, for a quick end-to-end check.
DEMO_FAST ?=
demo: $(VENV)/.demo
	DEMO_FAST=$(DEMO_FAST) $(PY) examples/demo.py

# ruff first: it takes under a second and names a lint error before the suite's minutes.
# compileall: the suite starts dozens of Python processes (servers, kernels, CLIs) that
# import xlaflow; with its bytecode written once here each loads in ~0.35 s less, also
# where PYTHONDONTWRITEBYTECODE is set (Python still reads bytecode it did not write).
test: $(VENV)/.test
	$(PY) -m ruff check xlaflow tests benchmarks
	$(PY) -m compileall -q xlaflow
	$(PY) -m pytest -n 2 --dist worksteal -q

$(VENV)/.bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $@

bench: $(VENV)/.bench
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
