# The two commands a newcomer needs: `make test` and `make bench`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUITE  ?= problems/default.toml
PYTEST_ARGS ?=

.PHONY: setup test bench bench-speed clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/optbench run $(SUITE) --out reports/default/run --overwrite

bench-speed: $(STAMP)
	$(PY) -m pytest benchmarks/bench_engine.py --benchmark-only -s

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks runs
