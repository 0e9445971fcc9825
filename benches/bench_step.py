"""Speed of the fused SGDM step (issue: core kernels). Prints medians; not a timed test.

Targets on the 2-core reference machine:
  * float32 single array of 1e7 and 5e7 elements: >= 2x the best in-place NumPy update, and an
    effective bandwidth (5 streams: read p, g, m; write p, m) >= 90% of a STREAM triad measured
    in the same run (Rust, same thread count);
  * small-MLP parameter list (64x128, 128, 128x10, 10; float32): <= 2.5 us per step and >= 4x a
    NumPy per-tensor loop (PyTorch's SGD(fused=True) is shown when installed);
  * 2 threads vs 1 at 1e6 elements: faster, and no slowdown for small arrays.

Run: python benches/bench_step.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import sgdm

ROOT = Path(__file__).resolve().parents[1]
BETA, LR = 0.9, 0.01


def time_samples(fn, repeats: int, inner: int = 1) -> list[float]:
    """Seconds per call, one sample per batch of ``inner`` calls, after a warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return samples


def median_time(fn, repeats: int, inner: int = 1) -> float:
    return float(np.median(time_samples(fn, repeats, inner)))


def numpy_inplace_step(p, g, m, tmp):
    """The best pure-NumPy SHB update: no temporaries, four passes."""
    np.multiply(m, BETA, out=m)
    np.add(m, g, out=m)
    np.multiply(m, LR, out=tmp)
    np.subtract(p, tmp, out=p)


def stream_triad(n: int, threads: int) -> float | None:
    cmd = ["cargo", "run", "-q", "--release", "-p", "sgdm-core", "--example", "stream_triad", "--",
           str(n), str(threads)]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.CalledProcessError, ValueError) as err:
        print(f"  (STREAM triad unavailable: {err})")
        return None


def bench_large(sizes, repeats):
    print("== float32 single array: fused step vs in-place NumPy, bandwidth vs STREAM triad")
    threads = sgdm.get_num_threads()
    for n in sizes:
        rng = np.random.default_rng(0)
        p, g = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
        m, tmp = np.zeros_like(p), np.empty_like(p)
        opt = sgdm.SGDM([p], lr=LR, momentum=BETA)
        grads = [g]
        t_sgdm = median_time(lambda: opt.step(grads), repeats)
        t_numpy = median_time(lambda: numpy_inplace_step(p, g, m, tmp), repeats)
        bandwidth = 5 * 4 * n / t_sgdm / 1e9
        triad = stream_triad(n, threads)
        line = (f"  n={n:.0e}: sgdm {t_sgdm * 1e3:7.2f} ms ({bandwidth:5.1f} GB/s, {threads} threads)"
                f" | numpy {t_numpy * 1e3:7.2f} ms | speed-up {t_numpy / t_sgdm:4.2f}x")
        if triad:
            line += f" | triad {triad:5.1f} GB/s -> {100 * bandwidth / triad:5.1f}% of triad"
        print(line)


def mlp_params():
    rng = np.random.default_rng(0)
    shapes = [(64, 128), (128,), (128, 10), (10,)]
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    return params, grads


def bench_small(repeats):
    print("== small MLP parameter list (64x128, 128, 128x10, 10), float32: time per step")
    params, grads = mlp_params()
    opt = sgdm.SGDM(params, lr=LR, momentum=BETA)
    # This VM's speed drifts by tens of percent from one second to the next: many short samples,
    # and the best one next to the median.
    samples = time_samples(lambda: opt.step(grads), 10 * repeats, inner=500)
    t_sgdm, t_best = float(np.median(samples)), min(samples)
    moms = [np.zeros_like(p) for p in params]
    tmps = [np.empty_like(p) for p in params]

    def numpy_loop():
        for p, g, m, t in zip(params, grads, moms, tmps):
            numpy_inplace_step(p, g, m, t)

    t_numpy = median_time(numpy_loop, repeats, inner=500)
    print(f"  sgdm {t_sgdm * 1e6:6.2f} us (best {t_best * 1e6:.2f}) | numpy loop {t_numpy * 1e6:6.2f} us "
          f"| speed-up {t_numpy / t_sgdm:4.1f}x")
    try:
        import torch
    except ImportError:
        print("  (PyTorch not installed: fused SGD not measured)")
        return
    tparams = [torch.tensor(p, requires_grad=False) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.tensor(g)
    topt = torch.optim.SGD(tparams, lr=LR, momentum=BETA, fused=True)
    t_torch = median_time(topt.step, repeats, inner=500)
    print(f"  torch SGD(fused=True) {t_torch * 1e6:6.2f} us -> sgdm is {t_torch / t_sgdm:4.1f}x faster")


def bench_threads(repeats):
    print("== threads: 2 vs 1 (same results; speed only)")
    before = sgdm.get_num_threads()
    try:
        for n in (1_000, 100_000, 1_000_000, 4_000_000):
            rng = np.random.default_rng(0)
            p, g = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
            opt = sgdm.SGDM([p], lr=LR, momentum=BETA)
            # Interleaved rounds, best median per setting: the order of measurement must not
            # decide (the first runs after an allocation pay page faults and clock ramp-up).
            times = {1: float("inf"), 2: float("inf")}
            for _ in range(3):
                for threads in (1, 2):
                    sgdm.set_num_threads(threads)
                    inner = max(1, 200_000 // n)
                    times[threads] = min(times[threads], median_time(lambda: opt.step([g]), repeats, inner=inner))
            print(f"  n={n:>9,}: 1 thread {times[1] * 1e6:9.1f} us | 2 threads {times[2] * 1e6:9.1f} us "
                  f"| ratio {times[1] / times[2]:4.2f}x")
    finally:
        sgdm.set_num_threads(before)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller arrays")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    print(f"sgdm {sgdm.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"{sgdm.get_num_threads()} sgdm threads, python {sys.version.split()[0]}")
    bench_large([10_000_000] if args.quick else [10_000_000, 50_000_000], repeats)
    bench_small(repeats)
    bench_threads(repeats)


if __name__ == "__main__":
    main()
