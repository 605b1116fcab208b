#!/usr/bin/env bash
# Create (or reuse) benchmarks/.venv-pyrates with PyRates (default numpy/scipy backend only).
# Kept apart from the project venv: PyRates pins networkx<=3.5 and pulls sympy/pandas/ruamel.yaml.
# Usage: bash benchmarks/peers/setup_pyrates_env.sh   (needs python3.8+; ~30 s from PyPI)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv-pyrates"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pyrates" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "pyrates==1.2.3"
fi
"$venv/bin/python" -c "import pyrates, numpy, scipy; print('pyrates', pyrates.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
echo "$venv/bin/python"
