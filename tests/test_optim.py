"""SGDM: the fused Rust kernel against the NumPy reference and the formulas of PAPER.md §2."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sgdm
from sgdm.reference import sgdm_step

from conftest import VARIANTS


def _random_arrays(rng, shapes, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _train(backend, params, grad_seq, lrs, **kw):
    opt = sgdm.SGDM(params, lr=0.1, backend=backend, **kw)
    for grads, lr in zip(grad_seq, lrs):
        opt.step(grads, lr=lr)
    return opt


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
    shapes=st.lists(
        st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4
    ),
    config=st.sampled_from(VARIANTS),
    momentum=st.sampled_from([0.0, 0.5, 0.87, 0.9, 0.99]),
    steps=st.integers(1, 5),
)
def test_rust_equals_numpy_reference_bit_for_bit(seed, dtype, shapes, config, momentum, steps):
    rng = np.random.default_rng(seed)
    start = _random_arrays(rng, shapes, dtype)
    grad_seq = [_random_arrays(rng, shapes, dtype) for _ in range(steps)]
    lrs = rng.uniform(0.0, 0.5, size=steps)
    out = {}
    for backend in ("rust", "numpy"):
        params = [p.copy() for p in start]
        opt = _train(backend, params, grad_seq, lrs, momentum=momentum, **config)
        out[backend] = params, opt.momentum_buffers
    for a, b in zip(out["rust"][0] + out["rust"][1], out["numpy"][0] + out["numpy"][1]):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("n", [1, 1000, (1 << 20) + 7, 1 << 21])
@pytest.mark.parametrize("threads", [1, 2])
def test_large_arrays_match_reference_whatever_the_thread_count(n, threads, rng):
    # Covers the multi-threaded path (above the parallel threshold) and chunk remainders.
    before = sgdm.get_num_threads()
    sgdm.set_num_threads(threads)
    try:
        p = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        p_ref, m_ref = p.copy(), np.zeros_like(p)
        opt = sgdm.SGDM([p], lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
        for _ in range(2):
            opt.step([g])
            sgdm_step(p_ref, g, m_ref, 0.05, 0.9, "shb", True, 1e-4)
        np.testing.assert_array_equal(p, p_ref)
        np.testing.assert_array_equal(opt.momentum_buffers[0], m_ref)
    finally:
        sgdm.set_num_threads(before)


def _variant_id(config):
    wd = f"-wd{config['weight_decay']:g}" if config["weight_decay"] else ""
    return config["variant"] + ("-nesterov" if config["nesterov"] else "") + wd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", VARIANTS, ids=_variant_id)
def test_every_variant_equals_the_paper_recursion(backend, config, dtype):
    # PAPER §2 written out, with η_t changing every step (it stays outside the buffer). NumPy
    # rounds each Python scalar to the arrays' dtype, so the float32 run is the recursion in
    # float32, operation for operation.
    beta, wd = 0.9, config["weight_decay"]
    theta = np.array([1.0, -2.0, 0.5], dtype)
    m = np.zeros(3, dtype)
    grads = [np.array(g, dtype) for g in ([0.5, 1.0, -3.0], [-1.0, 0.25, 2.0], [2.0, 2.0, 0.0], [0.1, -0.7, 1.5])]
    lrs = [0.1, 0.2, 0.05, 0.3]
    params = [theta.copy()]
    _train(backend, params, [[g] for g in grads], lrs, momentum=beta, **config)
    for g, lr in zip(grads, lrs):
        d = g + wd * theta if wd else g
        m = beta * m + (d if config["variant"] == "shb" else (1 - beta) * d)
        theta = theta - lr * (d + beta * m if config["nesterov"] else m)
    assert params[0].dtype == dtype
    np.testing.assert_array_equal(params[0], theta)


def test_first_step_is_plain_sgd(backend):
    # m_{-1} = 0 and no bias correction: θ_1 = θ_0 − η g_0 for SHB, θ_0 − η(1−β) g_0 for NSHB.
    for variant, scale in (("shb", 1.0), ("nshb", 1.0 - 0.75)):
        p = np.array([1.0, 2.0])
        sgdm.SGDM([p], lr=0.5, momentum=0.75, variant=variant, backend=backend).step(
            [np.array([1.0, -1.0])]
        )
        np.testing.assert_array_equal(p, [1.0 - 0.5 * scale, 2.0 + 0.5 * scale])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nshb_equals_shb_with_scaled_learning_rate(backend, dtype, rng):
    # PAPER §2: NSHB with η equals SHB with (1−β)η. With β = 0.75 and dyadic η every
    # coefficient is exact, so the identity holds bit for bit.
    beta = 0.75
    start = rng.standard_normal((3, 4)).astype(dtype)
    grads = [[rng.standard_normal((3, 4)).astype(dtype)] for _ in range(6)]
    lrs = [0.5, 0.25, 0.125, 0.5, 1.0, 0.0625]
    a, b = [start.copy()], [start.copy()]
    _train(backend, a, grads, lrs, momentum=beta, variant="nshb")
    _train(backend, b, grads, [(1 - beta) * lr for lr in lrs], momentum=beta, variant="shb")
    np.testing.assert_array_equal(a[0], b[0])


def _pytorch_sgd(theta, grads, lrs, momentum, dampening):
    """``torch.optim.SGD``'s documented update (no weight decay, no Nesterov): the first step
    sets the buffer to the raw gradient, later ones b ← μ b + (1 − τ) g; θ ← θ − γ b."""
    b = None
    for g, lr in zip(grads, lrs):
        b = g.copy() if b is None else momentum * b + (1 - dampening) * g
        theta = theta - lr * b
    return theta


def test_shb_is_pytorch_sgd_and_nshb_is_not_its_dampening(backend, rng):
    # PAPER §2: SHB equals SGD(momentum=β, dampening=0); dampening=β is not NSHB, because
    # PyTorch's first buffer is g_0, not (1−β) g_0. The buffers then differ by β^(t+1) g_0 at
    # step t, so PyTorch's θ is NSHB's minus Σ_t η_t β^(t+1) g_0.
    beta = 0.9
    start = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    lrs = [0.1, 0.3, 0.2, 0.05, 0.1, 0.4]
    shb, nshb = [start.copy()], [start.copy()]
    _train(backend, shb, [[g] for g in grads], lrs, momentum=beta, variant="shb")
    _train(backend, nshb, [[g] for g in grads], lrs, momentum=beta, variant="nshb")
    np.testing.assert_array_equal(shb[0], _pytorch_sgd(start, grads, lrs, beta, 0.0))
    damped = _pytorch_sgd(start, grads, lrs, beta, beta)
    assert not np.allclose(nshb[0], damped, rtol=1e-3, atol=0)
    gap = sum(lr * beta ** (t + 1) for t, lr in enumerate(lrs)) * grads[0]
    np.testing.assert_allclose(nshb[0] - gap, damped, rtol=1e-13, atol=1e-15)


def test_momentum_zero_is_plain_sgd(backend, rng):
    p = rng.standard_normal(10)
    expected = p.copy()
    opt = sgdm.SGDM([p], lr=0.3, momentum=0.0, backend=backend)
    for _ in range(3):
        g = rng.standard_normal(10)
        opt.step([g])
        expected = expected - 0.3 * g
    np.testing.assert_array_equal(p, expected)


def test_mixed_dtypes_across_tensors(backend, rng):
    p32, p64 = rng.standard_normal(5).astype(np.float32), rng.standard_normal(7)
    r32, r64 = p32.copy(), p64.copy()
    g32, g64 = rng.standard_normal(5).astype(np.float32), rng.standard_normal(7)
    sgdm.SGDM([p32, p64], lr=0.1, backend=backend).step([g32, g64])
    sgdm_step(r32, g32, np.zeros(5, np.float32), 0.1, 0.9)
    sgdm_step(r64, g64, np.zeros(7), 0.1, 0.9)
    np.testing.assert_array_equal(p32, r32)
    np.testing.assert_array_equal(p64, r64)


def test_update_is_in_place_on_the_callers_arrays(backend, rng):
    params = [rng.standard_normal((2, 3)), np.asfortranarray(rng.standard_normal((4, 5)))]
    ids = [id(p) for p in params]
    before = [p.copy() for p in params]
    grads = [np.ones((2, 3)), np.asfortranarray(np.ones((4, 5)))]
    opt = sgdm.SGDM(params, lr=0.1, backend=backend)
    opt.step(grads)
    assert [id(p) for p in opt.params] == ids
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b - 0.1)


def test_zero_size_parameters_are_a_no_op(backend):
    p = [np.zeros((0, 3), np.float32), np.ones(2, np.float32)]
    sgdm.SGDM(p, lr=1.0, backend=backend).step([np.zeros((0, 3), np.float32), np.ones(2, np.float32)])
    np.testing.assert_array_equal(p[1], [0.0, 0.0])


def test_lr_override_and_default(backend):
    p = np.zeros(1)
    opt = sgdm.SGDM([p], lr=1.0, momentum=0.0, backend=backend)
    opt.step([np.ones(1)], lr=0.25)
    opt.step([np.ones(1)])
    assert p[0] == -1.25 and opt.step_count == 2


def test_state_dict_round_trip_continues_bit_identically(backend, rng):
    shapes = [(4, 3), (3,)]
    grads = [_random_arrays(rng, shapes, np.float32) for _ in range(8)]
    start = _random_arrays(rng, shapes, np.float32)

    straight = [p.copy() for p in start]
    opt = sgdm.SGDM(straight, lr=0.1, momentum=0.9, variant="nshb", backend=backend)
    for g in grads:
        opt.step(g)

    resumed = [p.copy() for p in start]
    first = sgdm.SGDM(resumed, lr=0.1, momentum=0.9, variant="nshb", backend=backend)
    for g in grads[:5]:
        first.step(g)
    state = first.state_dict()
    state["momentum_buffers"][0][...] += 0  # a copy: mutating it must not touch the optimizer
    # A fresh optimizer with other settings over the same arrays, restored from the state.
    second = sgdm.SGDM(resumed, lr=9.0, momentum=0.1, backend=backend)
    second.load_state_dict(state)
    assert second.step_count == 5 and second.variant == "nshb" and second.lr == 0.1
    for g in grads[5:]:
        second.step(g)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    assert second.step_count == 8


def test_state_dict_is_a_copy(rng):
    p = [rng.standard_normal(3)]
    opt = sgdm.SGDM(p, lr=0.1)
    opt.step([np.ones(3)])
    state = opt.state_dict()
    state["momentum_buffers"][0][...] = 123.0
    assert not np.any(opt.momentum_buffers[0] == 123.0)


def test_thread_count_is_configurable():
    before = sgdm.get_num_threads()
    try:
        sgdm.set_num_threads(1)
        assert sgdm.get_num_threads() == 1
    finally:
        sgdm.set_num_threads(before)
    with pytest.raises(sgdm.SgdmError, match="threads"):
        sgdm.set_num_threads(0)


def test_error_type_has_its_public_module_path():
    assert sgdm.SgdmError.__module__ == "sgdm"
    assert issubclass(sgdm.SgdmError, ValueError)
