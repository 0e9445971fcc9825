"""Property-based fuzzing of the native module ``sgdm._sgdm``, one target per run.

Run by ``tests/test_fuzz_native.py`` in a child process, so that a crash of the interpreter
(segfault, abort, out-of-memory kill) shows as a negative return code instead of taking pytest
down. Usable by hand:

    python tests/fuzz_native_worker.py step --examples 20000 --seed 1

prints one JSON line: the target, the seed, the number of cases, how many succeeded and how many
raised, and how often each native entry point was called. A failing property exits with status
1 and hypothesis's falsifying example; a crash leaves the last case in ``--last-case FILE``.

Every case asserts that the call EITHER succeeds with the reference result (``sgdm.reference``
for the step, NumPy for schedules and plans) OR raises TypeError / ValueError (sgdm.SgdmError is
one) / OverflowError having written nothing. A Rust panic surfaces as
``pyo3_runtime.PanicException`` (a BaseException), which no ``except`` here catches, so it fails
the property.
"""

from __future__ import annotations

import argparse
import bisect
import faulthandler
import json
import math
import sys
import warnings
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import sgdm
from sgdm import _sgdm
from sgdm.reference import sgdm_step

ALLOWED = (TypeError, ValueError, OverflowError)  # sgdm.SgdmError is a ValueError
NATIVE = (np.dtype(np.float32), np.dtype(np.float64))

COUNTS: Counter = Counter()  # cases / ok / raised
REASONS: Counter = Counter()  # why the step refused (predicted), for tuning the generators
CALLS: Counter = Counter()  # native entry point -> number of calls
_LAST: Any = None  # open file holding the case in progress (read back after a crash)


def note(desc: str) -> None:
    COUNTS["cases"] += 1
    if _LAST is not None:
        _LAST.seek(0)
        _LAST.write(desc)
        _LAST.truncate()
        _LAST.flush()


def call(name: str, fn, *args):
    """Call a native entry point, counting it."""
    CALLS[name] += 1
    return fn(*args)


def outcome(name: str, fn, *args):
    """(True, result) or (False, exception) for an allowed exception; anything else propagates."""
    try:
        return True, call(name, fn, *args)
    except ALLOWED as e:
        return False, e


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equal, except that any NaN equals any NaN (payloads are not specified)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        na, nb = np.isnan(a), np.isnan(b)
        if not np.array_equal(na, nb):
            return False
        a, b = np.where(na, 0, a), np.where(nb, 0, b)
        return a.tobytes() == b.tobytes()
    return a.tobytes() == b.tobytes()


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def close(a: float, b: float, rtol: float = 1e-12) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-300


# ---------------------------------------------------------------------------------------------
# arrays: a recipe (plain data drawn by hypothesis) and a builder that makes fresh arrays from it,
# so one case can be built twice (once per backend) with the same aliasing structure.

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-310, 1e-40, 3.4e38, 1e39, 1.7e308, -1e300]
BAD_DTYPES = [
    "int8", "int32", "int64", "uint8", "uint64", "bool", "float16", "complex64", "complex128",
    "object", "longdouble", "swapped:float32", "swapped:float64",
]
LAYOUTS = ["c", "c", "c", "c", "f", "strided", "neg", "transpose", "broadcast", "unaligned",
           "readonly", "inner_strided"]
NON_ARRAYS = ["list", "none", "str", "memoryview", "scalar", "zero_d_object"]


