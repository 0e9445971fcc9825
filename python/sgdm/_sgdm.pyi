"""Type stubs of the private native module ``sgdm._sgdm`` (built from ``rust/sgdm-py``).

Checked against the built module by ``tests/test_stubs.py`` (``mypy.stubtest``).
"""

from typing import Any, Sequence, final

import numpy as np
from typing_extensions import Self

__all__ = [
    "SgdmError",
    "__version__",
    "get_num_threads",
    "set_num_threads",
    "FusedStep",
    "LrSchedule",
    "BatchSchedule",
    "build_plan",
    "plan_epoch_of_step",
    "plan_batch_size_of_step",
    "plan_running_sums",
]
__version__: str

class SgdmError(ValueError):
    """A setting, array or schedule that sgdm cannot use; the message names the argument."""

def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...
@final
class FusedStep:
    """A fused SGDM update with fixed hyperparameters; ``step`` takes the learning rate."""

    def __new__(
        cls,
        momentum: float,
        variant: str,
        nesterov: bool,
        weight_decay: float,
        check_finite: bool,
    ) -> Self: ...
    def step(
        self,
        params: list[np.ndarray],
        grads: Sequence[np.ndarray],
        momenta: list[np.ndarray],
        lr: float,
    ) -> None: ...

# --- schedules and the run plan (rust/sgdm-py/src/schedule.rs) ---

@final
class LrSchedule:
    """A learning-rate schedule built from its spec dict (see ``sgdm.schedules``)."""

    def __new__(cls, spec: dict[str, Any]) -> Self: ...
    @property
    def kind(self) -> str: ...
    @property
    def uses_step(self) -> bool: ...
    @property
    def uses_epoch(self) -> bool: ...
    def check_ready(self) -> None: ...
    def value(self, step: int, epoch: int) -> float: ...
    def values(self, steps: np.ndarray, epochs: np.ndarray) -> np.ndarray: ...

@final
class BatchSchedule:
    """A batch-size schedule built from its spec dict (see ``sgdm.schedules``)."""

    def __new__(cls, spec: dict[str, Any]) -> Self: ...
    @property
    def kind(self) -> str: ...
    def check_ready(self) -> None: ...
    def size(self, epoch: int) -> int: ...
    def sizes(self, epochs: np.ndarray) -> np.ndarray: ...

def build_plan(n_samples: int, epochs: int, batch: BatchSchedule, lr: LrSchedule) -> dict[str, Any]: ...
def plan_epoch_of_step(steps_per_epoch: np.ndarray) -> np.ndarray: ...
def plan_batch_size_of_step(
    n_samples: int, batch_sizes: np.ndarray, steps_per_epoch: np.ndarray
) -> np.ndarray: ...
def plan_running_sums(
    learning_rates: np.ndarray, batch_size_of_step: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
