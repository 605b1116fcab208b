"""The benchmark network's constants and excitabilities, shared by every peer (each peer runs
in its own environment, so this file depends on NumPy only). Dimensionless values, converted exactly
from the paper's dimensional set (Chen & Campbell 2022); jaxmf.presets.bursting() is the same."""

import numpy as np

ALPHA = 1.0 - 24.6 / 65.0
G_SYN = 200.0 / (2.5 * 65.0)
E_R = 1.0
A = 250.0 / (200.0 * 2.5 * 65.0)
B = -1.0 / (2.5 * 65.0)
W_JUMP = 200.0 / (2.5 * 65.0**2)
S_JUMP = 0.8 * 250.0 / (2.5 * 65.0)
TAU_S = 4.0 * 2.5 * 65.0 / 250.0  # = 2.6
I_EXT = 0.0
V_PEAK = 200.0
ETA_BAR = 0.12
DELTA_ETA = 0.02
DT = 1e-3


def lorentzian_quantiles(n: int) -> np.ndarray:
    j = np.arange(1, n + 1, dtype=np.float64)
    return ETA_BAR + DELTA_ETA * np.tan((np.pi / 2.0) * (2.0 * j - n - 1.0) / (n + 1.0))
