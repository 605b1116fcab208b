#!/usr/bin/env bash
# Create (or reuse) benchmarks/.venv-brian2 with Brian2 and a numpy it imports with.
# Usage: bash benchmarks/peers/setup_brian2_env.sh   (needs python3.11+ and gcc/g++)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv-brian2"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import brian2, Cython" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements-brian2.txt"
fi
command -v g++ >/dev/null || echo "warning: g++ not found; cython and cpp_standalone modes will fail" >&2
"$venv/bin/python" -c "import brian2, numpy; print('brian2', brian2.__version__, 'numpy', numpy.__version__)"
echo "$venv/bin/python"
