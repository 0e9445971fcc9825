"""Benchmark of the training engine.

1. The loop's own overhead per step (everything but the model's maths): a problem whose
   ``loss_and_grad`` does nothing, tiny parameters, batch sizes 1 and 8. The time then is the
   per-epoch shuffle (one gather of the whole set, amortised), the batch views, the
   learning-rate lookup, the fused optimizer call and the loop itself.
   Target: < 10 µs per step.
2. The model's maths per step: ``loss_and_grad`` of each problem on ``digits``-like shapes
   (d = 64, K = 10; the MLP with 64 hidden units) at batch sizes 8, 32, 128 and 1024, µs per
   call (best of several repeats: at small batches this is array-library call overhead).
3. 300 epochs of logistic regression on ``digits`` under the warm-up strategy of PAPER.md §5
   (b_0 = 8 doubling every 30 epochs, capped at n; η warmed up from 0.1 to 1.0 over 30 epochs,
   growing every 3; NSHB, β = 0.9), with a hand-made plan, metrics every epoch.

Run: ``python benches/bench_engine.py`` (``--quick`` for a shorter run). BLAS threads matter on
a small shared machine: like the ``sgdm`` command, this pins them to one unless
``OPENBLAS_NUM_THREADS`` is set (multi-threaded BLAS made the 300-epoch run 5x slower here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the BLAS thread setting)

import sgdm  # noqa: E402
from sgdm.datasets import Dataset, load_dataset
from sgdm.engine import train
from sgdm.problems import MLP, LogisticRegression


class NullProblem(LogisticRegression):
    """No maths at all: isolates the engine's per-step cost."""

    def loss_and_grad(self, params, X, y, out):
        return 0.0


def overhead(n: int, batch: int, epochs: int, backend: str) -> float:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    y = np.arange(n) % 2
    ds = Dataset("null", X, y, X[:2], y[:2], 2, np.arange(2), ("a", "b", "c", "d"), "bench",
                 False, 0, None)
    plan = sgdm.Plan(n, epochs, batch, 0.01)
    # record only at the end so that the evaluation does not count
    hist = train(NullProblem(4, 2), ds, plan, record_every=epochs, record_initial=False,
                 backend=backend)
    return hist.final["wall_time"] / hist.final["steps"] * 1e6


def components() -> dict[str, float]:
    """µs per call of the pieces of one step."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 4))
    params = [np.zeros((4, 2)), np.zeros(2)]
    grads = [np.zeros((4, 2)), np.zeros(2)]
    out = {}
    for backend in ("rust", "numpy"):
        opt = sgdm.SGDM(params, lr=0.01, backend=backend)
        t = time.perf_counter()
        for _ in range(20_000):
            opt.step(grads, 0.01)
        out[f"opt.step ({backend})"] = (time.perf_counter() - t) / 20_000 * 1e6
    X_shuf = np.empty_like(X)
    t = time.perf_counter()
    for _ in range(20):
        np.take(X, rng.permutation(20_000), axis=0, out=X_shuf, mode="clip")
    out["epoch shuffle+gather /sample"] = (time.perf_counter() - t) / (20 * 20_000) * 1e6
    return out


BATCHES = (8, 32, 128, 1024)


def problem_calls(repeats: int) -> dict[str, list[float]]:
    """µs per ``loss_and_grad`` call, best of ``repeats``, at each of ``BATCHES``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(max(BATCHES), 64))
    problems = {
        "logreg, 10 classes": (LogisticRegression(64, 10), rng.integers(0, 10, len(X))),
        "logreg, binary": (LogisticRegression(64, 2), rng.integers(0, 2, len(X))),
        "mlp, 64 hidden": (MLP(64, 10), rng.integers(0, 10, len(X))),
    }
    out = {}
    for name, (problem, y) in problems.items():
        params = [p + 0.05 * rng.normal(size=p.shape) for p in problem.init_params(0)]
        grads = problem.zeros_like_params(params)
        times = []
        for b in BATCHES:
            Xb, yb = X[:b], y[:b]
            calls = max(50, 50_000 // b)
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                for _ in range(calls):
                    problem.loss_and_grad(params, Xb, yb, grads)
                best = min(best, (time.perf_counter() - t) / calls)
            times.append(best * 1e6)
        out[name] = times
    return out


def warmup_run(epochs: int) -> None:
    t0 = time.perf_counter()
    ds = load_dataset("digits")
    t_load = time.perf_counter() - t0
    E = epochs
    strategy = sgdm.strategies.get("warmup", epochs=E, lr_max=1.0, after_warmup="constant")
    plan = strategy.plan(ds.n_train)
    problem = LogisticRegression(ds.n_features, ds.n_classes)
    hist = train(problem, ds, plan, momentum=strategy.momentum, variant=strategy.variant, seed=0)
    last = hist.final
    print(f"\nwarm-up, logreg on digits, {E} epochs, {plan.total_steps} steps, n = {ds.n_train}:")
    print(f"  load digits            {t_load:6.2f} s")
    print(f"  train() total          {hist.total_time:6.2f} s")
    print(f"    training steps       {last['wall_time']:6.2f} s "
          f"({last['wall_time'] / plan.total_steps * 1e6:.1f} µs/step incl. maths)")
    print(f"    metrics ({len(hist)} rows)   {hist.eval_time:6.2f} s")
    print(f"  final ‖∇f‖² = {last['grad_norm_sq']:.3e} (min {last['grad_norm_sq_min']:.3e}), "
          f"test accuracy {last['test_accuracy']:.4f}, diverged: {hist.diverged}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, sgdm {sgdm.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")
    epochs = 2 if args.quick else 5
    print("\nengine overhead per step (null problem, tiny parameters):")
    for backend in ("rust", "numpy"):
        for batch in (1, 8):
            us = min(overhead(20_000, batch, epochs, backend) for _ in range(3))
            print(f"  backend={backend:5s} b={batch:<3d} {us:6.2f} µs/step")
    for k, v in components().items():
        print(f"  {k:30s} {v:6.2f} µs")
    repeats = 3 if args.quick else 7
    print(f"\nloss_and_grad per call (d = 64, K = 10), best of {repeats}, µs at b = "
          f"{', '.join(map(str, BATCHES))}:")
    for name, times in problem_calls(repeats).items():
        print(f"  {name:20s}" + "".join(f"{t:9.1f}" for t in times))
    warmup_run(60 if args.quick else 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
