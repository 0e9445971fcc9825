"""Bad input at the native boundary: a clear Python exception naming the argument, never a crash,
never a partial update."""

import numpy as np
import pytest

import sgdm


def _opt(backend, params=None, **kw):
    params = params if params is not None else [np.zeros(3), np.zeros((2, 2))]
    return sgdm.SGDM(params, lr=0.1, backend=backend, **kw), params


def _good_grads():
    return [np.ones(3), np.ones((2, 2))]


def _unaligned(n, dtype=np.float64):
    """n elements of ``dtype`` starting one byte into a buffer: valid NumPy, not aligned."""
    item = np.dtype(dtype).itemsize
    a = np.zeros(n * item + 1, np.uint8)[1:].view(dtype)
    assert not a.flags.aligned
    return a


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ([], sgdm.SgdmError, "params is empty"),
        ([np.zeros(3, np.int64)], TypeError, r"params\[0\] has dtype int64"),
        ([np.zeros(3, np.float16)], TypeError, r"params\[0\] has dtype float16"),
        ([np.zeros(3, np.complex128)], TypeError, r"params\[0\] has dtype complex128"),
        ([np.zeros(3), [1.0, 2.0]], TypeError, r"params\[1\] must be a numpy.ndarray"),
        ([np.zeros((4, 4))[:, 1]], sgdm.SgdmError, r"params\[0\] is not contiguous"),
        ([np.zeros(2), _unaligned(3, np.float32)], sgdm.SgdmError, r"params\[1\] is not aligned"),
        (None, TypeError, "params must be a list"),
    ],
)
def test_bad_params_are_refused(backend, params, exc, match):
    with pytest.raises(exc, match=match):
        sgdm.SGDM(params, lr=0.1, backend=backend)


def test_read_only_param_is_refused(backend):
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(sgdm.SgdmError, match=r"params\[0\] is read-only"):
        sgdm.SGDM([p], lr=0.1, backend=backend)


def test_same_array_twice_is_aliasing(backend):
    p = np.zeros(4)
    with pytest.raises(sgdm.SgdmError, match="aliasing"):
        sgdm.SGDM([p, p], lr=0.1, backend=backend)
    with pytest.raises(sgdm.SgdmError, match="aliasing"):
        sgdm.SGDM([p[:2], p[1:]], lr=0.1, backend=backend)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-0.1), "lr = -0.1"),
        (dict(lr=float("nan")), "lr = nan"),
        (dict(lr=float("inf")), "lr = inf"),
        (dict(momentum=1.0), "momentum = 1.0"),
        (dict(momentum=-0.5), "momentum = -0.5"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(variant="adam"), "variant = 'adam'"),
        (dict(variant="nshb", nesterov=True), "nesterov"),
        (dict(backend="gpu"), "backend = 'gpu'"),
    ],
)
def test_bad_hyperparameters_are_refused(backend, kwargs, match):
    kwargs = {"lr": 0.1, **kwargs}
    with pytest.raises(sgdm.SgdmError, match=match):
        sgdm.SGDM([np.zeros(2)], backend=kwargs.pop("backend", backend), **kwargs)


def _bad_grads():
    good = _good_grads()
    return [
        ("not a list", np.ones(3), TypeError, "grads must be a list or tuple"),
        ("too few", good[:1], sgdm.SgdmError, "grads has 1 arrays but there are 2"),
        ("too many", good + [np.ones(1)], sgdm.SgdmError, "grads has 3 arrays"),
        ("empty", [], sgdm.SgdmError, "grads has 0 arrays"),
        ("not an array", [[1.0, 1.0, 1.0], good[1]], TypeError, r"grads\[0\] must be a numpy.ndarray"),
        ("int dtype", [np.ones(3, np.int32), good[1]], TypeError, r"grads\[0\] has dtype int32"),
        ("float32 grad for float64 param", [np.ones(3, np.float32), good[1]], TypeError,
         r"grads\[0\] has dtype float32, but params\[0\] has dtype float64"),
        ("wrong shape", [np.ones(3), np.ones((4,))], sgdm.SgdmError,
         r"grads\[1\] has shape \(4,\), but params\[1\] has shape \(2, 2\)"),
        ("non-contiguous", [np.ones(6)[::2], good[1]], sgdm.SgdmError, r"grads\[0\] is not contiguous"),
        ("unaligned", [_unaligned(3), good[1]], sgdm.SgdmError, r"grads\[0\] is not aligned"),
        ("other memory order", [good[0], np.asfortranarray(np.arange(4.0).reshape(2, 2))],
         sgdm.SgdmError, r"grads\[1\] has strides"),
    ]


