"""Benchmark of the plan and of vectorised schedule evaluation (prints medians, in ms).

    python benches/bench_plan.py [--repeat 21]

1. ``Plan`` for the paper's largest setting: n = 50,000, 300 epochs, b from 8 doubling every
   30 epochs (374,760 steps); target < 10 ms. Reported for an epoch-type rate (cosine) and a
   step-type one (polynomial), without and with the per-step arrays derived on first access
   (``epoch_of_step``, ``batch_size_of_step`` and the three running sums).
2. ``lr.values(steps, epochs)`` over 10^6 clock values; target < 5 ms.
3. The same in a pure Python loop over the same formulas; target ratio >= 20x.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

import sgdm
from sgdm import Plan
from sgdm import schedules as S

N, EPOCHS = 50_000, 300


def median_ms(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def python_plan(lr_kind):
    """The plan's layout and rates with a Python loop (the baseline)."""
    sizes, steps, starts, rates = [], [], [], []
    t = 0
    for e in range(EPOCHS):
        b = min(math.ceil(8 * 2.0 ** (e // 30)), N)
        s = -(-N // b)
        sizes.append(b)
        steps.append(s)
        starts.append(t)
        t += s
    total = t
    t = 0
    for e in range(EPOCHS):
        for _ in range(steps[e]):
            if lr_kind == "cosine":
                rates.append(0.05 * (1 + math.cos(math.pi * e / EPOCHS)))
            else:
                rates.append(0.1 * (1 - min(t, total) / total) ** 2)
            t += 1
    return sizes, steps, starts, rates


def python_values(steps, kind):
    out = []
    for t in steps:
        if kind == "diminishing":
            out.append(0.1 / math.sqrt(t + 1))
        else:
            out.append(0.1 * (1 - min(t, 10**6) / 10**6) ** 2)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    r = args.repeat
    print(f"sgdm {sgdm.__version__}, threads = {sgdm.get_num_threads()}, repeat = {r}")

    bs = S.ExpGrowthBatchSize(8, 2.0, 30)
    print(
        f"\n1. Plan, n = {N}, {EPOCHS} epochs, b = 8 x2 every 30 epochs "
        f"({Plan(N, EPOCHS, bs, 0.1).total_steps} steps); target < 10 ms"
    )
    for name, lr in [("cosine", S.Cosine(0.1)), ("poly", S.Polynomial(0.1, power=2.0))]:
        build = median_ms(lambda: Plan(N, EPOCHS, bs, lr), r)

        def full():
            p = Plan(N, EPOCHS, bs, lr)
            p.epoch_of_step, p.lr_sq_over_batch_sum  # noqa: B018 (derive every array)

        everything = median_ms(full, r)
        py = median_ms(lambda: python_plan(name), max(3, r // 5))
        print(
            f"   {name:8s} build {build:7.3f} ms | with all per-step arrays {everything:7.3f} ms"
            f" | Python loop {py:8.1f} ms | ratio {py / build:6.0f}x (build), "
            f"{py / everything:5.0f}x (all)"
        )

    print("\n2./3. lr.values over 10^6 clock values; target < 5 ms, >= 20x a Python loop")
    steps = np.arange(10**6, dtype=np.int64)
    epochs = steps // 3333
    for name, lr in [
        ("diminishing", S.Diminishing(0.1)),
        ("poly", S.Polynomial(0.1, power=2.0, total_steps=10**6)),
        ("linear", S.Linear(0.1, total_steps=10**6)),
        ("cosine", S.Cosine(0.1, epochs=300)),
        ("warmup_cos", S.WarmupCosine(0.1, 30, 3, max_value=0.5, epochs=300)),
    ]:
        vec = median_ms(lambda: lr.values(steps, epochs), r)
        line = f"   {name:12s} vectorised {vec:7.3f} ms"
        if name in ("diminishing", "poly"):
            st = steps.tolist()
            py = median_ms(lambda: python_values(st, name), max(3, r // 5))
            line += f" | Python loop {py:8.1f} ms | ratio {py / vec:6.0f}x"
        print(line)
    scalar = S.Cosine(0.1, epochs=300)
    one = median_ms(lambda: [scalar(t, 7) for t in range(1000)], r) * 1e3 / 1000
    print(f"\n   scalar call lr(step, epoch): {one:.2f} µs")


if __name__ == "__main__":
    main()
