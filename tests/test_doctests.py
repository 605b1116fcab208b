"""The examples in the docstrings run and print what they say, so the API reference cannot rot.

Each module's examples run with `doctest` in this one process, so the one network and mean-field
compilation they share (a 100-neuron `compare` over t1 = 40) is paid once. conftest switches on
float64; the examples print rounded values, so they hold in float32 as well
(`python -m pytest --doctest-modules jaxmf/params.py ...` runs them without conftest).
"""

import doctest
import importlib
import inspect
import tempfile

import matplotlib
import pytest

matplotlib.use("Agg")

MODULES = [
    "jaxmf.params",
    "jaxmf.presets",
    "jaxmf.analysis",
    "jaxmf._results",
    "jaxmf._compare",
    "jaxmf.io",
    "jaxmf.plot",
    "jaxmf.dde",
    "jaxmf.dde_cycles",
    "jaxmf.delay",
    "jaxmf.dde_bifurcation",
    "jaxmf._field",
    "jaxmf.meanfield",
    "jaxmf.network",
    "jaxmf.connectivity",
    "jaxmf.heterogeneity",
    "jaxmf.noise",
    "jaxmf.cache",
    "jaxmf.netfit",
    "jaxmf._fit",
    "jaxmf._sweep",
    "jaxmf.bifurcation",
    "jaxmf.inputs",
    "jaxmf.monitors",
    "jaxmf.synapses",
    "jaxmf.collocation",
    "jaxmf.cli.bifurcation",
]
# Functions whose docstrings need no example: the CLI's argparse wiring, which tests/test_cli.py
# runs end to end.
NOT_CHECKED: dict[str, set[str]] = {"jaxmf.cli.bifurcation": {"add_parser", "run"}}


def _public_functions(module):
    skip = NOT_CHECKED.get(module.__name__, set())
    for name, obj in vars(module).items():
        if name.startswith("_") or name in skip:
            continue
        if inspect.isfunction(obj) and obj.__module__ == module.__name__:
            yield name, obj


@pytest.mark.docs
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    # The examples' files (tempfile.mkdtemp, the current directory) go to pytest's tmp_path.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    missing = [
        f for f, obj in _public_functions(module) if "Examples\n" not in (inspect.getdoc(obj) or "")
    ]
    assert not missing, f"{name}: public functions without an Examples section: {missing}"
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0, f"{name}: no examples found"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
