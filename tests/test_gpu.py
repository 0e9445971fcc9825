"""The GPU backend (sgdm.gpu, backend="cupy").

Two halves:

- CPU checks, always run: ``import sgdm`` never imports CuPy; a missing CuPy or GPU gives the
  one-line message (library and CLI); the CUDA update statements, executed under NumPy, equal
  the reference bit for bit; the real kernel source compiles with NVRTC (when the library is
  present: no GPU needed) and its PTX has no fused multiply-add; the multi-tensor tile table
  covers every element once; mixing NumPy and CuPy arrays is refused (with a stand-in CuPy).
- GPU checks, through the ``cp`` fixture, each run twice: on real CuPy (skipped without CuPy and
  a CUDA device; the reason says which is missing) and on ``hostcupy`` (tests/hostcupy.py: the
  same CUDA source compiled and run on the CPU, the same Python GPU path): the kernels against
  the reference bit for bit, multi-tensor against per-tensor, validation messages, state_dict
  across devices, training histories and ``sgdm run --backend cupy`` against the CPU run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sgdm
from sgdm import _xp, gpu
from sgdm.reference import sgdm_step

import hostcupy
from conftest import VARIANTS

HAVE_GPU = gpu.cupy_available()
GPU_REASON = "needs CuPy and a CUDA GPU: " + (gpu._probe()[1] or "available")
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason=GPU_REASON)

CONFIGS = [(nes, wd) for nes in (False, True) for wd in (False, True)]


@pytest.fixture
def fake_cupy(monkeypatch):
    """A stand-in ``cupy`` module in ``sys.modules`` (its own ndarray class, a configurable
    device count), so the dispatch and messages can be tested on a machine without CuPy."""
    mod = types.ModuleType("cupy")
    mod.__version__ = "0.0-fake"

    class ndarray:  # noqa: N801 - mirrors cupy.ndarray
        def __init__(self, shape=(3,), dtype=np.float32):
            self.shape, self.dtype, self.size = shape, np.dtype(dtype), int(np.prod(shape))

    mod.ndarray = ndarray
    mod.device_count = 1
    runtime = types.SimpleNamespace(getDeviceCount=lambda: mod.device_count)
    mod.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    gpu._probe.cache_clear()
    gpu.cupy_kind.cache_clear()
    yield mod
    gpu._probe.cache_clear()
    gpu.cupy_kind.cache_clear()


@pytest.fixture
def no_cupy(monkeypatch):
    """CuPy made unimportable for the test."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    gpu._probe.cache_clear()
    gpu.cupy_kind.cache_clear()
    yield
    gpu._probe.cache_clear()
    gpu.cupy_kind.cache_clear()


