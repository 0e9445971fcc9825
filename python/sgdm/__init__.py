"""sgdm: stochastic gradient descent with momentum under learning-rate and batch-size schedules.

A NumPy-native toolkit for the method of Kondo & Iiduka (arXiv 2508.03105):

- :class:`SGDM`: fused, in-place, multi-tensor SGDM steps (SHB, NSHB, Nesterov, weight decay)
  implemented in Rust, with a bit-identical pure-NumPy reference (:mod:`sgdm.reference`);
- :mod:`sgdm.schedules` and :class:`Plan`: learning-rate and batch-size schedules as pure
  functions of (step, epoch), and the closed-form layout of a whole run;
- :mod:`sgdm.strategies`: the paper's strategies with their theory rows;
- :mod:`sgdm.problems`, :mod:`sgdm.datasets`, :mod:`sgdm.engine`, :mod:`sgdm.rates`,
  :mod:`sgdm.experiment`: models, data, the training loop and the convergence-rate analysis.
"""

from ._sgdm import SgdmError, __version__, get_num_threads, set_num_threads
from .optim import SGDM
from .plan import Plan
from .config import RunConfig
from . import config, datasets, engine, experiment, problems, rates, schedules, strategies

__all__ = [
    "SGDM",
    "Plan",
    "RunConfig",
    "SgdmError",
    "get_num_threads",
    "set_num_threads",
    "__version__",
    "config",
    "datasets",
    "engine",
    "experiment",
    "problems",
    "rates",
    "schedules",
    "strategies",
]
