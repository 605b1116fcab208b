"""jaxmf: spiking Izhikevich networks with adaptation and their exact mean field, in JAX.

The public surface is re-exported here; see the README and each function's docstring.
"""

from . import analysis as analysis
from . import presets as presets
from ._compare import Comparison as Comparison
from ._compare import compare as compare
from ._files import package_version as _package_version
from ._fit import BurstFeatures as BurstFeatures
from ._fit import BurstTarget as BurstTarget
from ._fit import FitInterrupted as FitInterrupted
from ._fit import FitResult as FitResult
from ._fit import NetworkTrace as NetworkTrace
from ._fit import burst_features as burst_features
from ._fit import feature_loss as feature_loss
from ._fit import feature_residuals as feature_residuals
from ._fit import fit as fit
from ._fit import simulate_on_grid as simulate_on_grid
from ._fit import spectral_loss as spectral_loss
from ._fit import trace_mse as trace_mse
from ._fit import trace_residuals as trace_residuals
from ._results import RESULTS as RESULTS
from ._results import Interrupted as Interrupted
from ._results import NumericalError as NumericalError
from ._sweep import Grid as Grid
from ._sweep import MeanFieldModel as MeanFieldModel
from ._sweep import NetworkModel as NetworkModel
from ._sweep import SweepInterrupted as SweepInterrupted
from ._sweep import load_sweep as load_sweep
from ._sweep import regime_map as regime_map
from ._sweep import sweep as sweep
from .bifurcation import Branch as Branch
from .bifurcation import ContinuationError as ContinuationError
from .bifurcation import SpecialPoint as SpecialPoint
from .bifurcation import continue_equilibria as continue_equilibria
from .bifurcation import continue_fold as continue_fold
from .bifurcation import continue_hopf as continue_hopf
from .bifurcation import first_lyapunov_coefficient as first_lyapunov_coefficient
from .bifurcation import locate_fold as locate_fold
from .bifurcation import locate_hopf as locate_hopf
from .bifurcation import sensitivity as sensitivity
from .cycle_curves import CurveStats as CurveStats
from .cycle_curves import continue_homoclinic as continue_homoclinic
from .cycle_curves import continue_lpc as continue_lpc
from .cycle_curves import continue_ns as continue_ns
from .cycle_curves import continue_pd as continue_pd
from .cycle_curves import merge_repeated as merge_repeated
from .cycles import Cycle as Cycle
from .cycles import continue_cycles as continue_cycles
from .cycles import cycle_at as cycle_at
from .heterogeneity import Quantiles as Quantiles
from .heterogeneity import RandomDraws as RandomDraws
from .meanfield import MeanFieldResult as MeanFieldResult
from .meanfield import MeanFieldState as MeanFieldState
from .meanfield import StepInput as StepInput
from .meanfield import meanfield_equilibria as meanfield_equilibria
from .meanfield import solve_meanfield as solve_meanfield
from .netfit import ThetaNetwork as ThetaNetwork
from .netfit import ThetaResult as ThetaResult
from .netfit import simulate_theta as simulate_theta
from .network import EulerReset as EulerReset
from .network import ExactPassage as ExactPassage
from .network import NetworkResult as NetworkResult
from .network import NetworkState as NetworkState
from .network import SimulationError as SimulationError
from .network import SimulationInterrupted as SimulationInterrupted
from .network import simulate_network as simulate_network
from .network import stack_params as stack_params
from .params import DimensionalParams as DimensionalParams
from .params import ParameterError as ParameterError
from .params import Params as Params

__version__ = _package_version()
