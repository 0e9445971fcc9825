"""The pure-NumPy reference of the SGDM update: slow, obviously right, the oracle of every test.

It computes exactly what the Rust kernel computes, in the same order and in the tensor's own
dtype (every scalar is rounded to that dtype first, every operation is one IEEE rounding, no
fused multiply-add), so the two agree bit for bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgdm_step"]


def sgdm_step(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray,
    lr: float,
    momentum: float,
    variant: str = "shb",
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> None:
    r"""One SGDM update of one tensor, in place.

    .. math::

        d   &= g + \lambda\,\theta            \quad(\text{only if } \lambda \ne 0)\\
        m   &\leftarrow \beta m + s\,d        \quad(s = 1 \text{ for SHB},\ s = 1-\beta \text{ for NSHB})\\
        u   &= d + \beta m \text{ (Nesterov) or } m\\
        \theta &\leftarrow \theta - \eta\,u
    """
    t = param.dtype.type
    # Skipped when λ rounds to 0 in the tensor's dtype (1e-50 in float32), as the kernel does:
    # 0·θ is not a no-op for θ = ±Inf or NaN.
    d = grad + t(weight_decay) * param if t(weight_decay) != 0 else grad
    scale = t(1.0) if variant == "shb" else t(1.0 - momentum)
    momentum_buffer[...] = t(momentum) * momentum_buffer + scale * d
    update = d + t(momentum) * momentum_buffer if nesterov else momentum_buffer
    param[...] = param - t(lr) * update