# ---------------------------------------------------------------------------------------------
# Without a GPU
# ---------------------------------------------------------------------------------------------
def test_import_sgdm_never_imports_cupy():
    code = (
        "import sys, numpy as np, sgdm, sgdm.gpu, sgdm.engine\n"
        "from sgdm import problems, datasets, strategies, engine\n"
        "opt = sgdm.SGDM([np.zeros(3)], lr=0.1); opt.step([np.ones(3)])\n"
        "ds = datasets.load_dataset('synthetic', seed=0, n_samples=60, n_features=4, n_classes=3)\n"
        "p = problems.MLP(4, 3, hidden=(5,))\n"
        "engine.train(p, ds, strategies.get('baseline', epochs=2).plan(ds.n_train))\n"
        "assert 'cupy' not in sys.modules, sorted(m for m in sys.modules if 'cupy' in m)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_backend_cupy_without_cupy_is_one_clear_error(no_cupy):
    assert not gpu.cupy_available()
    with pytest.raises(sgdm.SgdmError) as err:
        sgdm.SGDM([np.zeros(3, np.float32)], lr=0.1, backend="cupy")
    msg = str(err.value)
    assert msg.startswith("backend='cupy' needs CuPy and a CUDA GPU: pip install 'sgdm[gpu]'")
    assert "cupy-cuda13x" in msg and "CuPy is not installed" in msg and "\n" not in msg
    with pytest.raises(sgdm.SgdmError, match="needs CuPy and a CUDA GPU"):
        gpu.require_cupy()


def test_backend_cupy_without_a_device_says_so(fake_cupy):
    fake_cupy.device_count = 0
    with pytest.raises(sgdm.SgdmError, match=r"CuPy 0\.0-fake is installed but no CUDA device"):
        sgdm.SGDM([np.zeros(3)], lr=0.1, backend="cupy")


def test_the_install_hint_names_extras_that_exist():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = re.findall(r"'sgdm\[([\w-]+)\]'", gpu.INSTALL_HINT)
    assert named == ["gpu", "gpu-cuda13"]
    assert extras["gpu"] == ["cupy-cuda12x>=13"] and extras["gpu-cuda13"] == ["cupy-cuda13x>=13"]
    cli_extras = tomllib.loads((root / "cli" / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert all(cli_extras[e] == [f"sgdm[{e}]"] for e in named)


def test_driver_error_is_reported_on_one_line(fake_cupy):
    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver:\nCUDA driver version is insufficient")

    fake_cupy.cuda.runtime.getDeviceCount = broken
    with pytest.raises(sgdm.SgdmError) as err:
        gpu.require_cupy()
    assert "cudaErrorInsufficientDriver: CUDA driver version" in str(err.value)
    assert "\n" not in str(err.value)


def test_engine_backend_cupy_without_cupy_fails_before_any_work(no_cupy):
    from sgdm import datasets, engine, problems, strategies

    ds = datasets.load_dataset("synthetic", seed=0, n_samples=50, n_features=3, n_classes=2)
    plan = strategies.get("baseline", epochs=1).plan(ds.n_train)
    with pytest.raises(sgdm.SgdmError, match="needs CuPy and a CUDA GPU"):
        engine.train(problems.LogisticRegression(3, 2), ds, plan, backend="cupy")


def test_cli_backend_cupy_without_cupy_exits_2_with_one_line(no_cupy):
    from typer.testing import CliRunner

    from sgdm_cli.app import app

    result = CliRunner().invoke(app, ["run", "--backend", "cupy", "--epochs", "2"])
    assert result.exit_code == 2
    text = result.output.strip()
    assert "Traceback" not in text
    assert text.startswith("error: --backend 'cupy' needs CuPy and a CUDA GPU")  # the option as typed
    assert "'sgdm[gpu]'" in text  # brackets survive the rich markup
    result = CliRunner().invoke(app, ["compare", "--backend", "cupy", "--epochs", "2"])
    assert result.exit_code == 2 and "needs CuPy and a CUDA GPU" in result.output


def test_mixing_numpy_and_cupy_params_names_the_index(fake_cupy):
    fake = fake_cupy.ndarray()
    with pytest.raises(TypeError, match=r"params\[1\] is a cupy\.ndarray but params\[0\] is a numpy"):
        sgdm.SGDM([np.zeros(3), fake], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[2\] is a numpy\.ndarray but params\[0\] is a cupy"):
        sgdm.SGDM([fake, fake_cupy.ndarray(), np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="backend='rust' runs on NumPy arrays"):
        sgdm.SGDM([fake], lr=0.1, backend="rust")
    with pytest.raises(TypeError, match=r"backend='cupy' needs CuPy arrays, but params\[0\]"):
        sgdm.SGDM([np.zeros(3)], lr=0.1, backend="cupy")
    with pytest.raises(TypeError, match="argument 1 is a cupy.ndarray but argument 0 is a numpy"):
        _xp.array_namespace(np.zeros(2), fake)


def test_auto_keeps_numpy_arrays_on_rust():
    assert sgdm.SGDM([np.zeros(3)], lr=0.1).backend == "rust"
    assert sgdm.SGDM((a for a in [np.zeros(3)]), lr=0.1).backend == "rust"  # a generator


# -- the namespace shim under NumPy ----------------------------------------------------------
def test_namespace_shim_under_numpy(rng):
    Z = rng.standard_normal((7, 5))
    assert _xp.array_namespace(Z, 1.0, None) is np and _xp.array_namespace() is np
    assert not _xp.is_cupy(Z) and not _xp.any_cupy([Z, 3])
    out = np.empty(5)
    _xp.column_max(np, Z, out)
    assert np.array_equal(out, Z.max(axis=0))
    assert _xp.total(np, Z[0]) == np.add.reduce(Z[0])
    a = _xp.asarray([[1, 2], [3, 4]], np, np.float32)
    assert a.dtype == np.float32 and a.flags.c_contiguous
    assert _xp.to_numpy(a) is a
    direct = np.log(np.exp(Z).sum(axis=1))
    np.testing.assert_allclose(_xp.logsumexp_rows(np, Z), direct, rtol=1e-14)
    big = Z + 1000.0  # the shift keeps it finite
    np.testing.assert_allclose(_xp.logsumexp_rows(np, big), direct + 1000.0, rtol=1e-14)
    assert _xp.to_host_floats(1, np.float32(2.5), 3.0) == (1.0, 2.5, 3.0)


def test_problems_results_do_not_depend_on_the_shim_entry_point(rng):
    # The public (host) and device entry points are the same computation on NumPy.
    from sgdm.problems import MLP, LogisticRegression

    for problem in (MLP(4, 3, hidden=(6, 5), l2=0.1), LogisticRegression(4, 2, l2=0.2),
                    LogisticRegression(4, 3)):
        X = rng.standard_normal((13, 4))
        y = rng.integers(0, problem.n_classes, size=13)
        params = [p + 0.3 * rng.standard_normal(p.shape) for p in problem.init_params(0)]
        g1, g2 = problem.zeros_like_params(params), problem.zeros_like_params(params)
        a = problem.loss_and_grad(params, X, y, g1)
        b = problem._unchecked_loss_and_grad(params, X, y, g2)
        assert type(a) is float and a == b
        for u, v in zip(g1, g2):
            assert u.tobytes() == v.tobytes()


# -- the CUDA source ---------------------------------------------------------------------------
@pytest.mark.parametrize("nesterov,wd", CONFIGS)
def test_update_statements_use_only_rounded_intrinsic_operations(nesterov, wd):
    for stmt in gpu.update_statements(nesterov, wd):
        rhs = stmt.split("=", 1)[1]
        assert not re.search(r"[-+*/]", rhs), f"bare arithmetic in {stmt!r}"
        calls = re.findall(r"([A-Za-z_]\w*)\(", rhs)
        assert set(calls) <= {"add_rn", "sub_rn", "mul_rn"}, stmt
    text = gpu.device_functions(nesterov, wd)
    for t, fns in {"float": ("__fadd_rn", "__fsub_rn", "__fmul_rn"),
                   "double": ("__dadd_rn", "__dsub_rn", "__dmul_rn")}.items():
        for name, fn in zip(("add_rn", "sub_rn", "mul_rn"), fns):
            assert f"{t} {name}({t} a, {t} b) {{ return {fn}(a, b); }}" in text
    code = re.sub(r"//[^\n]*", "", text)  # the comments do mention FMA
    assert "fma" not in code.lower()


def test_reference_order_is_the_kernels_order():
    # The statements, read as formulas, are the reference's (PAPER.md section 2).
    assert gpu.update_statements(True, True) == [
        "const T d = add_rn(g, mul_rn(wd, p));",                     # d = g + wd*p
        "const T m_new = add_rn(mul_rn(beta, m), mul_rn(scale, d));",  # m = beta*m + scale*d
        "const T u = add_rn(d, mul_rn(beta, m_new));",               # u = d + beta*m
        "m = m_new;",
        "p = sub_rn(p, mul_rn(lr, u));",                              # p = p - lr*u
    ]
    assert gpu.update_statements(False, False)[0] == "const T d = g;"  # no 0*p term
    assert gpu.update_statements(False, False)[2] == "const T u = m_new;"


def test_compile_options_forbid_contraction_and_fast_math():
    assert "--fmad=false" in gpu.COMPILE_OPTIONS
    joined = " ".join(gpu.COMPILE_OPTIONS)
    assert "fast_math" not in joined and "ftz=true" not in joined


def _edge_values(rng, n, dtype):
    info = np.finfo(dtype)
    pool = np.array([0.0, -0.0, info.tiny, -info.tiny, info.tiny / 4, info.eps, 1.0, -1.0,
                     info.max / 16, 1e3, -1e-3], dtype=dtype)
    x = rng.standard_normal(n).astype(dtype)
    x[: len(pool)] = pool[: min(n, len(pool))]
    return x


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(1, 300),
    config=st.sampled_from(VARIANTS),
    momentum=st.sampled_from([0.0, 0.5, 0.87, 0.9, 0.99]),
    lr=st.sampled_from([0.0, 1e-3, 0.1, 0.37, 2.0]),
    steps=st.integers(1, 4),
)
def test_cuda_statements_executed_under_numpy_equal_the_reference(
    seed, dtype, n, config, momentum, lr, steps
):
    rng = np.random.default_rng(seed)
    p = _edge_values(rng, n, dtype)
    m = np.zeros(n, dtype)
    p2, m2 = p.copy(), m.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # edge values overflow, on purpose
        for _ in range(steps):
            g = _edge_values(rng, n, dtype)[::-1].copy()
            sgdm_step(p, g, m, lr, momentum, **config)
            gpu.emulate_update(p2, g, m2, lr, momentum, **config)
    assert p.tobytes() == p2.tobytes() and m.tobytes() == m2.tobytes()


def test_weight_decay_that_underflows_is_skipped_as_in_the_reference():
    # λ = 1e-50 rounds to 0 in float32: the reference skips λθ, and so must the kernels, since
    # 0·Inf is NaN, not 0.
    p = np.array([np.inf, 1.0, -np.inf], np.float32)
    g = np.ones(3, np.float32)
    p2, m, m2 = p.copy(), np.zeros(3, np.float32), np.zeros(3, np.float32)
    sgdm_step(p, g, m, 0.1, 0.9, weight_decay=1e-50)
    gpu.emulate_update(p2, g, m2, 0.1, 0.9, weight_decay=1e-50)
    assert p.tobytes() == p2.tobytes() and m.tobytes() == m2.tobytes()
    assert not gpu._has_weight_decay(np.float32, 1e-50) and gpu._has_weight_decay(np.float64, 1e-50)


def test_tile_table_covers_every_element_once():
    sizes = [0, 1, gpu.TILE - 1, gpu.TILE, gpu.TILE + 1, 3 * gpu.TILE + 17, 0, 5]
    table = gpu.tile_table(sizes)
    assert table.dtype == np.int32 and table.shape[1] == 2
    seen = [np.zeros(n, dtype=int) for n in sizes]
    for tensor, tile in table.tolist():
        start = tile * gpu.TILE
        assert start < sizes[tensor]
        seen[tensor][start : min(start + gpu.TILE, sizes[tensor])] += 1
    assert all((s == 1).all() for s in seen)
    assert gpu.tile_table([]).shape == (0, 2)


def _emulate_multi_tensor(params, grads, momenta, lr, momentum, config):
    """The multi-tensor kernel's walk (tiles of tensors) in Python, with the CUDA statements."""
    table = gpu.tile_table([p.size for p in params])
    for tensor, tile in table.tolist():
        sl = slice(tile * gpu.TILE, (tile + 1) * gpu.TILE)
        p = params[tensor].reshape(-1)
        m = momenta[tensor].reshape(-1)
        g = grads[tensor].reshape(-1)
        pv, mv = p[sl].copy(), m[sl].copy()
        gpu.emulate_update(pv, g[sl], mv, lr, momentum, **config)
        p[sl], m[sl] = pv, mv


@pytest.mark.parametrize("config", VARIANTS)
def test_multi_tensor_walk_equals_per_tensor_reference(config, rng):
    shapes = [(3, 4), (0,), (gpu.TILE + 3,), (2, gpu.TILE), (1,), (5, 0, 2)]
    for dtype in (np.float32, np.float64):
        start = [rng.standard_normal(s).astype(dtype) for s in shapes]
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        ref_p, ref_m = [p.copy() for p in start], [np.zeros_like(p) for p in start]
        for p, g, m in zip(ref_p, grads, ref_m):
            sgdm_step(p, g, m, 0.05, 0.9, **config)
        p2, m2 = [p.copy() for p in start], [np.zeros_like(p) for p in start]
        _emulate_multi_tensor(p2, grads, m2, 0.05, 0.9, config)
        for a, b in zip(ref_p + ref_m, p2 + m2):
            assert a.tobytes() == b.tobytes()


def test_span_overlap_is_exact_for_contiguous_ranges():
    def arr(ptr, nbytes):
        return types.SimpleNamespace(size=nbytes // 4, nbytes=nbytes, data=types.SimpleNamespace(ptr=ptr))

    assert gpu._spans_overlap(arr(0, 16), arr(12, 16))
    assert not gpu._spans_overlap(arr(0, 16), arr(16, 16))  # adjacent
    assert not gpu._spans_overlap(arr(16, 16), arr(0, 16))
    assert gpu._spans_overlap(arr(4, 4), arr(0, 64))  # inside
    assert not gpu._spans_overlap(arr(4, 0), arr(0, 64))  # empty never overlaps


# -- the real source through NVRTC (no GPU needed) --------------------------------------------
_FLOAT_OP = re.compile(r"\b(fma|mad|mul|add|sub)((?:\.[a-z0-9]+)*)\.(f32|f64)\b")


def _float_ops(ptx: str) -> list[tuple[str, str, str]]:
    return _FLOAT_OP.findall(ptx)


@pytest.fixture(scope="module")
def nvrtc():
    import _nvrtc

    lib = _nvrtc.find()
    if lib is None:
        pytest.skip("NVRTC not found (pip install nvidia-cuda-nvrtc-cu12, or a CUDA toolkit)")
    return lambda src, opts: _nvrtc.compile_ptx(lib, src, ["--gpu-architecture=compute_80", *opts])


def _assert_no_contraction(ptx: str) -> None:
    ops = _float_ops(ptx)
    assert ops, "no floating-point arithmetic found in the PTX"
    for op, mods, ty in ops:
        assert op not in ("fma", "mad"), f"{op}{mods}.{ty} in the PTX"
        # without an explicit rounding mode, ptxas may fuse mul+add into an FMA
        assert ".rn" in mods, f"{op}{mods}.{ty}: no explicit rounding, may be contracted"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov,wd", CONFIGS)
def test_multi_tensor_kernel_compiles_without_fma(nvrtc, dtype, nesterov, wd):
    for geometry in (gpu.DEFAULT_GEOMETRY, gpu.Geometry(128, 3)):
        src, name = gpu.multi_tensor_source(dtype, nesterov, wd, geometry)
        for opts in (gpu.COMPILE_OPTIONS, ()):  # the intrinsics alone already forbid contraction
            ptx = nvrtc(src, list(opts))
            assert f".entry {name}(" in ptx
            _assert_no_contraction(ptx)
            f32 = ".f32" in " ".join(m + "." + t for _, m, t in _float_ops(ptx))
            assert f32 == (dtype == np.float32)


@pytest.mark.parametrize("nesterov,wd", CONFIGS)
def test_elementwise_body_compiles_without_fma(nvrtc, nesterov, wd):
    # the same preamble and call as the ElementwiseKernel, in a minimal wrapper per type
    for ctype in ("float", "double"):
        src = gpu.device_functions(nesterov, wd) + (
            f'extern "C" __global__ void k({ctype}* P, const {ctype}* G, {ctype}* M, {ctype} lr, '
            f"{ctype} beta, {ctype} scale, {ctype} wd) {{ const int i = threadIdx.x; "
            f"{ctype} &p = P[i]; const {ctype} &g = G[i]; {ctype} &m = M[i]; "
            "sgdm_update<" + ctype + ">(p, g, m, lr, beta, scale, wd); }"
        )
        _assert_no_contraction(nvrtc(src, list(gpu.COMPILE_OPTIONS)))


def test_the_ptx_check_detects_contraction(nvrtc):
    naive = ('extern "C" __global__ void k(float* p, const float* u, float lr) '
             "{ int i = threadIdx.x; p[i] = p[i] - lr * u[i]; }")
    with pytest.raises(AssertionError):
        _assert_no_contraction(nvrtc(naive, []))


def test_gate_kernel_compiles(nvrtc):
    assert ".entry sgdm_gate(" in nvrtc(gpu._GATE_SOURCE, list(gpu.COMPILE_OPTIONS))


# ---------------------------------------------------------------------------------------------
# With a GPU
# ---------------------------------------------------------------------------------------------
@pytest.fixture(params=["cupy", "host"])
def cp(request):
    """The CuPy to test against: the real one on a GPU, and ``hostcupy`` (tests/hostcupy.py),
    which runs the same kernel source and the same Python GPU path on the CPU."""
    if request.param == "cupy":
        if not HAVE_GPU:
            pytest.skip(GPU_REASON)
        import cupy

        yield cupy
    else:
        if hostcupy.compiler() is None:
            pytest.skip("hostcupy needs a C++ compiler (g++ or clang++)")
        with hostcupy.installed() as module:
            yield module


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
    shapes=st.lists(st.lists(st.integers(0, 40), min_size=0, max_size=3).map(tuple),
                    min_size=1, max_size=5),
    config=st.sampled_from(VARIANTS),
    momentum=st.sampled_from([0.0, 0.5, 0.87, 0.9, 0.99]),
    steps=st.integers(1, 4),
)
def test_gpu_step_equals_numpy_reference_bit_for_bit(cp, seed, dtype, shapes, config, momentum, steps):
    rng = np.random.default_rng(seed)
    start = [_edge_values(rng, int(np.prod(s)), dtype).reshape(s) for s in shapes]
    grad_seq = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    lrs = rng.uniform(0.0, 0.5, size=steps)
    ref = [p.copy() for p in start]
    ref_m = [np.zeros_like(p) for p in start]
    dev = [cp.asarray(p) for p in start]
    one = [cp.asarray(p) for p in start]
    one_m = [cp.zeros_like(p) for p in one]
    opt = sgdm.SGDM(dev, lr=0.1, momentum=momentum, backend="cupy", **config)
    for grads, lr in zip(grad_seq, lrs):
        for p, g, m in zip(ref, grads, ref_m):
            sgdm_step(p, g, m, lr, momentum, **config)
        dgrads = [cp.asarray(g) for g in grads]
        opt.step(dgrads, lr=lr)
        for p, g, m in zip(one, dgrads, one_m):
            gpu.fused_step(p, g, m, lr, momentum, **config)
    for r, d, o in zip(ref + ref_m, dev + opt.momentum_buffers, one + one_m):
        assert r.tobytes() == d.get().tobytes(), "multi-tensor kernel differs from the reference"
        assert r.tobytes() == o.get().tobytes(), "elementwise kernel differs from the reference"


def test_gpu_large_and_mixed_dtype_lists(cp, rng):
    shapes = [(gpu.TILE * 3 + 5,), (1 << 20,), (7, 3), (0,)]
    dtypes = [np.float32, np.float64, np.float32, np.float64]
    host = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    grads = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    dev = [cp.asarray(h) for h in host]
    opt = sgdm.SGDM(dev, lr=0.1, momentum=0.9, variant="nshb", weight_decay=1e-3)
    assert opt.backend == "cupy" and all(a is b for a, b in zip(opt.params, dev))
    cpu = sgdm.SGDM([h.copy() for h in host], lr=0.1, momentum=0.9, variant="nshb", weight_decay=1e-3)
    for k in range(3):
        opt.step([cp.asarray(g * (k + 1)) for g in grads])  # new gradient arrays each step
        cpu.step([g * (k + 1) for g in grads])
    for a, b in zip(cpu.params, dev):
        assert a.tobytes() == b.get().tobytes()


@pytest.mark.parametrize("geometry", [gpu.Geometry(32, 1), gpu.Geometry(128, 3), gpu.Geometry(1024, 2)])
def test_gpu_every_geometry_gives_the_reference_bits(cp, rng, geometry):
    # the launch shapes bench_gpu.py tunes over: tiles, partial tiles and tiny tensors
    shapes = [(2 * geometry.tile + 7,), (3, 5), (geometry.tile,), (0,), (1,)]
    for dtype in (np.float32, np.float64):
        host = [rng.standard_normal(s).astype(dtype) for s in shapes]
        ref, ref_m = [h.copy() for h in host], [np.zeros_like(h) for h in host]
        dev = [cp.asarray(h) for h in host]
        dev_m = [cp.zeros_like(d) for d in dev]
        kernel = gpu.CupyKernel(0.9, "shb", True, 1e-3, False, geometry=geometry)
        for lr in (0.1, 0.03):
            grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
            for p, g, m in zip(ref, grads, ref_m):
                sgdm_step(p, g, m, lr, 0.9, variant="shb", nesterov=True, weight_decay=1e-3)
            kernel.step(dev, [cp.asarray(g) for g in grads], dev_m, lr)
        for r, d in zip(ref + ref_m, dev + dev_m):
            assert r.tobytes() == d.get().tobytes()


def test_geometry_is_checked():
    assert gpu.DEFAULT_GEOMETRY.tile == gpu.TILE == gpu.BLOCK * gpu.ITEMS
    for block, items in ((100, 8), (2048, 1), (0, 8), (256, 0), (256, 65)):
        with pytest.raises(sgdm.SgdmError, match="is invalid"):
            gpu.Geometry(block, items)


def test_gpu_validation_messages(cp):
    p = cp.zeros((2, 3), cp.float32)
    q = cp.zeros(4, cp.float32)
    opt = sgdm.SGDM([p, q], lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[1\] must be a cupy.ndarray .* NumPy array"):
        opt.step([cp.zeros((2, 3), cp.float32), np.zeros(4, np.float32)])
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float64, but params\[0\]"):
        opt.step([cp.zeros((2, 3)), cp.zeros(4, cp.float32)])
    with pytest.raises(sgdm.SgdmError, match=r"grads\[1\] has shape \(5,\), but params\[1\]"):
        opt.step([cp.zeros((2, 3), cp.float32), cp.zeros(5, cp.float32)])
    with pytest.raises(sgdm.SgdmError, match=r"grads\[0\] shares memory with params\[0\]"):
        opt.step([p, cp.zeros(4, cp.float32)])
    with pytest.raises(sgdm.SgdmError, match="grads has 1 arrays but there are 2 parameters"):
        opt.step([cp.zeros((2, 3), cp.float32)])
    with pytest.raises(sgdm.SgdmError, match=r"params\[1\] shares memory with params\[0\]"):
        sgdm.SGDM([q, q[1:]], lr=0.1)
    with pytest.raises(sgdm.SgdmError, match="not contiguous"):
        sgdm.SGDM([cp.zeros((4, 4))[:, ::2]], lr=0.1)
    strict = sgdm.SGDM([q], lr=0.1, check_finite=True)
    with pytest.raises(sgdm.SgdmError, match=r"grads\[0\] contains NaN or Inf"):
        strict.step([cp.array([0, cp.nan, 0, 0], cp.float32)])
    assert float(q.sum()) == 0.0  # nothing written


def test_gpu_state_dict_round_trips_between_devices(cp, rng):
    host = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(h.shape) for h in host] for _ in range(6)]
    cpu_ref = sgdm.SGDM([h.copy() for h in host], lr=0.05, momentum=0.9, nesterov=True)
    for g in grads:
        cpu_ref.step(g)
    # 3 steps on the CPU, 3 on the GPU, then back to the CPU: same bits as 6 on the CPU
    a = sgdm.SGDM([h.copy() for h in host], lr=0.05, momentum=0.9, nesterov=True)
    for g in grads[:3]:
        a.step(g)
    state = a.state_dict()
    dev = [cp.asarray(p) for p in a.params]
    b = sgdm.SGDM(dev, lr=0.05, backend="cupy")
    b.load_state_dict(state)
    for g in grads[3:]:
        b.step([cp.asarray(x) for x in g])
    s2 = b.state_dict()
    assert all(isinstance(m, np.ndarray) for m in s2["momentum_buffers"])
    for x, y in zip(cpu_ref.params, dev):
        assert x.tobytes() == y.get().tobytes()
    c = sgdm.SGDM([p.get() for p in dev], lr=0.05)
    c.load_state_dict({**s2, "momentum_buffers": [cp.asarray(m) for m in s2["momentum_buffers"]]})
    for x, y in zip(cpu_ref.momentum_buffers, c.momentum_buffers):
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("problem_name", ["logreg", "mlp"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_training_history_matches_cpu(cp, problem_name, dtype):
    from sgdm import datasets, engine, problems, strategies

    ds = datasets.load_dataset("digits", seed=0)
    plan = strategies.get("warmup", epochs=6).plan(ds.n_train)
    prob = problems.make_problem(problem_name, ds.n_features, ds.n_classes, dtype=dtype, l2=1e-4)
    h_cpu = engine.train(prob, ds, plan, seed=2)
    h_gpu = engine.train(prob, ds, plan, seed=2, backend="cupy")
    assert h_gpu.settings["optimizer"]["backend"] == "cupy"
    rtol = 1e-5 if dtype == np.float64 else 2e-3
    for a, b in zip(h_cpu.rows, h_gpu.rows):
        for k in ("epoch", "batch_size", "steps", "sfo", "diverged", "lr"):
            assert a[k] == b[k], k
        for k in ("grad_norm_sq", "train_loss", "test_loss"):
            assert b[k] == pytest.approx(a[k], rel=rtol), k
    assert len(h_cpu.rows) == len(h_gpu.rows)


def test_gpu_cli_run_and_resume_match_the_cpu_run(cp, tmp_path):
    import json

    from typer.testing import CliRunner

    from sgdm_cli.app import app

    def run(*extra):
        result = CliRunner().invoke(app, ["run", "--epochs", "4", "--problem", "mlp", "--hidden",
                                          "16", "--json", *extra])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        return out["spec"]["backend"], out["history"]

    _, cpu = run("--backend", "rust")
    backend, dev = run("--backend", "cupy")
    assert backend == "cupy"
    ckpt = tmp_path / "ckpt"
    run("--backend", "cupy", "--checkpoint", str(ckpt), "--checkpoint-every", "2")
    backend, resumed = run("--resume", str(ckpt))
    assert backend == "cupy"
    assert len(cpu) == len(dev) == len(resumed) == 5
    for a, b, c in zip(cpu, dev, resumed):
        assert (a["steps"], a["sfo"], a["lr"]) == (b["steps"], b["sfo"], b["lr"]) == (c["steps"], c["sfo"], c["lr"])
        assert b["grad_norm_sq"] == pytest.approx(a["grad_norm_sq"], rel=1e-5)
        assert c["grad_norm_sq"] == pytest.approx(b["grad_norm_sq"], rel=1e-12)  # resumed on the GPU


def test_gpu_divergence_stops_at_the_same_step(cp):
    from sgdm import datasets, engine, problems, strategies

    ds = datasets.load_dataset("digits", seed=0)
    plan = strategies.get("baseline", epochs=5, init_lr=1e6).plan(ds.n_train)
    prob = problems.MLP(ds.n_features, ds.n_classes, hidden=(16,))
    a = engine.train(prob, ds, plan, seed=0)
    b = engine.train(prob, ds, plan, seed=0, backend="cupy")
    assert a.diverged and b.diverged and a.diverged_epoch == b.diverged_epoch
    assert a.final["steps"] == b.final["steps"] and a.final["sfo"] == b.final["sfo"]


def test_gpu_problem_metrics_match_cpu(cp, rng):
    from sgdm.problems import MLP, LogisticRegression

    for prob in (MLP(6, 4, hidden=(8, 5), activation="tanh", l2=0.1), LogisticRegression(6, 2, l2=0.3),
                 LogisticRegression(6, 3)):
        X = rng.standard_normal((301, 6))
        y = rng.integers(0, prob.n_classes, size=301)
        params = [p + 0.2 * rng.standard_normal(p.shape) for p in prob.init_params(1)]
        dparams = [cp.asarray(p) for p in params]
        cpu = prob.evaluate(params, X, y, chunk_size=64)
        dev = prob.evaluate(dparams, cp.asarray(X), cp.asarray(y), chunk_size=64)
        assert all(type(v) is float for v in dev)
        np.testing.assert_allclose(dev, cpu, rtol=1e-10)
        g_cpu = prob.zeros_like_params(params)
        g_dev = prob.zeros_like_params(dparams)
        l_cpu = prob.loss_and_grad(params, X[:17], y[:17], g_cpu)
        l_dev = prob.loss_and_grad(dparams, cp.asarray(X[:17]), cp.asarray(y[:17]), g_dev)
        assert l_dev == pytest.approx(l_cpu, rel=1e-12)
        for a, b in zip(g_cpu, g_dev):
            np.testing.assert_allclose(b.get(), a, rtol=1e-10, atol=1e-14)
