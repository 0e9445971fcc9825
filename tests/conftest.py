import os

# One BLAS thread, as the `sgdm` command and every worker process use (sgdm_cli/__init__.py,
# sgdm.executor): results computed in this process are then bit-identical to those of worker
# processes and Dask workers (a multi-threaded BLAS may sum in another order). Must precede
# the first import of NumPy.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pytest

BACKENDS = ("rust", "numpy")
VARIANTS = [
    dict(variant="shb", nesterov=False, weight_decay=0.0),
    dict(variant="nshb", nesterov=False, weight_decay=0.0),
    dict(variant="shb", nesterov=True, weight_decay=0.0),
    dict(variant="shb", nesterov=False, weight_decay=1e-3),
    dict(variant="nshb", nesterov=False, weight_decay=1e-3),
    dict(variant="shb", nesterov=True, weight_decay=5e-4),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