@pytest.mark.parametrize("case", _bad_grads(), ids=lambda c: c[0])
def test_bad_grads_are_refused_and_nothing_is_written(backend, case):
    _, grads, exc, match = case
    opt, params = _opt(backend)
    opt.step(_good_grads())
    before = [p.copy() for p in params] + [m.copy() for m in opt.momentum_buffers]
    with pytest.raises(exc, match=match):
        opt.step(grads)
    after = params + opt.momentum_buffers
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert opt.step_count == 1


def test_grad_aliasing_a_parameter_is_refused(backend):
    opt, params = _opt(backend)
    with pytest.raises(sgdm.SgdmError, match="aliasing"):
        opt.step([params[0], np.ones((2, 2))])


@pytest.mark.parametrize("lr", [-1.0, float("nan"), float("inf")])
def test_bad_step_lr_is_refused(backend, lr):
    opt, params = _opt(backend)
    with pytest.raises(sgdm.SgdmError, match="lr ="):
        opt.step(_good_grads(), lr=lr)
    np.testing.assert_array_equal(params[0], 0.0)


def test_param_made_read_only_after_construction_is_refused(backend):
    opt, params = _opt(backend)
    params[1].flags.writeable = False
    with pytest.raises(sgdm.SgdmError, match="read-only"):
        opt.step(_good_grads())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradients_policy(backend, bad):
    # Default: propagate (like NumPy / PyTorch); the caller sees it in the parameters.
    opt, params = _opt(backend)
    g = _good_grads()
    g[1][0, 1] = bad
    opt.step(g)
    assert not np.isfinite(params[1][0, 1]) and np.isfinite(params[0]).all()
    # check_finite=True: refused before anything is written, naming the gradient.
    opt, params = _opt(backend, check_finite=True)
    with pytest.raises(sgdm.SgdmError, match=r"grads\[1\] contains NaN or Inf"):
        opt.step(g)
    for p in params:
        np.testing.assert_array_equal(p, 0.0)


def test_load_state_dict_refuses_mismatched_state(backend):
    opt, _ = _opt(backend)
    state = opt.state_dict()
    with pytest.raises(sgdm.SgdmError, match="format"):
        opt.load_state_dict({"momentum_buffers": []})
    bad = dict(state, momentum_buffers=state["momentum_buffers"][:1])
    with pytest.raises(sgdm.SgdmError, match="1 momentum buffers"):
        opt.load_state_dict(bad)
    bad = dict(state, momentum_buffers=[np.zeros(3, np.float32), np.zeros((2, 2))])
    with pytest.raises(sgdm.SgdmError, match=r"momentum_buffers\[0\]"):
        opt.load_state_dict(bad)
    bad = dict(state, momentum=2.0)
    with pytest.raises(sgdm.SgdmError, match="momentum = 2.0"):
        opt.load_state_dict(bad)


def test_native_kernel_refuses_aliasing_directly():
    # The private kernel checks on its own too (rust-numpy borrow tracking), so a caller that
    # bypasses SGDM cannot make it write through aliased arrays.
    from sgdm._sgdm import FusedStep

    k = FusedStep(0.9, "shb", False, 0.0, False)
    p, m = np.zeros(3), np.zeros(3)
    with pytest.raises(sgdm.SgdmError, match="aliasing"):
        k.step([p], [np.ones(3)], [p], 0.1)
    with pytest.raises(sgdm.SgdmError, match="aliasing"):
        k.step([p], [p], [m], 0.1)
    with pytest.raises(TypeError, match=r"params\[0\]"):
        k.step([np.zeros(3, np.int8)], [np.ones(3)], [m], 0.1)


def _native_integer_calls():
    from sgdm import _sgdm

    lr = _sgdm.LrSchedule({"type": "constant", "value": 0.1})
    batch = _sgdm.BatchSchedule({"type": "constant", "size": 4})
    spe = np.array([3], dtype=np.int64)
    return {
        "step": lambda v: lr.value(v, 0),
        "epoch": lambda v: lr.value(0, v),
        "epoch (batch)": lambda v: batch.size(v),
        "n_samples": lambda v: _sgdm.build_plan(v, 1, batch, lr),
        "epochs": lambda v: _sgdm.build_plan(12, v, batch, lr),
        "n_samples (batch of step)": lambda v: _sgdm.plan_batch_size_of_step(v, np.array([4], np.int64), spe),
        "threads": lambda v: _sgdm.set_num_threads(v),
    }


@pytest.mark.parametrize("name", list(_native_integer_calls()))
def test_native_integer_arguments_refuse_bools(name):
    # bool is an int subclass: without the check True would silently become step 1 or 1 thread.
    call = _native_integer_calls()[name]
    threads = sgdm.get_num_threads()
    try:
        call(1 if name != "n_samples (batch of step)" else 12)  # the same value as an int is fine
        with pytest.raises(TypeError, match="expected an integer, got a bool") as info:
            call(True)
        argument = name.split(" ")[0]
        assert any(f"'{argument}'" in note for note in getattr(info.value, "__notes__", []))
    finally:
        sgdm.set_num_threads(threads)