def values(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
    if n and rng.random() < 0.3:
        k = rng.integers(1, n + 1)
        x[rng.integers(0, n, k)] = rng.choice(SPECIALS, k)
    return x


def make_array(rng, shape, dtype, layout) -> Any:
    """An array of `shape` and `dtype` laid out as `layout` (or a non-array stand-in)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    data = values(rng, n).reshape(shape)
    if dtype.kind == "O":
        data = data.astype(object)
    elif dtype.kind == "b":
        data = data > 0
    else:
        data = data.astype(dtype)
    if layout == "c":
        return np.ascontiguousarray(data)
    if layout == "f":
        return np.asfortranarray(data)
    if layout == "readonly":
        a = np.ascontiguousarray(data)
        a.flags.writeable = False
        return a
    if layout == "strided" and shape:
        big = np.zeros((shape[0] * 2,) + tuple(shape[1:]), dtype)
        big[::2] = data
        return big[::2]
    if layout == "inner_strided" and shape:
        big = np.zeros(tuple(shape[:-1]) + (shape[-1] * 2,), dtype)
        big[..., ::2] = data
        return big[..., ::2]
    if layout == "neg" and shape:
        return np.ascontiguousarray(data[::-1])[::-1]
    if layout == "transpose" and len(shape) >= 2:
        return np.ascontiguousarray(np.swapaxes(data, 0, 1)).swapaxes(0, 1)
    if layout == "broadcast":
        return np.broadcast_to(np.asarray(data.flat[0] if n else 0, dtype), shape)
    if layout == "unaligned" and dtype.kind != "O":
        buf = np.zeros(data.nbytes + dtype.itemsize + 1, np.uint8)
        a = buf[1:1 + data.nbytes].view(dtype).reshape(shape)
        a[...] = data
        return a
    return np.ascontiguousarray(data)


def make_non_array(rng, kind, shape):
    n = int(np.prod(shape)) if shape else 1
    if kind == "list":
        return values(rng, n).tolist()
    if kind == "none":
        return None
    if kind == "str":
        return "0.5"
    if kind == "memoryview":
        return memoryview(values(rng, max(n, 1)))
    if kind == "scalar":
        return np.float64(1.5)
    return np.array(None, dtype=object)


shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
float_dtype = st.sampled_from(["float32", "float64"])


@st.composite
def array_recipe(draw, shape, dtype):
    """How to build one array of a triple: mostly a good one, sometimes something odd."""
    r = draw(st.integers(0, 99))
    if r < 75:
        return {"kind": "array", "dtype": dtype, "layout": "c", "shape": shape}
    if r < 88:
        return {"kind": "array", "dtype": dtype, "layout": draw(st.sampled_from(LAYOUTS)), "shape": shape}
    if r < 92:
        return {"kind": "array", "dtype": draw(st.sampled_from(BAD_DTYPES)), "layout": "c",
                "shape": shape}
    if r < 96:
        return {"kind": "array", "dtype": dtype, "layout": "c", "shape": draw(shapes)}
    return {"kind": draw(st.sampled_from(NON_ARRAYS)), "shape": shape}


def _dtype(spec: str) -> np.dtype:
    if spec.startswith("swapped:"):
        return np.dtype(spec.split(":")[1]).newbyteorder("S")
    return np.dtype(spec)


ALIASING = ["none"] * 6 + ["grad_is_param", "grad_view_of_param", "momentum_is_param",
                           "param_twice", "momentum_shared", "overlap_param_momentum",
                           "grad_is_momentum", "grad_twice", "overlap_params"]
CONTAINERS = ["list"] * 40 + ["tuple", "ndarray", "none", "generator"]


@st.composite
def step_arrays_recipe(draw):
    n = draw(st.sampled_from([1, 1, 2, 2, 3, 0]))
    tensors = []
    for _ in range(n):
        shape = draw(shapes)
        dtype = draw(float_dtype)
        tensors.append({
            "param": draw(array_recipe(shape, dtype)),
            "grad": draw(array_recipe(shape, dtype)),
            "momentum": draw(array_recipe(shape, dtype)),
        })
    return {
        "tensors": tensors,
        "aliasing": draw(st.sampled_from(ALIASING)),
        "grads_container": draw(st.sampled_from(CONTAINERS)),
        "params_container": draw(st.sampled_from(CONTAINERS)),
        "momenta_container": draw(st.sampled_from(CONTAINERS)),
        "grads_len": draw(st.sampled_from([0] * 30 + [-1, 1])),
        "momenta_len": draw(st.sampled_from([0] * 30 + [-1, 1])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _build_one(rng, r):
    if r["kind"] == "array":
        return make_array(rng, r["shape"], _dtype(r["dtype"]), r["layout"])
    return make_non_array(rng, r["kind"], r["shape"])


def _container(kind, items):
    if kind == "list":
        return list(items)
    if kind == "tuple":
        return tuple(items)
    if kind == "ndarray":
        return np.zeros(len(items))
    if kind == "none":
        return None
    return (x for x in items)


def build_arrays(recipe):
    """Fresh (params, grads, momenta) lists from a recipe, aliasing applied."""
    rng = np.random.default_rng(recipe["seed"])
    params, grads, momenta = [], [], []
    for t in recipe["tensors"]:
        params.append(_build_one(rng, t["param"]))
        grads.append(_build_one(rng, t["grad"]))
        momenta.append(_build_one(rng, t["momentum"]))
    n = len(params)
    a = recipe["aliasing"]
    if n:
        i = int(rng.integers(0, n))
        j = int(rng.integers(0, n))
        if a == "grad_is_param":
            grads[i] = params[i]
        elif a == "grad_view_of_param" and isinstance(params[i], np.ndarray):
            grads[i] = params[i][...]
        elif a == "momentum_is_param":
            momenta[i] = params[i]
        elif a == "param_twice":
            params[j] = params[i]
        elif a == "momentum_shared":
            momenta[j] = momenta[i]
        elif a == "grad_is_momentum":
            grads[i] = momenta[j]
        elif a == "grad_twice":
            grads[j] = grads[i]
        elif a in ("overlap_param_momentum", "overlap_params"):
            k = int(rng.integers(1, 6))
            dt = rng.choice(["float32", "float64"])
            buf = np.zeros(2 * k, dt)
            lo, hi = buf[0:k + 1], buf[k - 1:2 * k]
            shape_ok = (k + 1,) if rng.random() < 0.5 else None
            if shape_ok is None:
                lo, hi = buf[0:k], buf[k - 1:2 * k - 1]
            if a == "overlap_param_momentum":
                params[i], momenta[i] = lo, hi
                grads[i] = np.zeros(lo.shape, dt)
            else:
                params[i], params[j] = lo, hi
                grads[i] = np.zeros(lo.shape, dt)
                grads[j] = np.zeros(hi.shape, dt)
                momenta[i] = np.zeros(lo.shape, dt)
                momenta[j] = np.zeros(hi.shape, dt)
    for lst, key in ((grads, "grads_len"), (momenta, "momenta_len")):
        d = recipe[key]
        if d == -1 and lst:
            lst.pop()
        elif d == 1:
            lst.append(np.zeros(3))
    return (
        _container(recipe["params_container"], params),
        _container(recipe["grads_container"], grads),
        _container(recipe["momenta_container"], momenta),
        (params, grads, momenta),
    )


def _extent(a: np.ndarray):
    start = a.__array_interface__["data"][0]
    return start, start + a.size * a.itemsize


def _writeable(a: np.ndarray) -> bool:
    return bool(a.flags.writeable)


def predict_step(params, grads, momenta, lr, check_finite, lists) -> str | None:
    """Why `FusedStep.step` must refuse this call, or None when it must succeed."""
    if not isinstance(params, list) or not isinstance(momenta, list):
        return "params and momenta must be lists"
    if not isinstance(grads, (list, tuple)):
        return "grads must be a list or tuple"
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        return "lr type"
    try:
        f = float(lr)
    except OverflowError:
        return "lr overflows"
    if not (math.isfinite(f) and f >= 0):
        return "lr value"
    n = len(params)
    if n == 0 or len(grads) != n or len(momenta) != n:
        return "lengths"
    arrays = []
    for i in range(n):
        p, g, m = params[i], grads[i], momenta[i]
        for x in (p, g, m):
            if not isinstance(x, np.ndarray):
                return "not an array"
        if p.dtype not in NATIVE or not p.dtype.isnative:
            return "param dtype"
        if g.dtype != p.dtype or m.dtype != p.dtype or not g.dtype.isnative or not m.dtype.isnative:
            return "dtype mismatch"
        if g.shape != p.shape or m.shape != p.shape:
            return "shape mismatch"
        for x in (p, g, m):
            if not (x.flags.c_contiguous or x.flags.f_contiguous):
                return "not contiguous"
        if not _writeable(p) or not _writeable(m):
            return "read-only"
        if p.ndim > 1 and p.size > 1 and (g.strides != p.strides or m.strides != p.strides):
            return "memory order"
        arrays += [(p, True), (g, False), (m, True)]
    for k, (x, wx) in enumerate(arrays):
        for y, wy in arrays[k + 1:]:
            if (wx or wy) and x.size and y.size:
                (a0, a1), (b0, b1) = _extent(x), _extent(y)
                if a0 < b1 and b0 < a1:
                    return "aliasing"
    for x, _ in arrays:
        if x.size and not x.flags.aligned:
            return "unaligned"
    if check_finite and any(not np.isfinite(g).all() for g in grads):
        return "non-finite gradient"
    return None


def snapshot(lists):
    return [[x.copy() if isinstance(x, np.ndarray) else None for x in lst] for lst in lists]


def unchanged(lists, snap) -> bool:
    return all(
        x is None or same(cur, x)
        for lst, s in zip(lists, snap)
        for cur, x in zip(lst, s)
        if isinstance(cur, np.ndarray)
    )


def expected_step(snap, lr, cfg):
    """Reference update of copies of the snapshot (tensor i independent: no aliasing)."""
    ps, gs, ms = snap
    out = []
    for p, g, m in zip(ps, gs, ms):
        p, m = p.copy(), m.copy()
        sgdm_step(p, g, m, float(lr), cfg["momentum"], cfg["variant"], cfg["nesterov"],
                  cfg["weight_decay"])
        out.append((p, m))
    return out


good_momentum = st.sampled_from([0.0, 0.5, 0.9, 0.999, 1e-300, 0.9999999999999999]) | st.floats(0, 1, exclude_max=True)
good_wd = st.sampled_from([0.0, 1e-4, 0.5, 1e-50, 1e300, 5e-324, 3.0])
LR_ODD = [0.0, -0.0, 1e-300, 5e-324, 1e300, 1.7976931348623157e308, -1e-300, -1.0, math.nan, math.inf,
          -math.inf, 0, 1, 2**1100, -(2**1100), 10**20, True, False, None, "0.1", [0.1],
          np.float32(0.1), np.float64(0.25), np.int64(2), np.float32(np.nan), np.float16(0.5),
          complex(0.1, 0)]
lrs = st.floats(0, 10) | st.floats(0, 10) | st.sampled_from(LR_ODD)


@st.composite
def step_config(draw):
    variant = draw(st.sampled_from(["shb", "nshb"]))
    return {
        "momentum": draw(good_momentum),
        "variant": variant,
        "nesterov": draw(st.booleans()) if variant == "shb" else False,
        "weight_decay": draw(good_wd),
        "check_finite": draw(st.booleans()),
    }


def check_step_call(cfg, fs, recipe, lr):
    params, grads, momenta, lists = build_arrays(recipe)
    note(f"step cfg={cfg} lr={lr!r} recipe={recipe}")
    must_fail = predict_step(params, grads, momenta, lr, cfg["check_finite"], lists)
    REASONS[must_fail or "valid"] += 1
    snap = snapshot(lists)
    ok, res = outcome("FusedStep.step", fs.step, params, grads, momenta, lr)
    if not ok:
        COUNTS["raised"] += 1
        assert must_fail is not None, f"refused a valid call: {res!r}"
        assert unchanged(lists, snap), f"raised {res!r} but wrote to an array"
        return
    COUNTS["ok"] += 1
    assert must_fail is None, f"accepted a call that must fail ({must_fail})"
    for i, (p, m) in enumerate(expected_step(snap, lr, cfg)):
        assert same(lists[0][i], p), f"params[{i}] differs from the reference"
        assert same(lists[2][i], m), f"momentum {i} differs from the reference"
        assert same(lists[1][i], snap[1][i]), f"grads[{i}] was written"


# ---------------------------------------------------------------------------------------------
# target: FusedStep constructor and step


CTOR_ODD = [0.0, 0.5, 0.9, -0.0, 1.0, -0.1, 1.5, math.nan, math.inf, -math.inf, 0, 1, True, False,
            None, "0.9", 2**1100, np.float32(0.5), 1e-300, 1e300]


def valid_ctor(momentum, variant, nesterov, weight_decay, check_finite) -> bool:
    def real(x):
        return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool)

    if not (real(momentum) and real(weight_decay)):
        return False
    try:
        m, w = float(momentum), float(weight_decay)
    except OverflowError:
        return False
    return (
        0.0 <= m < 1.0
        and math.isfinite(w) and w >= 0
        and variant in ("shb", "nshb")
        and isinstance(nesterov, (bool, np.bool_))
        and isinstance(check_finite, (bool, np.bool_))
        and not (nesterov and variant == "nshb")
    )


@st.composite
def ctor_args(draw):
    odd = st.sampled_from(CTOR_ODD)
    return (
        draw(good_momentum | odd),
        draw(st.sampled_from(["shb", "nshb", "SHB", "adam", "", None, 1, b"shb"])),
        draw(st.sampled_from([False, True, 0, 1, None, "yes", np.bool_(True)])),
        draw(good_wd | odd),
        draw(st.sampled_from([False, True, 0, None, np.bool_(False)])),
    )


def prop_step(args, cfg, recipe, lr):
    ok, fs = outcome("FusedStep", _sgdm.FusedStep, *args)
    COUNTS["ctor_ok" if ok else "ctor_raised"] += 1
    if ok:
        assert valid_ctor(*args), f"FusedStep accepted invalid settings {args!r}"
    else:
        assert not valid_ctor(*args), f"FusedStep refused valid settings {args!r}: {fs!r}"
    fs = call("FusedStep", _sgdm.FusedStep, cfg["momentum"], cfg["variant"], cfg["nesterov"],
              cfg["weight_decay"], cfg["check_finite"])
    check_step_call(cfg, fs, recipe, lr)


# ---------------------------------------------------------------------------------------------
# target: sgdm.SGDM with both backends


HYPER_ODD = {
    "momentum": [0.9, 0.0, 1.0, -0.5, math.nan, True, None],
    "variant": ["shb", "nshb", "adam", None],
    "nesterov": [False, True],
    "weight_decay": [0.0, 1e-3, 1e-50, -1.0, math.inf, math.nan, True],
    "lr": [0.1, 0.0, 1e300, -0.1, math.nan, math.inf, True, None, "0.1", 2**1100],
}


@st.composite
def sgdm_case(draw):
    hyper = {k: draw(st.sampled_from(v[:1] * 3 * len(v) + v)) for k, v in HYPER_ODD.items()}
    hyper["check_finite"] = draw(st.booleans())
    recipe = draw(step_arrays_recipe())
    # Only the parameters come from the caller: momentum buffers are the optimizer's own.
    recipe["momenta_container"] = "list"
    recipe["momenta_len"] = 0
    if recipe["aliasing"] in ("momentum_is_param", "momentum_shared", "overlap_param_momentum",
                              "grad_is_momentum"):
        recipe["aliasing"] = "none"
    steps = draw(st.lists(st.tuples(st.integers(0, 2**32 - 1), lrs, st.sampled_from(ALIASING[:8] + ["grad_is_param"])),
                          min_size=1, max_size=3))
    return hyper, recipe, steps


def _grads_for(params, rng_seed, alias, odd):
    """Gradients for the current parameters: good, or with one odd entry."""
    rng = np.random.default_rng(rng_seed)
    grads = []
    for p in params:
        if isinstance(p, np.ndarray) and p.dtype in NATIVE:
            grads.append(make_array(rng, p.shape, p.dtype, "f" if p.flags.f_contiguous and not p.flags.c_contiguous else "c"))
        else:
            grads.append(np.zeros(3))
    if grads and odd:
        i = int(rng.integers(0, len(grads)))
        k = int(rng.integers(0, 4))
        g = grads[i]
        grads[i] = [g.astype(np.float16), make_non_array(rng, "list", g.shape), g.T.copy() if g.ndim > 1 else g[::-1],
                    np.broadcast_to(g, g.shape)][k]
    if grads and alias == "grad_is_param":
        grads[0] = params[0]
    return grads


def run_sgdm(backend, hyper, recipe, steps):
    """The outcomes of constructing and stepping one optimizer; asserts the contract."""
    params, _, _, lists = build_arrays(recipe)
    ctor = {k: v for k, v in hyper.items() if k != "lr"}
    try:
        opt = sgdm.SGDM(params, lr=hyper["lr"], backend=backend, **ctor)
    except ALLOWED as e:
        return [("ctor", type(e).__name__)], None
    CALLS["SGDM(" + backend + ")"] += 1
    if backend == "rust":
        CALLS["FusedStep"] += 1
    plist = opt.params
    out = []
    for k, (gseed, lr, alias) in enumerate(steps):
        grads = _grads_for(plist, gseed, alias, odd=k % 2 == 1)
        snap = [p.copy() for p in plist], [m.copy() for m in opt.momentum_buffers]
        try:
            if backend == "rust":
                CALLS["FusedStep.step"] += 1
            opt.step(grads, lr=lr)
        except ALLOWED as e:
            assert all(same(p, s) for p, s in zip(plist, snap[0])), "params written on error"
            assert all(same(m, s) for m, s in zip(opt.momentum_buffers, snap[1])), "buffer written on error"
            out.append(("raised", type(e).__name__))
            continue
        cfg = {k: getattr(opt, k) for k in ("momentum", "variant", "nesterov", "weight_decay")}
        for p, m, g, p0, m0 in zip(plist, opt.momentum_buffers, grads, *snap):
            p0, m0 = p0.copy(), m0.copy()
            sgdm_step(p0, np.asarray(g), m0, float(opt.lr if lr is None else lr), cfg["momentum"], cfg["variant"],
                      cfg["nesterov"], cfg["weight_decay"])
            assert same(p, p0), f"{backend}: parameter differs from the reference"
            assert same(m, m0), f"{backend}: momentum buffer differs from the reference"
        out.append(("ok", None))
    return out, [p.copy() for p in plist]


def prop_sgdm(case):
    hyper, recipe, steps = case
    note(f"SGDM hyper={hyper} recipe={recipe} steps={steps}")
    res = {b: run_sgdm(b, hyper, recipe, steps) for b in ("rust", "numpy")}
    (r_out, r_params), (n_out, n_params) = res["rust"], res["numpy"]
    COUNTS["ok" if all(o[0] == "ok" for o in r_out) else "raised"] += 1
    # The backends agree on what they accept (unaligned arrays included) and, when both accept,
    # on every bit.
    assert [o[0] for o in r_out] == [o[0] for o in n_out], f"backends disagree: {r_out} vs {n_out}"
    if r_params is not None and n_params is not None:
        assert all(same(a, b) for a, b in zip(r_params, n_params)), "backends differ"


# ---------------------------------------------------------------------------------------------
# target: schedules

NUM_GOOD = [0.0, 0.1, 1.0, 2.0, 0.5, 1e-300, 1e300, 5e-324, 1.7976931348623157e308, 3, 10]
NUM_BAD = [-1.0, -0.0, math.nan, math.inf, -math.inf, True, "0.1", [1.0], 2**1100, None]
INT_GOOD = [1, 2, 3, 5, 10, 30, 100, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]
INT_BAD = [0, -1, 2**64, 2**100, 2.0, 2.5, True, "3", math.nan, None, np.int64(4)]
UNITS = ["step", "epoch", "minute", None, 1]

LR_FIELDS = {
    "constant": {"value": "num"},
    "diminishing": {"init_value": "num"},
    "cosine": {"init_value": "num", "min_value": "num?", "epochs": "int?"},
    "linear": {"init_value": "num", "total_steps": "int?"},
    "polynomial": {"init_value": "num", "power": "num?", "total_steps": "int?"},
    "exp_growth": {"init_value": "num", "interval": "int", "max_value": "num?", "growth_rate": "num?",
                   "epochs": "int?"},
    "warmup_constant": {"init_value": "num", "warmup_epochs": "int", "warmup_interval": "int",
                        "max_value": "num?", "growth_rate": "num?"},
    "warmup_cosine": {"init_value": "num", "warmup_epochs": "int", "warmup_interval": "int",
                      "max_value": "num?", "growth_rate": "num?", "min_value": "num?", "epochs": "int?"},
    "step_decay": {"init_value": "num", "decay_rate": "num", "step_size": "int", "unit": "unit?"},
    "multi_step_decay": {"init_value": "num", "decay_rate": "num", "milestones": "ints", "unit": "unit?"},
    "exponential_decay": {"init_value": "num", "decay_rate": "num", "unit": "unit?"},
    "one_cycle": {"peak_value": "num", "pct_start": "num?", "div_factor": "num?",
                  "final_div_factor": "num?", "total": "int?", "unit": "unit?"},
    "cosine_restarts": {"init_value": "num", "min_value": "num?", "period": "int",
                        "period_mult": "num?", "unit": "unit?"},
    "join": {"pieces": "pieces", "boundaries": "ints", "unit": "unit?"},
}
BATCH_FIELDS = {
    "constant": {"size": "int"},
    "exp_growth": {"init_size": "int", "growth_rate": "num", "interval": "int", "max_size": "int?",
                   "epochs": "int?"},
    "piecewise": {"sizes": "ints", "boundaries": "ints"},
}


def _field(draw, kind, depth, good_bias):
    """(present, value) for one spec field."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if draw(st.integers(0, 9)) < (4 if optional else 1):
        return False, None
    bad = draw(st.integers(0, 99)) >= good_bias
    if kind == "num":
        pool = NUM_BAD if bad else NUM_GOOD
        return True, draw(st.sampled_from(pool) | (st.floats(0, 5) if not bad else st.nothing()))
    if kind == "int":
        return True, draw(st.sampled_from(INT_BAD if bad else INT_GOOD) | st.integers(1, 50))
    if kind == "unit":
        return True, draw(st.sampled_from(UNITS if bad else UNITS[:2]))
    if kind == "ints":
        xs = draw(st.lists(st.integers(0, 60) | st.sampled_from(INT_GOOD + (INT_BAD if bad else [])),
                           max_size=4))
        if not bad:
            xs = sorted(set(x for x in xs if isinstance(x, int) and x >= 1))
        return True, draw(st.sampled_from([xs, tuple(xs)] + (["1,2", 3, None] if bad else [])))
    if kind == "pieces":
        if depth >= 2:
            return True, [{"type": "constant", "value": 0.1}]
        return True, draw(st.lists(lr_spec(depth + 1, good_bias), min_size=0, max_size=3))
    raise AssertionError(kind)


@st.composite
def lr_spec(draw, depth=0, good_bias=85):
    kind = draw(st.sampled_from(list(LR_FIELDS) + ["adam", None, 3]))
    spec: dict[str, Any] = {} if draw(st.integers(0, 49)) == 0 else {"type": kind}
    for name, f in LR_FIELDS.get(kind, {}).items():
        present, v = _field(draw, f, depth, good_bias)
        if present:
            spec[name] = v
    if kind == "join" and "pieces" in spec and isinstance(spec["pieces"], list) and draw(st.booleans()):
        n = len(spec["pieces"])
        spec["boundaries"] = sorted(draw(st.sets(st.integers(1, 40), min_size=max(n - 1, 0), max_size=max(n - 1, 0))))
    return spec


@st.composite
def batch_spec(draw, good_bias=85):
    kind = draw(st.sampled_from(list(BATCH_FIELDS) + ["linear", None]))
    spec: dict[str, Any] = {"type": kind}
    for name, f in BATCH_FIELDS.get(kind, {}).items():
        present, v = _field(draw, f, 0, good_bias)
        if present:
            spec[name] = v
    if kind == "piecewise" and isinstance(spec.get("sizes"), list) and draw(st.booleans()):
        n = len(spec["sizes"])
        spec["boundaries"] = sorted(draw(st.sets(st.integers(1, 40), min_size=max(n - 1, 0), max_size=max(n - 1, 0))))
    return spec


def _is_real(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def spec_must_fail(spec, fields) -> str | None:
    """A reason the native constructor must refuse `spec` (a partial predictor)."""
    kind = spec.get("type")
    if kind not in fields:
        return "type"
    for name, f in fields[kind].items():
        k = f.rstrip("?")
        if name not in spec or spec[name] is None:
            if not f.endswith("?") and k not in ("ints", "unit"):
                return f"{name} missing"
            continue
        v = spec[name]
        if k == "num":
            if not _is_real(v):
                return f"{name} type"
            try:
                if not math.isfinite(float(v)) or float(v) < 0:
                    return f"{name} value"
            except OverflowError:
                return f"{name} overflow"
        elif k == "int":
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v < 2**64:
                return f"{name} int"
            if v == 0:
                return f"{name} zero"
        elif k == "unit":
            if v not in ("step", "epoch"):
                return "unit"
        elif k == "ints":
            if not isinstance(v, (list, tuple)):
                return f"{name} not a list"
            if any(not isinstance(x, (int, np.integer)) or isinstance(x, bool) or not 0 <= x < 2**64 for x in v):
                return f"{name} entries"
            if name != "sizes" and any(b <= a for a, b in zip(v, v[1:])):
                return f"{name} not increasing"
        elif k == "pieces":
            if not isinstance(v, list) or not v:
                return "pieces"
            for p in v:
                if not isinstance(p, dict) or spec_must_fail(p, LR_FIELDS):
                    return "piece"
    return None


CLOCK_GOOD = [0, 1, 2, 7, 29, 30, 31, 99, 100, 1000, 2**31, 2**53 + 1, 2**62, 2**63 - 1]
CLOCK_BAD = [-1, -(2**63), 2**63, 2**64, 1.5, math.nan, None, "3", True, np.uint64(2**63)]
clock_values = st.integers(0, 200) | st.sampled_from(CLOCK_GOOD) | st.sampled_from(CLOCK_BAD)


def _valid_clock(x) -> bool:
    """An int64 >= 0 as the native module reads it; a bool (an int to Python) is refused."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 0 <= int(x) < 2**63


def lr_oracle(spec, t, e):
    """NumPy/Python evaluation of the simple families, or None."""
    kind = spec["type"]
    g = lambda k, d=None: float(spec[k]) if spec.get(k) is not None else d  # noqa: E731
    unit = spec.get("unit") or "epoch"
    c = t if unit == "step" else e
    if kind == "constant":
        return g("value")
    if kind == "diminishing":
        return g("init_value") / math.sqrt(float(t) + 1.0)
    if kind == "cosine" and spec.get("epochs") is not None:
        big = spec["epochs"]
        r = float(min(e, big)) / float(big)
        lo, hi = g("min_value", 0.0), g("init_value")
        return lo + (hi - lo) * (0.5 * (1.0 + math.cos(math.pi * r)))
    if kind in ("linear", "polynomial") and spec.get("total_steps") is not None:
        big = spec["total_steps"]
        base = 1.0 - float(min(t, big)) / float(big)
        if kind == "linear":
            return g("init_value") * base
        return g("init_value") * float(np.power(base, g("power", 2.0)))
    # η_0 r^k, where η_0 = 0 stays 0 even once r^k overflows (not 0 * inf = NaN).
    scaled = lambda k: 0.0 if g("init_value") == 0 else g("init_value") * float(np.power(g("decay_rate"), k))  # noqa: E731
    if kind == "step_decay":
        return scaled(float(c // spec["step_size"]))
    if kind == "exponential_decay":
        return scaled(float(c))
    if kind == "multi_step_decay":
        return scaled(float(bisect.bisect_right(list(spec.get("milestones") or []), c)))
    return None


def check_lr_value(spec, v, t, e):
    """Bounds the formulas promise, for a valid, ready schedule at a valid clock."""
    kind = spec["type"]
    assert isinstance(v, float)
    assert not math.isnan(v), f"{kind} gave NaN at (t={t}, e={e})"
    assert v >= 0, f"{kind} gave a negative rate {v}"
    want = lr_oracle(spec, t, e)
    if want is not None:
        assert close(v, want), f"{kind} at (t={t}, e={e}): {v!r}, NumPy says {want!r}"
    if kind in ("warmup_constant", "warmup_cosine", "exp_growth") and spec.get("max_value") is not None:
        cap = max(float(spec["max_value"]), float(spec.get("min_value") or 0.0))
        assert v <= cap * (1 + 1e-12), f"{kind} exceeds max_value: {v} > {cap}"
    if kind == "one_cycle":
        assert v <= float(spec["peak_value"]) * (1 + 1e-12) + 1e-300, f"one_cycle above its peak: {v}"
    if kind == "cosine_restarts":
        lo, hi = sorted((float(spec["init_value"]), float(spec.get("min_value") or 0.0)))
        assert lo - 1e-12 * hi - 1e-300 <= v <= hi * (1 + 1e-12) + 1e-300, f"cosine_restarts outside [{lo}, {hi}]: {v}"
    if kind in ("cosine", "linear", "polynomial", "diminishing"):
        top = max(float(spec.get("init_value") or 0.0), float(spec.get("min_value") or 0.0))
        assert v <= top * (1 + 1e-12) + 1e-300, f"{kind} above its initial value: {v}"


ARRAY_ODD = ["int32", "float64", "uint64", "2d", "strided", "list", "short", "readonly", "swapped", "empty"]


def clock_array(rng_vals, odd):
    a = np.array(rng_vals, dtype=np.int64)
    if odd == "int32":
        return a.astype(np.int32)
    if odd == "float64":
        return a.astype(np.float64)
    if odd == "uint64":
        return a.astype(np.uint64)
    if odd == "2d":
        return a.reshape(1, -1)
    if odd == "strided":
        return np.repeat(a, 2)[::2]
    if odd == "list":
        return a.tolist()
    if odd == "short":
        return a[:-1]
    if odd == "readonly":
        a.flags.writeable = False
        return a
    if odd == "swapped":
        return a.astype(a.dtype.newbyteorder("S"))
    if odd == "empty":
        return a[:0]
    return a


def prop_lr_schedule(spec, clocks, odd):
    note(f"LrSchedule({spec!r}) clocks={clocks} odd={odd}")
    reason = spec_must_fail(spec, LR_FIELDS)
    ok, s = outcome("LrSchedule", _sgdm.LrSchedule, spec)
    if not ok:
        COUNTS["raised"] += 1
        return
    COUNTS["ok"] += 1
    assert reason is None, f"LrSchedule accepted an invalid spec ({reason}): {spec!r}"
    assert call("LrSchedule.kind", lambda: s.kind) == spec["type"]
    assert isinstance(call("LrSchedule.uses_step", lambda: s.uses_step), bool)
    assert isinstance(call("LrSchedule.uses_epoch", lambda: s.uses_epoch), bool)
    ready, err = outcome("LrSchedule.check_ready", s.check_ready)
    assert ready or isinstance(err, sgdm.SgdmError)
    good = []
    for t, e in clocks:
        ok, v = outcome("LrSchedule.value", s.value, t, e)
        valid = _valid_clock(t) and _valid_clock(e)
        if ready and valid:
            assert ok, f"value({t}, {e}) raised {v!r} on a ready schedule"
        if not ready:
            assert not ok, "value() evaluated a schedule that is not ready"
        if ok:
            if valid:
                check_lr_value(spec, v, t, e)
                good.append((int(t), int(e), v))
    if not good:
        good = [(0, 0, None)]
    steps = clock_array([g[0] for g in good], None)
    epochs = clock_array([g[1] for g in good], odd)
    ok, out = outcome("LrSchedule.values", s.values, steps, epochs)
    plain = odd in (None, "readonly") or odd == "swapped" and sys.byteorder == "big"
    if ready and plain:
        assert ok, f"values() refused plain int64 arrays: {out!r}"
    if ok:
        assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (len(good),)
        for (t, e, v), x in zip(good, out):
            if v is not None:
                assert same_float(float(x), v), f"values() != value() at ({t}, {e}): {x!r} vs {v!r}"


def prop_batch_schedule(spec, epochs, odd):
    note(f"BatchSchedule({spec!r}) epochs={epochs} odd={odd}")
    reason = spec_must_fail(spec, BATCH_FIELDS)
    ok, s = outcome("BatchSchedule", _sgdm.BatchSchedule, spec)
    if not ok:
        COUNTS["raised"] += 1
        return
    COUNTS["ok"] += 1
    assert reason is None, f"BatchSchedule accepted an invalid spec ({reason}): {spec!r}"
    assert call("BatchSchedule.kind", lambda: s.kind) == spec["type"]
    ready, err = outcome("BatchSchedule.check_ready", s.check_ready)
    assert ready or isinstance(err, sgdm.SgdmError)
    good = []
    for e in epochs:
        ok, b = outcome("BatchSchedule.size", s.size, e)
        if ready and _valid_clock(e):
            assert ok, f"size({e}) raised {b!r}"
        if ok and _valid_clock(e):
            assert isinstance(b, int) and 1 <= b < 2**63, f"batch size {b!r} at epoch {e}"
            good.append((int(e), b))
            kind = spec["type"]
            if kind == "constant":
                assert b == min(spec["size"], 2**63 - 1)
            elif kind == "piecewise":
                sizes, bounds = list(spec["sizes"]), list(spec.get("boundaries") or [])
                assert b == min(sizes[bisect.bisect_right(bounds, e)], 2**63 - 1)
            elif kind == "exp_growth":
                if spec.get("max_size") is not None:
                    assert b <= spec["max_size"], f"{b} > max_size"
                assert b >= 1
    good.sort()
    if spec["type"] == "exp_growth" and float(spec["growth_rate"]) >= 1:
        sizes = [b for _, b in good]
        assert sizes == sorted(sizes), f"growing batch sizes decrease: {good}"
    arr = clock_array([g[0] for g in good] or [0], odd)
    ok, out = outcome("BatchSchedule.sizes", s.sizes, arr)
    if ok and good and odd in (None, "readonly", "strided"):
        assert out.dtype == np.int64 and out.tolist() == [b for _, b in good]


# ---------------------------------------------------------------------------------------------
# target: plan building and the per-step helpers

N_ODD = [0, -1, 2**31, 2**40, 2**62, 2**63 - 1, 2**63, True, 1.0, None, "10"]
E_ODD = [0, -1, 2**28 + 1, 2**40, 2**62, 2**63 - 1, 2**63, True, 2.0, None]


def plan_oracle(plan, n, epochs, lr_native):
    b = plan["batch_sizes"]
    s = plan["steps_per_epoch"]
    assert plan["n_samples"] == n and plan["epochs"] == epochs
    assert len(b) == len(s) == epochs
    assert (b >= 1).all() and (b <= n).all()
    assert (s == -(-n // b)).all(), "steps_per_epoch != ceil(n / b)"
    assert plan["total_steps"] == int(s.sum())
    assert plan["sfo"] == n * epochs
    starts = plan["epoch_starts"]
    assert starts.tolist() == np.concatenate([[0], np.cumsum(s)[:-1]]).tolist()
    rates = plan["learning_rates"]
    assert rates.shape == (plan["total_steps"],)
    eos = call("plan_epoch_of_step", _sgdm.plan_epoch_of_step, s)
    assert eos.tolist() == np.repeat(np.arange(epochs), s).tolist()
    bos = call("plan_batch_size_of_step", _sgdm.plan_batch_size_of_step, n, b, s)
    assert int(bos.sum()) == plan["sfo"], "the batch sizes of all steps do not sum to E*n"
    assert (bos >= 1).all() and (bos <= np.repeat(b, s)).all()
    a, w, v = call("plan_running_sums", _sgdm.plan_running_sums, rates, bos)
    for got, want in ((a, np.cumsum(rates)), (w, np.cumsum(rates / bos)), (v, np.cumsum(rates * rates / bos))):
        assert np.allclose(got, want, rtol=1e-9, atol=0, equal_nan=True)
    resolved = plan["lr_schedule"]
    idx = np.unique(np.linspace(0, len(rates) - 1, 25).astype(np.int64)) if len(rates) else []
    for t in idx:
        assert same_float(float(rates[t]), call("LrSchedule.value", resolved.value, int(t), int(eos[t])))


def prop_plan(n, epochs, bspec, lspec, swap):
    note(f"build_plan({n!r}, {epochs!r}, {bspec!r}, {lspec!r}, swap={swap})")
    try:
        batch = _sgdm.BatchSchedule(bspec)
    except ALLOWED:
        batch = _sgdm.BatchSchedule({"type": "constant", "size": 7})
    try:
        lr = _sgdm.LrSchedule(lspec)
    except ALLOWED:
        lr = _sgdm.LrSchedule({"type": "constant", "value": 0.1})
    args = (n, epochs, lr, batch) if swap else (n, epochs, batch, lr)
    ok, plan = outcome("build_plan", _sgdm.build_plan, *args)
    if not ok:
        COUNTS["raised"] += 1
        if _valid_clock(n) and _valid_clock(epochs) and n >= 1 and epochs >= 1 and not swap and n * epochs < 2**63:
            # A valid request may still be refused (a warm-up longer than the run, a schedule
            # needing a length it cannot get, too many steps), but only with SgdmError.
            assert isinstance(plan, sgdm.SgdmError), repr(plan)
        return
    COUNTS["ok"] += 1
    assert not swap and _valid_clock(n) and _valid_clock(epochs)
    plan_oracle(plan, int(n), int(epochs), lr)


HELPER_VALUES = [0, 1, 2, 3, -1, 2**31, 2**40, 2**62, 2**63 - 1, -(2**63)]


@st.composite
def helper_case(draw):
    m = draw(st.integers(0, 5))
    spe = draw(st.lists(st.integers(0, 4) | st.sampled_from(HELPER_VALUES), min_size=m, max_size=m))
    bs = draw(st.lists(st.integers(1, 8) | st.sampled_from(HELPER_VALUES), min_size=m, max_size=m))
    n = draw(st.integers(1, 40) | st.sampled_from(HELPER_VALUES + [2**63, None, 1.5]))
    dlen = draw(st.sampled_from([0] * 6 + [-1, 1]))
    odd = draw(st.sampled_from([None] * 6 + ARRAY_ODD))
    lrs_ = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6))
    bos = draw(st.lists(st.integers(1, 9) | st.sampled_from(HELPER_VALUES), min_size=len(lrs_), max_size=len(lrs_)))
    return spe, bs, n, dlen, odd, lrs_, bos


def prop_plan_helpers(case):
    spe, bs, n, dlen, odd, lrs_, bos = case
    note(f"plan helpers {case!r}")
    spe_a = clock_array(spe or [0], odd)[: len(spe)] if odd not in ("list",) else spe
    bs_a = np.array(bs, np.int64)
    if dlen == -1 and len(bs_a):
        bs_a = bs_a[:-1]
    elif dlen == 1:
        bs_a = np.append(bs_a, 4)
    plain = (isinstance(spe_a, np.ndarray) and spe_a.dtype == np.int64 and spe_a.dtype.isnative
             and spe_a.ndim == 1 and spe_a.flags.c_contiguous)
    if plain:
        spe = spe_a.tolist()
    sane = all(0 <= s <= 1000 for s in spe)
    ok, out = outcome("plan_epoch_of_step", _sgdm.plan_epoch_of_step, spe_a)
    if ok:
        assert plain and sane, f"epoch_of_step accepted {spe} ({odd})"
        assert out.tolist() == np.repeat(np.arange(len(spe)), spe).tolist()
    elif plain and sane:
        raise AssertionError(f"epoch_of_step refused {spe}: {out!r}")
    ok, out = outcome("plan_batch_size_of_step", _sgdm.plan_batch_size_of_step, n, bs_a, spe_a)
    consistent = (
        plain and sane and len(bs_a) == len(spe) and _valid_clock(n)
        and all(1 <= b <= 2**40 for b in bs_a.tolist())
        and all(s == 0 or 1 <= n - (s - 1) * b <= b for b, s in zip(bs_a.tolist(), spe))
    )
    if ok:
        want = []
        for b, s in zip(bs_a.tolist(), spe):
            if s > 0:
                want += [b] * (s - 1) + [n - (s - 1) * b]
        assert out.tolist() == want, f"batch_size_of_step: {out.tolist()} != {want}"
        assert all(1 <= x for x in want), "a step with no samples"
    elif consistent:
        raise AssertionError(f"batch_size_of_step refused a consistent layout: {out!r}")
    lr_a = np.array(lrs_, np.float64)
    bos_a = np.array(bos, np.int64)
    if dlen == -1 and len(bos_a):
        bos_a = bos_a[:-1]
    ok, sums = outcome("plan_running_sums", _sgdm.plan_running_sums, lr_a, bos_a)
    COUNTS["ok" if ok else "raised"] += 1
    if ok:
        assert len(bos_a) == len(lr_a), "running_sums accepted arrays of different lengths"
        b = bos_a.astype(np.float64)
        with np.errstate(all="ignore"):
            for got, want in zip(sums, (np.cumsum(lr_a), np.cumsum(lr_a / b), np.cumsum(lr_a * lr_a / b))):
                assert np.allclose(got, want, rtol=1e-9, equal_nan=True)
    elif len(bos_a) == len(lr_a) and all(x >= 1 for x in bos):
        raise AssertionError(f"running_sums refused valid input: {sums!r}")


# ---------------------------------------------------------------------------------------------
# target: thread setters (and the parallel path of the step)

THREADS = [1, 2, 3, 4, 0, -1, 2**31, 2**64, 10**6, True, 1.5, None, "2", np.int64(2)]


def prop_threads(threads, big, cfg, lr_seed):
    note(f"set_num_threads({threads!r}) big={big} cfg={cfg}")
    before = call("get_num_threads", _sgdm.get_num_threads)
    assert isinstance(before, int) and before >= 1
    ok, err = outcome("set_num_threads", _sgdm.set_num_threads, threads)
    valid = isinstance(threads, (int, np.integer)) and not isinstance(threads, bool) and 1 <= int(threads) <= 64
    if valid:
        assert ok, f"set_num_threads({threads}) raised {err!r}"
    now = call("get_num_threads", _sgdm.get_num_threads)
    if ok:
        COUNTS["ok"] += 1
        assert now == int(threads), f"set {threads}, got {now}"
    else:
        COUNTS["raised"] += 1
        assert now == before, "a refused thread count changed the pool"
    if big:
        # Over the parallel threshold (2^18 elements): the split must not change a bit.
        rng = np.random.default_rng(lr_seed)
        n = (1 << 18) + int(rng.integers(0, 1 << 17))
        dt = np.float32 if lr_seed % 2 else np.float64
        p, g, m = (values(rng, n).astype(dt) for _ in range(3))
        recipe_lists = ([p], [g], [m])
        snap = snapshot(recipe_lists)
        fs = call("FusedStep", _sgdm.FusedStep, cfg["momentum"], cfg["variant"], cfg["nesterov"],
                  cfg["weight_decay"], False)
        call("FusedStep.step", fs.step, [p], [g], [m], 0.01)
        (pe, me), = expected_step(snap, 0.01, cfg)
        assert same(p, pe) and same(m, me), f"parallel step with {now} threads differs from the reference"


# ---------------------------------------------------------------------------------------------

TARGETS = {
    "step": (prop_step, dict(args=ctor_args(), cfg=step_config(), recipe=step_arrays_recipe(), lr=lrs)),
    "sgdm": (prop_sgdm, dict(case=sgdm_case())),
    "lr_schedule": (prop_lr_schedule, dict(
        spec=lr_spec(),
        clocks=st.lists(st.tuples(clock_values, clock_values), min_size=1, max_size=5),
        odd=st.sampled_from([None] * 8 + ARRAY_ODD))),
    "batch_schedule": (prop_batch_schedule, dict(
        spec=batch_spec(),
        epochs=st.lists(clock_values, min_size=1, max_size=6),
        odd=st.sampled_from([None] * 8 + ARRAY_ODD))),
    "plan": (prop_plan, dict(
        n=st.integers(1, 3000) | st.sampled_from(N_ODD),
        epochs=st.integers(1, 30) | st.sampled_from(E_ODD),
        bspec=batch_spec(good_bias=97),
        lspec=lr_spec(good_bias=97),
        swap=st.sampled_from([False] * 15 + [True]))),
    "plan_helpers": (prop_plan_helpers, dict(case=helper_case())),
    "threads": (prop_threads, dict(
        threads=st.integers(1, 4) | st.sampled_from(THREADS),
        big=st.sampled_from([False] * 9 + [True]),
        cfg=step_config(),
        lr_seed=st.integers(0, 2**32 - 1))),
}

# Which target exercises each native entry point (checked against the module by the tests).
COVERAGE = {
    "FusedStep": "step",
    "FusedStep.step": "step",
    "LrSchedule": "lr_schedule",
    "LrSchedule.kind": "lr_schedule",
    "LrSchedule.uses_step": "lr_schedule",
    "LrSchedule.uses_epoch": "lr_schedule",
    "LrSchedule.check_ready": "lr_schedule",
    "LrSchedule.value": "lr_schedule",
    "LrSchedule.values": "lr_schedule",
    "BatchSchedule": "batch_schedule",
    "BatchSchedule.kind": "batch_schedule",
    "BatchSchedule.check_ready": "batch_schedule",
    "BatchSchedule.size": "batch_schedule",
    "BatchSchedule.sizes": "batch_schedule",
    "build_plan": "plan",
    "plan_epoch_of_step": "plan_helpers",
    "plan_batch_size_of_step": "plan_helpers",
    "plan_running_sums": "plan_helpers",
    "get_num_threads": "threads",
    "set_num_threads": "threads",
}


def main(argv=None) -> int:
    global _LAST
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--last-case", default=None, help="file that holds the case in progress")
    args = ap.parse_args(argv)
    faulthandler.enable()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    if args.last_case:
        _LAST = open(args.last_case, "w")
    prop, strategies = TARGETS[args.target]
    test = seed(args.seed)(settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )(given(**strategies)(prop)))
    test()
    print(json.dumps({
        "target": args.target,
        "seed": args.seed,
        "cases": COUNTS["cases"],
        "ok": COUNTS["ok"],
        "raised": COUNTS["raised"],
        **({"reasons": dict(REASONS)} if REASONS else {}),
        "calls": dict(CALLS),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
