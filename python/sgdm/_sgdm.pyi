"""Type stubs of the private native module ``sgdm._sgdm`` (built from ``rust/sgdm-py``)."""

from typing import Sequence

import numpy as np

__version__: str

class SgdmError(ValueError):
    """A setting, array or schedule that sgdm cannot use; the message names the argument."""

def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...

class FusedStep:
    def __init__(
        self,
        momentum: float,
        variant: str,
        nesterov: bool,
        weight_decay: float,
        check_finite: bool,
    ) -> None: ...
    def step(
        self,
        params: list[np.ndarray],
        grads: Sequence[np.ndarray],
        momenta: list[np.ndarray],
        lr: float,
    ) -> None: ...
