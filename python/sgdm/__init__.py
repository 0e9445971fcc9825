"""sgdm: stochastic gradient descent with momentum under learning-rate and batch-size schedules.

A NumPy-native toolkit for the method of Kondo & Iiduka (arXiv 2508.03105): fused in-place SGDM
steps (SHB, NSHB, Nesterov, weight decay) implemented in Rust, with a pure-NumPy reference.
"""

from ._sgdm import SgdmError, __version__, get_num_threads, set_num_threads
from .optim import SGDM

__all__ = ["SGDM", "SgdmError", "get_num_threads", "set_num_threads", "__version__"]

from . import config, schedules, strategies
from .config import RunConfig
from .plan import Plan

__all__ += ["Plan", "RunConfig", "config", "schedules", "strategies"]
