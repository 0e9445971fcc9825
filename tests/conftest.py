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
