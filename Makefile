# Two entry points, each creating (or reusing) .venv: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -m "not slow"

.PHONY: demo test test-all bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The main job: a bursting network (eta_bar = 0.12, N = 10^4) against its exact mean field
# -> results/compare.{png,json,npz} and a metrics summary
demo: venv
	$(BIN)/jaxmf compare --preset bursting --n 10000 --t1 800 --out results --name compare

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: PYTEST_ARGS =
test-all: test

bench: venv
	$(BIN)/python benchmarks/network_throughput.py

clean:
	rm -rf $(VENV) results .pytest_cache
