"""The host emulation of CuPy (tests/hostcupy.py) that runs sgdm's GPU path in CI.

Its value rests on three properties, each tested here: the CUDA source of a kernel really runs
(every thread of every block, one IEEE rounding per intrinsic), the device/host boundary is as
strict as CuPy's (a NumPy array where a device array belongs is an error), and everything sgdm
calls through it exists in real CuPy with the keywords used (checked where CuPy is importable:
``pip install cupy-cuda12x`` works without a GPU).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import hostcupy

pytestmark = pytest.mark.skipif(hostcupy.compiler() is None, reason="needs a C++ compiler")

AXPY = r"""
extern "C" __global__ void axpy(float* __restrict__ y, const float* __restrict__ x, const float a,
                                const long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __fadd_rn(y[i], __fmul_rn(a, x[i]));
}
"""


@pytest.fixture
def hc():
    with hostcupy.installed() as module:
        yield module


def test_raw_kernel_runs_every_thread_of_every_block(hc, rng):
    n = 1000  # not a multiple of the block: the last block's tail threads must do nothing
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    dx, dy = hc.asarray(x), hc.asarray(y)
    kernel = hc.RawKernel(AXPY, "axpy")
    kernel(((n + 127) // 128,), (128,), (dy, dx, np.float32(0.3), np.int64(n)))
    expected = y + np.float32(0.3) * x  # two roundings, in float32
    assert dy.get().tobytes() == expected.tobytes()
    kernel((2,), (128,), (dy, dx, np.float32(1.0), np.int64(n)))  # a grid too small: a part only
    assert dy.get()[:256].tobytes() == (expected + x)[:256].tobytes()
    assert dy.get()[256:].tobytes() == expected[256:].tobytes()


def test_intrinsics_round_once_each_and_never_fuse(hc):
    # a*b + c where one fused rounding differs from two: a = b = 1 + 2^-12, c = -(1 + 2^-11)
    a = np.array([1 + 2.0**-12], dtype=np.float32)
    c = np.array([-(1 + 2.0**-11)], dtype=np.float32)
    source = r"""extern "C" __global__ void f(float* out, const float* a, const float* c) {
        out[0] = __fadd_rn(__fmul_rn(a[0], a[0]), c[0]);
        out[1] = a[0] * a[0] + c[0];  // plain operators: no contraction either (-ffp-contract=off)
    }"""
    out = hc.zeros(2, dtype=np.float32)
    hc.RawKernel(source, "f")((1,), (1,), (out, hc.asarray(a), hc.asarray(c)))
    two_roundings = (a * a + c)[0]
    fused = np.float32(np.float64(a[0]) * np.float64(a[0]) + np.float64(c[0]))
    assert two_roundings != fused  # the case does separate the two
    assert out.get().tolist() == [two_roundings, two_roundings]


def test_kernels_with_shared_state_between_threads_are_refused(hc):
    with pytest.raises(NotImplementedError, match="__syncthreads"):
        hc.RawKernel('extern "C" __global__ void k(float* x) { __syncthreads(); }', "k")
    with pytest.raises(NotImplementedError, match="atomicAdd"):
        hc.ElementwiseKernel("T x", "T y", "atomicAdd(&y, x);", "k")


def test_raw_kernel_arguments_are_checked(hc):
    kernel = hc.RawKernel(AXPY, "axpy")
    y = hc.zeros(4, dtype=np.float32)
    with pytest.raises(TypeError, match="takes 4 arguments, got 3"):
        kernel((1,), (4,), (y, y, np.float32(1)))
    with pytest.raises(TypeError, match="argument 1 is a numpy.ndarray"):
        kernel((1,), (4,), (y, np.zeros(4, np.float32), np.float32(1), np.int64(4)))
    with pytest.raises(TypeError, match="argument 2 is a float"):
        kernel((1,), (4,), (y, y, 1.0, np.int64(4)))
    with pytest.raises(ValueError, match="no extern \"C\" __global__ kernel named 'nope'"):
        hc.RawKernel(AXPY, "nope")((1,), (1,), ())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_kernel_binds_the_type_placeholder(hc, dtype, rng):
    kernel = hc.ElementwiseKernel("T x, T a", "T y", "y = y + a * x;", "ax", no_return=True)
    x = rng.standard_normal((3, 5)).astype(dtype)
    y = rng.standard_normal((3, 5)).astype(dtype)
    dy = hc.asarray(y)
    assert kernel(hc.asarray(x), 0.25, dy) is None
    assert dy.get().tobytes() == (y + dtype(0.25) * x).tobytes()  # 0.25 cast to T first
    with pytest.raises(TypeError, match="bound to"):
        kernel(hc.asarray(x.astype(np.float32 if dtype == np.float64 else np.float64)), 1.0, dy)
    with pytest.raises(NotImplementedError, match="same-shape"):
        kernel(hc.asarray(x[:, :2]), 1.0, dy)
    returning = hc.ElementwiseKernel("T x", "T y", "y = x + x;", "double_it")
    assert returning(hc.asarray(x), dy) is dy


def test_the_device_boundary_is_as_strict_as_cupys(hc):
    host = np.arange(4.0)
    dev = hc.asarray(host)
    host[0] = 99.0  # asarray from the host is a copy, as a transfer must be
    assert dev.get()[0] == 0.0
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(dev)
    with pytest.raises(TypeError):
        dev + host  # a host array in a device expression
    with pytest.raises(TypeError):
        host + dev
    with pytest.raises(TypeError, match="move it with cupy.asarray"):
        hc.dot(dev, host)
    with pytest.raises(TypeError, match="move it with cupy.asarray"):
        dev[...] = host
    assert isinstance(np.float64(2.0) * dev, hc.ndarray)  # NumPy scalars are fine, as in CuPy
    assert isinstance(np.sum(dev), hc.ndarray)  # NumPy functions dispatch to CuPy's
    assert not isinstance(dev, np.ndarray)
    assert hc.asarray(dev) is dev and hc.ascontiguousarray(dev) is dev
    out = hc.empty(4)
    assert hc.multiply(dev, 2.0, out=out) is out  # out is handed back, as in CuPy
    got = dev.get()
    got[1] = -1.0
    assert dev.get()[1] == 1.0  # get() is a copy
    assert isinstance(dev.sum(), hc.ndarray) and dev.sum().shape == ()  # 0-d, not a scalar


def test_set_checks_dtype_and_shape_as_cupy_does(hc):
    dev = hc.zeros(3, dtype=np.float32)
    dev.set(np.ones(3, np.float32))
    assert dev.get().tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="float64 array cannot be set to float32"):
        dev.set(np.ones(3))
    with pytest.raises(ValueError, match="Shape mismatch"):
        dev.set(np.ones(4, np.float32))


def test_installed_puts_back_what_was_there():
    before = sys.modules.get("cupy", "absent")
    with hostcupy.installed() as module:
        assert sys.modules["cupy"] is module
        import cupy

        assert cupy is module
    assert sys.modules.get("cupy", "absent") is before


# -- fidelity to real CuPy ---------------------------------------------------------------------
def _parameter_names(obj) -> set[str] | None:
    """Parameter names of a CuPy callable: from ``inspect`` or, for Cython functions, from the
    first line of the docstring (``name(a, b, out=None, *, dtype=None)``). ``None``: unknown,
    or the callable takes ``**kwargs``."""
    try:
        params = inspect.signature(obj).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params}
    except (TypeError, ValueError):
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        match = re.match(r"^[\w.]+\((.*)\)", doc[0]) if doc else None
        if match is None:
            return None
        names = set()
        for part in match.group(1).split(","):
            name = part.split("=")[0].strip().lstrip("*\\").strip()
            if part.strip().startswith("**"):
                return None
            if name and name != "/":
                names.add(name)
        return names


def _run_gpu_path():
    """The whole GPU path of sgdm once, under the emulator, small (records what it calls)."""
    from sgdm import SGDM, datasets, engine, gpu, problems, strategies

    hostcupy.CALLS.clear()
    with hostcupy.installed() as cp:
        three, two = (datasets.load_dataset("synthetic", seed=0, n_samples=120, n_features=5, n_classes=k)
                      for k in (3, 2))
        plan = strategies.get("warmup", epochs=3, init_bs=16).plan(three.n_train)
        for prob, data in ((problems.LogisticRegression(5, 3, l2=1e-3), three),
                           (problems.LogisticRegression(5, 2), two),  # the binary (sigmoid) path
                           (problems.MLP(5, 3, hidden=(4,), l2=1e-3), three)):
            engine.train(prob, data, plan, seed=0, backend="cupy")
        p = cp.zeros(5, dtype=np.float32)
        opt = SGDM([p], lr=0.1, momentum=0.9, weight_decay=1e-4, check_finite=True)
        opt.step([cp.ones(5, dtype=np.float32)])
        opt.load_state_dict(opt.state_dict())
        gpu.fused_step(p, cp.ones(5, dtype=np.float32), opt.momentum_buffers[0], 0.1, 0.9)
    return set(hostcupy.CALLS)


def test_gpu_path_runs_under_the_emulator_and_records_its_calls():
    calls = _run_gpu_path()
    names = {name for name, _ in calls}
    # the engine's gather, the problems' algebra, the optimizer's checks and buffers
    assert {"take", "dot", "exp", "tanh", "logaddexp", "isfinite", "zeros_like", "asarray"} <= names


def test_every_call_exists_in_real_cupy_with_those_keywords():
    calls = _run_gpu_path()
    sys.modules.pop("cupy", None)  # the real one now, if installed
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install cupy-cuda12x; no GPU needed)")
    unknown = []
    for name, keywords in sorted(calls):
        owner, _, attr = name.rpartition(".")
        if owner not in ("", "ndarray"):
            continue  # ufunc methods (np.add.reduce): named by NumPy, not a CuPy attribute
        obj = getattr(cupy.ndarray if owner else cupy, attr, None)
        if obj is None:
            unknown.append(f"cupy.{name} does not exist")
            continue
        params = _parameter_names(obj)
        if params is not None and not set(keywords) <= params:
            unknown.append(f"cupy.{name} has no keyword {sorted(set(keywords) - params)}")
    for attr in ("RawKernel", "ElementwiseKernel", "asnumpy", "get_default_memory_pool"):
        if not hasattr(cupy, attr):
            unknown.append(f"cupy.{attr} does not exist")
    for attr in ("Device", "Stream", "Event", "get_current_stream", "get_elapsed_time"):
        if not hasattr(cupy.cuda, attr):
            unknown.append(f"cupy.cuda.{attr} does not exist")
    for attr in vars(hostcupy.cuda.runtime):
        if not hasattr(cupy.cuda.runtime, attr):
            unknown.append(f"cupy.cuda.runtime.{attr} does not exist")
    for attr in vars(hostcupy.random):
        if not hasattr(cupy.random, attr):
            unknown.append(f"cupy.random.{attr} does not exist")
    for attr in dir(hostcupy.ndarray):
        if not attr.startswith("_") and not hasattr(cupy.ndarray, attr):
            unknown.append(f"cupy.ndarray.{attr} does not exist")
    assert not unknown, "\n".join(unknown)


def test_gpu_benchmark_runs_end_to_end_under_the_emulator(tmp_path, monkeypatch):
    """bench_gpu.py gets one try on a lent GPU: every part of it must at least run."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benches"))
    bench = importlib.import_module("bench_gpu")
    out = tmp_path / "bench.json"
    with hostcupy.installed():
        assert bench.main(["--smoke", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["cupy"] == hostcupy.__version__
    assert [r["n"] for r in result["fused"]] == [10**4, 3 * 10**4]
    assert [(r["block"], r["items"]) for r in result["geometries"]] == bench.GEOMETRIES
    assert sum(r["default"] for r in result["geometries"]) == 1
    assert [r["batch_size"] for r in result["mlp"]] == [8, 512]
    assert all(r["rust"] > 0 and r["cupy"] > 0 for r in result["mlp"])
