# The two commands a newcomer needs: `make test` and `make bench`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/optbench
# two set-ups: the CPU path (make bench, the suites, reports) and the test tools with the
# CUDA compiler (PTX checks), Dask and xarray on top (make test, the benchmarks)
STAMP  := $(VENV)/.installed-stamp
TOOLS  := $(VENV)/.installed-tools
SUITE  ?= problems/standard.toml
RUN    ?= runs/bench
PYTEST_ARGS ?=

BASE   ?= main

.PHONY: setup test bench bench-theory bench-study bench-full bench-speed bench-gpu bench-peers regress regress-speed baseline docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TOOLS): $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,cuda,dask,docs,xarray]"
	touch $(TOOLS)

setup: $(STAMP)

## make test: set up .venv and pass the tests (CUDA kernels: PTX + simulator, no GPU needed;
## Dask runs on a LocalCluster of this machine)
test: $(TOOLS)
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: run Reddi et al.'s (2018) counterexample (reports/reddi/) and the benchmark
## suite, and write their reports into reports/<suite name>/ (the suite's findings print last)
bench: $(STAMP)
	$(CLI) run problems/reddi.toml --out runs/reddi --overwrite
	$(CLI) report runs/reddi
	$(CLI) run $(SUITE) --out $(RUN) --overwrite
	$(CLI) report $(RUN)

## make bench-theory: heavy ball and Nesterov against their exact and optimal rates, SGD with
## lr = beta/(gamma + k) against O(1/t) (problems/theory.toml); the rates table, with each
## check's measured / predicted and its interval, in reports/theory/
bench-theory: $(STAMP)
	$(CLI) run problems/theory.toml --out runs/theory --overwrite
	$(CLI) report runs/theory

## make bench-study: the Adam x decay study the project grew from (problems/adam-decay.toml),
## its report with the study's questions answered in reports/adam-decay/
bench-study: $(STAMP)
	$(CLI) run problems/adam-decay.toml --out runs/adam-decay --overwrite
	$(CLI) report runs/adam-decay --out reports/adam-decay

## make bench-full: every problem option x optimizer x schedule (problems/full.toml), resumable
bench-full: $(STAMP)
	$(CLI) run problems/full.toml --out runs/full --resume
	$(CLI) report runs/full

## make bench-speed: engine throughput against numpy, compile and cache times, phase profile,
## scaling in N, d and T (docs/figures/scaling.png), peak memory of workload A
bench-speed: $(TOOLS)
	$(PY) -m pytest benchmarks/bench_engine.py --benchmark-only -s
	$(PY) benchmarks/profile_engine.py
	$(PY) benchmarks/bench_scaling.py
	$(PY) benchmarks/bench_memory.py

## make bench-gpu: CUDA backend throughput (thread and block modes) against the CPU; skips without a GPU
bench-gpu: $(TOOLS)
	$(PY) benchmarks/bench_gpu.py

## make bench-peers: optbench against numpy, torch.optim and optax on the same work
bench-peers: $(TOOLS)
	$(PY) -m pip install --quiet -e ".[peers]"
	$(PY) benchmarks/bench_peers.py

## make regress: run the smoke suite and compare it with the committed baseline (speed only
## when the baseline's machine fingerprint matches this machine's)
regress: $(STAMP)
	$(CLI) run problems/smoke.toml --out runs/regress --overwrite --calibrate --quiet
	$(CLI) compare reports/baseline runs/regress --json runs/regress-compare.json --markdown runs/regress-compare.md

## make regress-speed: time BASE's (default main) and this tree's kernels, interleaved, here
regress-speed: $(TOOLS)
	git worktree remove --force runs/base-tree 2>/dev/null; rm -rf runs/base-tree; git worktree prune
	git worktree add --detach runs/base-tree $(BASE)
	$(PY) -m optbench.compare.paired runs/base-tree . --json runs/regress-speed.json; \
	  status=$$?; git worktree remove --force runs/base-tree; exit $$status

## make baseline: refresh reports/baseline/ (commit it when a change in results is intended)
baseline: $(STAMP)
	$(CLI) run problems/smoke.toml --out runs/baseline-full --overwrite --calibrate --quiet
	$(PY) -m optbench.compare.baseline runs/baseline-full reports/baseline

## make docs: build the documentation site into docs/_build/html (API reference, user guide,
## the examples' gallery, run while it builds); warnings are errors
docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks runs docs/_build docs/auto_examples docs/api/generated
