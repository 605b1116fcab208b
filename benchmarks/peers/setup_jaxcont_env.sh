#!/usr/bin/env bash
# The JaxCont peer of benchmarks/continuation.py, in its own venv (it pins its own jax/equinox).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python3 -m venv "$here/.venv-jaxcont"
"$here/.venv-jaxcont/bin/pip" install -q "jaxcont==0.4.0" scipy
echo "JaxCont peer ready: $here/.venv-jaxcont/bin/python"
