# Entry points, each creating (or reusing) .venv: `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -m "not slow and not notebooks and not docs"

.PHONY: demo test test-all test-notebooks docs docs-serve lint format bench venv clean

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

# The documentation site (mkdocs-material + mkdocstrings) -> site/, with no warning allowed, then
# every Python code block of the guide executed (tests/test_docs.py), so the docs cannot rot.
$(VENV)/.docs-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,lint,docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest -m docs

docs-serve: $(VENV)/.docs-installed
	$(BIN)/mkdocs serve

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
	rm -rf $(VENV) results site .pytest_cache
