r"""The training engine: SGDM over a problem and a data set, following a run plan.

:func:`train` implements the data walk of PAPER.md §1. With :math:`n` training samples and the
plan's batch size :math:`b_e` for epoch :math:`e`:

- one generator ``np.random.default_rng`` per run (seeded from ``seed``) draws a fresh
  permutation of the training set at the start of every epoch;
- the epoch walks the permutation in consecutive batches of :math:`b_e`, the last, partial
  batch kept, so it has :math:`S_e = \lceil n/b_e\rceil` steps and costs exactly :math:`n`
  per-sample gradients (SFO); with :math:`b_e \ge n` it is one full-batch step;
- global step :math:`t` (never reset) computes the mean batch gradient :math:`g_t` and calls
  the fused optimizer once, ``opt.step(grads, lr=plan.learning_rates[t])``, on one
  :class:`sgdm.SGDM` created for the run.

Implementation: the shuffled training set is gathered once per epoch into a preallocated copy,
so each batch is a view and gradients go into preallocated buffers; the loop's own cost is a
few µs per step (``benches/bench_engine.py``). This holds one extra copy of the training set.
The initial parameters come from ``problem.init_params`` with a generator spawned from
``seed``, independent of the shuffling stream. A full-batch epoch (``b_e >= n``) uses the data
in its stored order (the mean gradient does not depend on it); its permutation is still drawn.

After each epoch (every ``record_every`` epochs, and always the last) it records one row with
the keys of :data:`ROW_KEYS`; a first row with ``epoch = 0`` records the initial point before
any step (``steps = sfo = 0``, ``wall_time = 0``; its ``batch_size`` and ``lr`` are the first
epoch's, the values about to be used). Row ``epoch = e`` (``e >= 1``) is the state after ``e``
epochs, and its ``batch_size`` / ``lr`` are those of that epoch (``lr`` of its last step).

``grad_norm_sq`` is :math:`\lVert\nabla f(\theta)\rVert^2` of the problem's exact full-training-set
objective (including the problem's own ``l2``, not the optimizer's ``weight_decay``), computed in
chunks; ``grad_norm_sq_min`` is its running minimum. ``wall_time`` counts the training steps
only (data walk, gradients, updates), cumulatively; the metric evaluation is timed separately
(``History.eval_time``).

A run diverges when a batch loss, the full loss or the gradient norm is not finite. The run then
stops: the last row has ``diverged = True`` (its metrics may be NaN/Inf) and ``steps``/``sfo``
count the steps actually taken. No exception is raised and no floating-point warning is
printed, so the other runs of a comparison go on.

The same ``seed`` gives the same history (bit for bit, except ``wall_time``) with either CPU
backend, ``"rust"`` or ``"numpy"``.

On the GPU (``backend="cupy"``, or ``"auto"`` with CuPy initial ``params``): the training and
test sets are copied to the device once; parameters, gradients, scratch and momentum live
there; each epoch's permutation is drawn on the CPU by the same seeded generator as on the CPU
(so both visit the same batches) and copied over (8n bytes); the shuffled gather, every
gradient and every update run on the device. The loop never waits for the GPU inside an
epoch: each batch loss stays on the device, where a one-thread kernel
(:class:`sgdm.gpu.DivergenceGate`) raises a flag at the first non-finite one, and the update
kernels read that flag and write nothing once it is set. At the end of the epoch one transfer
reads the flag, so a diverging run stops at the same step, with the same parameters, counts
and row, as on the CPU. The metrics are computed on the device and only their scalars come
back. The histories agree with the CPU run to rounding (cuBLAS sums in another order; the
optimizer step itself is bit-identical); ``History.params`` are then CuPy arrays.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from . import _validate, _xp
from ._sgdm import SgdmError
from .optim import SGDM
from .problems import DEFAULT_CHUNK_SIZE, Problem

__all__ = ["PlanLike", "History", "ROW_KEYS", "STATE_FORMAT", "run_state", "train"]

#: The keys of every history row, in order.
ROW_KEYS = (
    "epoch",
    "batch_size",
    "lr",
    "steps",
    "sfo",
    "grad_norm_sq",
    "grad_norm_sq_min",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "wall_time",
    "diverged",
)

_INT_KEYS = ("epoch", "batch_size", "steps", "sfo")


@runtime_checkable
class PlanLike(Protocol):
    """What the engine reads from a run plan (``sgdm.plan.Plan`` satisfies it).

    ``batch_sizes``, ``steps_per_epoch``, ``epoch_starts``: int64 arrays of shape ``(E,)``, the
    batch sizes already capped at ``n_samples``; ``learning_rates``: float64 ``(T,)``, one per
    global step.
    """

    epochs: int
    n_samples: int
    total_steps: int
    batch_sizes: np.ndarray
    steps_per_epoch: np.ndarray
    epoch_starts: np.ndarray
    learning_rates: np.ndarray


@dataclass
class History:
    """The record of one training run.

    Attributes
    ----------
    rows
        One dict per recorded epoch with exactly the keys of :data:`ROW_KEYS` (plain Python
        ``int``/``float``/``bool`` values), the initial point first.
    settings
        JSON-able metadata: problem, dataset, plan, optimizer settings, seed, backend, dtype.
    params
        The final parameters (the arrays trained in place).
    diverged, diverged_epoch
        Whether the run stopped on a non-finite value, and the epoch row where it did.
    eval_time, total_time
        Seconds spent evaluating metrics, and in the whole call (setup, training, evaluation).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    params: list[np.ndarray] = field(default_factory=list, repr=False)
    diverged: bool = False
    diverged_epoch: int | None = None
    eval_time: float = 0.0
    total_time: float = 0.0

    def to_columns(self) -> dict[str, np.ndarray]:
        """One array per key of :data:`ROW_KEYS` (int64 for counts, bool for ``diverged``,
        float64 otherwise), one entry per row."""
        cols: dict[str, np.ndarray] = {}
        for k in ROW_KEYS:
            values = [r[k] for r in self.rows]
            dtype = np.int64 if k in _INT_KEYS else bool if k == "diverged" else np.float64
            cols[k] = np.asarray(values, dtype=dtype)
        return cols

    @property
    def final(self) -> dict[str, Any]:
        """The last row."""
        if not self.rows:
            raise SgdmError("the history is empty")
        return self.rows[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: settings, rows and the divergence flags (not the parameters)."""
        return {
            "settings": self.settings,
            "diverged": self.diverged,
            "diverged_epoch": self.diverged_epoch,
            "eval_time": self.eval_time,
            "total_time": self.total_time,
            "rows": [dict(r) for r in self.rows],
        }

    def __len__(self) -> int:
        return len(self.rows)


def _check_plan(plan: Any, n: int) -> tuple[list[int], list[int], list[float]]:
    """Validate the plan against the training-set size; return batch sizes, steps and rates."""
    missing = [
        a
        for a in ("epochs", "n_samples", "batch_sizes", "steps_per_epoch", "learning_rates")
        if not hasattr(plan, a)
    ]
    if missing:
        raise SgdmError(f"plan lacks {', '.join(missing)}; expected an sgdm.plan.Plan")
    if int(plan.n_samples) != n:
        raise SgdmError(
            f"the plan is for n_samples = {int(plan.n_samples)} but the training set has {n} "
            "samples; build the plan with the dataset's n_train"
        )
    E = int(plan.epochs)
    bs = np.asarray(plan.batch_sizes, dtype=np.int64)
    spe = np.asarray(plan.steps_per_epoch, dtype=np.int64)
    lrs = np.asarray(plan.learning_rates, dtype=np.float64)
    if E < 1 or bs.shape != (E,) or spe.shape != (E,):
        raise SgdmError(
            f"plan has epochs = {E} but batch_sizes {bs.shape} and steps_per_epoch {spe.shape}; "
            "expected E >= 1 and one entry per epoch"
        )
    if np.any(bs < 1) or np.any(bs > n):
        raise SgdmError(f"plan batch sizes must be in [1, n_samples = {n}]; got {bs.min()}..{bs.max()}")
    expected = -(-n // bs)
    if not np.array_equal(spe, expected):
        e = int(np.flatnonzero(spe != expected)[0])
        raise SgdmError(
            f"plan.steps_per_epoch[{e}] = {spe[e]} but ceil(n / b) = {expected[e]} "
            f"(n = {n}, b = {bs[e]})"
        )
    T = int(spe.sum())
    if lrs.shape != (T,):
        raise SgdmError(f"plan.learning_rates has shape {lrs.shape}; expected ({T},), one per step")
    if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
        raise SgdmError("plan.learning_rates must be finite and >= 0")
    if hasattr(plan, "total_steps") and int(plan.total_steps) != T:
        raise SgdmError(f"plan.total_steps = {plan.total_steps} but the steps per epoch sum to {T}")
    if hasattr(plan, "epoch_starts"):
        starts = np.asarray(plan.epoch_starts, dtype=np.int64)
        if not np.array_equal(starts, np.concatenate([[0], np.cumsum(spe)[:-1]])):
            raise SgdmError("plan.epoch_starts does not match the cumulative steps per epoch")
    return bs.tolist(), spe.tolist(), lrs.tolist()


def _plan_info(plan: Any) -> dict[str, Any]:
    info = {
        "epochs": int(plan.epochs),
        "n_samples": int(plan.n_samples),
        "total_steps": int(np.sum(plan.steps_per_epoch)),
    }
    to_dict = getattr(plan, "to_dict", None)
    if callable(to_dict):
        try:
            info["spec"] = to_dict()
        except Exception:  # pragma: no cover - metadata only
            pass
    return info


STATE_FORMAT = "sgdm.train/1"


def run_state(
    epoch: int, step: int, sfo: int, params: Sequence[np.ndarray], opt: SGDM,
    rng: np.random.Generator, rows: Sequence[Mapping[str, Any]], best: float,
    train_time: float, eval_time: float,
) -> dict[str, Any]:
    """Everything needed to continue a run after ``epoch`` epochs (copies, JSON-able but for the
    arrays): the clock, parameters, optimizer state, shuffle-generator state and history."""
    return {
        "format": STATE_FORMAT,
        "epoch": epoch,
        "step": step,
        "sfo": sfo,
        "params": [_xp.to_numpy(p).copy() for p in params],  # host copies, also from the GPU
        "optimizer": opt.state_dict(),
        "rng": copy.deepcopy(rng.bit_generator.state),
        "rows": [dict(r) for r in rows],
        "best": best,
        "train_time": train_time,
        "eval_time": eval_time,
    }


def _restore(
    state: Mapping[str, Any], epochs: int, params: Sequence[np.ndarray], opt: SGDM,
    rng: np.random.Generator, rows: list[dict[str, Any]],
) -> tuple[int, int, int]:
    """Load ``state`` into the freshly built run; return (epoch, step, sfo) to continue from."""
    if state.get("format") != STATE_FORMAT:
        raise SgdmError(f"resume state is not an sgdm run state (expected format {STATE_FORMAT!r})")
    epoch = int(state["epoch"])
    if not 0 <= epoch <= epochs:
        raise SgdmError(f"resume state is at epoch {epoch}, but the plan has {epochs} epochs")
    saved = state["params"]
    if len(saved) != len(params) or any(
        np.shape(a) != p.shape or np.asarray(a).dtype != p.dtype for a, p in zip(saved, params)
    ):
        raise SgdmError("resume state's parameters do not match the problem (shapes or dtypes differ)")
    for p, a in zip(params, saved):
        p[...] = _xp.asarray(a, _xp.array_namespace(p))
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    rows.extend(dict(r) for r in state["rows"])
    return epoch, int(state["step"]), int(state["sfo"])


def train(
    problem: Problem,
    dataset: Any,
    plan: PlanLike,
    *,
    momentum: float = 0.9,
    variant: str = "shb",
    nesterov: bool = False,
    weight_decay: float = 0.0,
    backend: str = "auto",
    seed: int = 0,
    dtype: Any = None,
    callback: Callable[[int, dict[str, Any] | None], Any] | None = None,
    record_every: int = 1,
    record_initial: bool = True,
    params: Sequence[np.ndarray] | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    checkpoint: Callable[[dict[str, Any]], Any] | None = None,
    checkpoint_every: int = 0,
    resume: Mapping[str, Any] | None = None,
) -> History:
    """Train ``problem`` on ``dataset`` under ``plan`` with SGDM; return the :class:`History`.

    Parameters
    ----------
    problem
        A :class:`sgdm.problems.Problem` whose ``n_features`` and ``n_classes`` match the data.
    dataset
        A :class:`sgdm.datasets.Dataset` (anything with ``X_train``, ``y_train``, ``X_test``,
        ``y_test``; ``info()`` is used for metadata when present).
    plan
        The run plan (:class:`PlanLike`) built for ``n_samples = dataset.n_train``.
    momentum, variant, nesterov, weight_decay, backend
        Passed to :class:`sgdm.SGDM` (``backend`` ``"auto"`` | ``"rust"`` | ``"numpy"`` |
        ``"cupy"``). ``"cupy"`` trains on the GPU (see the module notes); ``"auto"`` does so
        when ``params`` are CuPy arrays.
    seed
        Seeds the initial parameters and the per-epoch shuffles (two independent streams
        spawned from ``np.random.SeedSequence(seed)``).
    dtype
        ``None`` (default): the problem's dtype. Otherwise it must equal the problem's dtype
        (build the problem with ``dtype=`` to train in float32).
    callback
        Called after every epoch as ``callback(epochs_done, row)``, with ``row`` the recorded
        dict or ``None`` when that epoch is not recorded; also once as ``callback(0, row)`` for
        the initial row. Its return value is ignored.
    record_every
        Record (and evaluate the full-set metrics) every this many epochs; the last epoch and a
        diverged epoch are always recorded. Larger values save the evaluation cost on big sets.
    record_initial
        Record the ``epoch = 0`` row of the initial point (default ``True``).
    params
        Initial parameters to start from instead of ``problem.init_params`` (copied).
    chunk_size
        Rows per chunk of the full-set evaluation (memory bound).
    checkpoint, checkpoint_every
        Every ``checkpoint_every`` epochs (and never after a divergence), call
        ``checkpoint(state)`` with the whole run state (see :func:`run_state`): parameters,
        momentum buffers, shuffle-generator state, clock and history so far. ``sgdm.checkpoint``
        saves it atomically.
    resume
        A state from ``checkpoint`` to continue from, with the same problem, data, plan and
        settings: the rest of the run is then bit-identical to an uninterrupted run (except the
        ``wall_time`` column).
    """
    t_call = time.perf_counter()
    X_tr = getattr(dataset, "X_train", None)
    if X_tr is None:
        raise SgdmError("dataset lacks X_train; expected an sgdm.datasets.Dataset")
    if dtype is not None and np.dtype(dtype) != problem.dtype:
        raise SgdmError(
            f"dtype = {np.dtype(dtype).name} differs from the problem's dtype "
            f"{problem.dtype.name}; build the problem with dtype={np.dtype(dtype).name}"
        )
    _validate.check_int(record_every, "record_every", 1)
    _validate.check_int(seed, "seed", 0)
    _validate.check_int(checkpoint_every, "checkpoint_every", 0)
    dt = problem.dtype
    on_gpu = backend == "cupy" or (
        backend == "auto" and params is not None and _xp.any_cupy(list(params))
    )
    if on_gpu:
        from . import gpu

        xp = gpu.require_cupy()
    else:
        xp = np
    X = _xp.asarray(dataset.X_train, xp, dt)
    y = _xp.asarray(dataset.y_train, xp, np.int64)
    X_te = _xp.asarray(dataset.X_test, xp, dt)
    y_te = _xp.asarray(dataset.y_test, xp, np.int64)
    n = X.shape[0]
    if X.ndim != 2 or X.shape[1] != problem.n_features:
        raise SgdmError(
            f"the training set has shape {X.shape}; the problem expects {problem.n_features} features"
        )
    n_classes = getattr(dataset, "n_classes", None)
    if n_classes is not None and int(n_classes) != problem.n_classes:
        raise SgdmError(
            f"the dataset has {n_classes} classes; the problem was built for {problem.n_classes}"
        )
    for name, labels in (("training", dataset.y_train), ("test", dataset.y_test)):
        # Once per run, on the host: the loop then skips the problem's per-call checks.
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= problem.n_classes):
            raise SgdmError(
                f"the {name} labels run {labels.min()}..{labels.max()}; the problem expects "
                f"0..{problem.n_classes - 1}"
            )
    batch_sizes, steps_per_epoch, lrs = _check_plan(plan, n)
    E = len(batch_sizes)

    init_ss, shuffle_ss = np.random.SeedSequence(int(seed)).spawn(2)
    if params is None:
        params = problem.init_params(np.random.default_rng(init_ss))  # drawn on the CPU
        if on_gpu:
            params = [xp.asarray(p) for p in params]
    elif on_gpu:
        params = [xp.array(p, dtype=dt, order="C", copy=True) for p in params]
    else:
        params = [np.array(_xp.to_numpy(p), dtype=dt, order="C", copy=True) for p in params]
    problem.check_params(params)
    rng = np.random.default_rng(shuffle_ss)
    opt = SGDM(
        params,
        lr=lrs[0],
        momentum=momentum,
        variant=variant,
        nesterov=nesterov,
        weight_decay=weight_decay,
        backend=backend,
    )
    grads = problem.zeros_like_params(params)
    # Each epoch gathers the whole training set once, in its shuffled order, into these
    # buffers; every batch is then a contiguous slice (a view): no per-step gather or copy.
    # Cost: one extra copy of the training set in memory (skipped if every epoch is full-batch).
    needs_shuffle = any(b < n for b in batch_sizes)
    X_shuf = xp.empty_like(X) if needs_shuffle else X
    y_shuf = xp.empty_like(y) if needs_shuffle else y
    n_test = X_te.shape[0]

    history = History(
        settings={
            "problem": problem.describe(),
            "dataset": dataset.info() if callable(getattr(dataset, "info", None)) else {"n_train": n},
            "plan": _plan_info(plan),
            "optimizer": {
                "momentum": opt.momentum,
                "variant": opt.variant,
                "nesterov": opt.nesterov,
                "weight_decay": opt.weight_decay,
                "backend": opt.backend,
            },
            "seed": int(seed),
            "dtype": dt.name,
            "record_every": int(record_every),
        },
        params=params,
    )
    rows = history.rows
    best = math.nan  # running minimum of the finite grad_norm_sq values so far
    train_time = 0.0
    eval_time = 0.0
    t = 0  # global step
    sfo = 0
    first_epoch = 0
    if resume is not None:
        first_epoch, t, sfo = _restore(resume, E, params, opt, rng, rows)
        best, train_time, eval_time = resume["best"], resume["train_time"], resume["eval_time"]

    def record(epoch: int, b: int, lr: float, steps: int, sfo: int, failed: bool) -> dict[str, Any]:
        nonlocal best, eval_time
        t0 = time.perf_counter()
        loss, acc, gns = problem.evaluate(params, X, y, chunk_size)
        if n_test:
            te_loss, te_acc = problem.loss_and_accuracy(params, X_te, y_te, chunk_size)
        else:
            te_loss = te_acc = math.nan
        eval_time += time.perf_counter() - t0
        diverged = failed or not (math.isfinite(loss) and math.isfinite(gns))
        if not math.isnan(gns):
            best = gns if math.isnan(best) else min(best, gns)
        row = {
            "epoch": epoch,
            "batch_size": b,
            "lr": lr,
            "steps": steps,
            "sfo": sfo,
            "grad_norm_sq": gns,
            "grad_norm_sq_min": best,
            "train_loss": loss,
            "train_accuracy": acc,
            "test_loss": te_loss,
            "test_accuracy": te_acc,
            "wall_time": train_time,
            "diverged": diverged,
        }
        rows.append(row)
        return row

    take = np.take
    isfinite = math.isfinite
    perf = time.perf_counter
    # X and y were checked above, so the loop takes the unchecked path, unless a subclass
    # customised the public method (then that is what must run).
    checked = type(problem).loss_and_grad is not Problem.loss_and_grad
    loss_and_grad = problem.loss_and_grad if checked else problem._unchecked_loss_and_grad
    step = opt.step
    if on_gpu:
        # the engine's own gradient buffers: checked once here, not at every step
        kernel = opt._kernel
        assert isinstance(kernel, gpu.CupyKernel)  # what SGDM builds for backend "cupy"
        kernel.check(opt._params, grads, lrs[0])
        gpu_epoch = _gpu_epoch_runner(problem, opt, grads, X, y, X_shuf, y_shuf, lrs, rng, n)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if record_initial and resume is None:
            initial_row = record(0, batch_sizes[0], lrs[0], 0, 0, False)
            if callback is not None:
                callback(0, initial_row)
            if initial_row["diverged"]:  # a non-finite starting point
                history.diverged, history.diverged_epoch = True, 0
        for e in range(first_epoch, E if not history.diverged else first_epoch):
            b = batch_sizes[e]
            if on_gpu:
                t0 = perf()
                done, failed = gpu_epoch(b, t)  # waits for the device once, at the end
                train_time += perf() - t0
                t += done
                sfo += n if not failed else done * b  # batches before a failure are full
            else:
                t0 = perf()
                perm = rng.permutation(n)  # drawn every epoch, full-batch ones included
                if b < n:
                    take(X, perm, axis=0, out=X_shuf, mode="clip")
                    take(y, perm, out=y_shuf, mode="clip")
                    Xe, ye = X_shuf, y_shuf
                else:  # one full-batch step: the order does not change the mean gradient
                    Xe, ye = X, y
                failed = False
                for lo in range(0, n, b):
                    hi = lo + b
                    if not isfinite(loss_and_grad(params, Xe[lo:hi], ye[lo:hi], grads)):
                        failed = True
                        break
                    step(grads, lrs[t])
                    t += 1
                    sfo += (hi if hi < n else n) - lo
                train_time += perf() - t0
            epoch = e + 1
            row: dict[str, Any] | None = None
            if failed or epoch % record_every == 0 or epoch == E:
                # lr of the epoch's last step (of the step that failed, on divergence)
                row = record(epoch, b, lrs[t] if failed else lrs[t - 1], t, sfo, failed)
            if callback is not None:
                callback(epoch, row)
            if row is not None and row["diverged"]:
                history.diverged, history.diverged_epoch = True, epoch
                break
            if checkpoint is not None and checkpoint_every and epoch % checkpoint_every == 0:
                checkpoint(run_state(epoch, t, sfo, params, opt, rng, rows, best, train_time, eval_time))
    history.eval_time = eval_time
    history.total_time = time.perf_counter() - t_call
    return history


def _gpu_epoch_runner(problem, opt, grads, X, y, X_shuf, y_shuf, lrs, rng, n):
    """The GPU epoch: ``run(b, t) -> (steps taken, failed)``, with one host wait per epoch.

    Same data walk as the CPU loop: the permutation comes from the same generator (drawn on
    the CPU, copied to the device), batches are consecutive slices of the gathered copy, the
    last partial batch is kept. See the module notes for the divergence gate.
    """
    import cupy as cp

    from .gpu import DivergenceGate

    gate = DivergenceGate()
    kernel = opt._kernel
    params, momenta = opt._params, opt._momenta
    batch = problem._unchecked_loss_and_grad
    observe, launch = gate.observe, kernel.launch

    def run(b: int, t: int) -> tuple[int, bool]:
        perm = rng.permutation(n)  # drawn every epoch, full-batch ones included
        if b < n:
            perm_d = cp.asarray(perm)
            cp.take(X, perm_d, axis=0, out=X_shuf)
            cp.take(y, perm_d, out=y_shuf)
            Xe, ye = X_shuf, y_shuf
        else:
            Xe, ye = X, y
        j = 0
        for lo in range(0, n, b):
            loss = batch(params, Xe[lo : lo + b], ye[lo : lo + b], grads)
            observe(loss, j)
            launch(params, grads, momenta, lrs[t + j], gate.state)
            j += 1
        bad = gate.read()  # the one synchronisation of the epoch
        if bad is None:
            opt.step_count += j
            return j, False
        gate.reset()
        opt.step_count += bad
        return bad, True

    return run
