# Entry points, each creating (or reusing) .venv: `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -m "not slow and not notebooks"

.PHONY: demo test test-all test-notebooks lint format bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $@

venv: $(VENV)/.installed

# The main job: a bursting network (eta_bar = 0.12, N = 10^4) against its exact mean field
# -> results/compare.{png,json,npz} and a metrics summary
demo: venv
	$(BIN)/jaxmf compare --preset bursting --n 10000 --t1 800 --out results --name compare

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every notebook top to bottom in quick mode (JAXMF_QUICK=1), so none can rot.
test-notebooks: venv
	$(BIN)/python -m pytest -m notebooks

test-all: PYTEST_ARGS =
test-all: test

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy jaxmf

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python benchmarks/network_throughput.py

clean:
	rm -rf $(VENV) results .pytest_cache
