from . import presets as presets
from .params import DimensionalParams as DimensionalParams
from .params import ParameterError as ParameterError
from .params import Params as Params
from .heterogeneity import Quantiles as Quantiles
from .heterogeneity import RandomDraws as RandomDraws
from .network import EulerReset as EulerReset
from .network import ExactPassage as ExactPassage
from .network import NetworkResult as NetworkResult
from .network import NetworkState as NetworkState
from .network import SimulationError as SimulationError
from .network import SimulationInterrupted as SimulationInterrupted
from .network import simulate_network as simulate_network
from .network import stack_params as stack_params
from . import analysis as analysis
from .compare import Comparison as Comparison
from .compare import compare as compare
from .meanfield import MeanFieldResult as MeanFieldResult
from .meanfield import MeanFieldState as MeanFieldState
from .meanfield import StepInput as StepInput
from .meanfield import meanfield_equilibria as meanfield_equilibria
from .meanfield import solve_meanfield as solve_meanfield
from .fit import BurstTarget as BurstTarget
from .fit import FitResult as FitResult
from .fit import fit as fit

__version__ = "0.1.0"
