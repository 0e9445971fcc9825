"""GPU benchmark of the CuPy backend (issue 5). Prints a report; not a timed test.

Targets (reference machine: one H200, CuPy and PyTorch installed):
  * fused step, float32, 1e8 and 1e9 elements: effective bandwidth (5 streams: read p, g, m;
    write p, m) >= 85% of the device copy bandwidth measured in this run (read + write of a
    large buffer, about 4.3 TB/s on an H200), and at least as fast as PyTorch's
    SGD(momentum, fused=True) on the same tensors;
  * the MLP training loop (sgdm.engine, one epoch timed after a warm-up epoch) at batch sizes
    8 ... 4096 on the GPU against the CPU: the batch sizes where the GPU wins, and at batch 8
    the GPU's extra time per step against its kernel-launch count.

Run: python benches/bench_gpu.py [--quick | --smoke] [--json FILE]   (about 2 minutes on an H200)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import sgdm
from sgdm import gpu

BETA, LR = 0.9, 0.01


def device_time(cp, fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn`` measured with CUDA events (device time, launch included)."""
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeats):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(np.median(times))


def copy_bandwidth(cp, n: int, repeats: int) -> float:
    """Bytes per second of a device-to-device copy, counting read and write."""
    src = cp.ones(n, dtype=cp.float32)
    dst = cp.empty_like(src)
    t = device_time(cp, lambda: cp.copyto(dst, src), repeats)
    src = dst = None  # free before the next allocation
    cp.get_default_memory_pool().free_all_blocks()
    return 2 * 4 * n / t


def fused_step(cp, n: int, repeats: int, copy_bw: float) -> dict:
    p = cp.random.standard_normal(n, dtype=cp.float32)
    g = cp.random.standard_normal(n, dtype=cp.float32)
    opt = sgdm.SGDM([p], lr=LR, momentum=BETA, backend="cupy")
    t = device_time(cp, lambda: opt.step([g]), repeats)
    m = opt.momentum_buffers[0]
    t_ew = device_time(cp, lambda: gpu.fused_step(p, g, m, LR, BETA), repeats)
    bw = 5 * 4 * n / t
    out = {"n": n, "seconds": t, "bandwidth": bw, "fraction_of_copy": bw / copy_bw,
           "elementwise_seconds": t_ew, "elementwise_fraction": 5 * 4 * n / t_ew / copy_bw}
    p = g = m = opt = None
    cp.get_default_memory_pool().free_all_blocks()
    return out


#: Launch shapes of the multi-tensor kernel timed against the default (threads, items each).
GEOMETRIES = [(128, 4), (256, 4), (256, 8), (512, 4), (256, 16), (1024, 4)]


def geometry_sweep(cp, n: int, repeats: int, copy_bw: float) -> list[dict]:
    """The multi-tensor kernel on one float32 tensor of ``n`` elements in each geometry: the
    data for choosing ``gpu.DEFAULT_GEOMETRY`` on this device (the results are bit-identical)."""
    p = cp.random.standard_normal(n, dtype=cp.float32)
    g = cp.random.standard_normal(n, dtype=cp.float32)
    m = cp.zeros_like(p)
    rows = []
    for block, items in GEOMETRIES:
        geometry = gpu.Geometry(block, items)
        kernel = gpu.CupyKernel(BETA, "nshb", False, 0.0, False, geometry=geometry)
        t = device_time(cp, lambda: kernel.launch([p], [g], [m], LR), repeats)
        rows.append({"block": block, "items": items, "seconds": t,
                     "fraction_of_copy": 5 * 4 * n / t / copy_bw,
                     "default": geometry == gpu.DEFAULT_GEOMETRY})
    p = g = m = None
    cp.get_default_memory_pool().free_all_blocks()
    return rows


def torch_fused(n: int, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    p = torch.randn(n, device="cuda", dtype=torch.float32, requires_grad=True)
    p.grad = torch.randn(n, device="cuda", dtype=torch.float32)
    opt = torch.optim.SGD([p], lr=LR, momentum=BETA, fused=True)
    with torch.no_grad():
        for _ in range(3):  # the first step creates the buffer: not timed
            opt.step()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            opt.step()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
    del p, opt
    torch.cuda.empty_cache()
    return float(np.median(times))


def mlp_loop(batch_sizes, n: int) -> list[dict]:
    """Seconds per training step of sgdm.engine (2nd epoch), CPU (rust) and GPU (cupy)."""
    from sgdm import datasets, engine, problems, strategies

    ds = datasets.load_dataset("synthetic", seed=0, n_samples=int(n / 0.8) + 1, n_features=64,
                               n_classes=10)
    rows = []
    for b in batch_sizes:
        plan = strategies.get("baseline", epochs=2, init_bs=b, init_lr=0.01).plan(ds.n_train)
        row = {"batch_size": b, "steps_per_epoch": int(plan.steps_per_epoch[1])}
        for backend in ("rust", "cupy"):
            prob = problems.MLP(64, 10, hidden=(256, 256), dtype=np.float32)
            h = engine.train(prob, ds, plan, seed=0, backend=backend)
            steps = h.rows[2]["steps"] - h.rows[1]["steps"]
            row[backend] = (h.rows[2]["wall_time"] - h.rows[1]["wall_time"]) / steps
        row["gpu_speedup"] = row["rust"] / row["cupy"]
        rows.append(row)
        print(f"  b = {b:5d}: CPU {row['rust'] * 1e6:9.1f} us/step   GPU {row['cupy'] * 1e6:9.1f} "
              f"us/step   GPU speed-up {row['gpu_speedup']:6.2f}x", flush=True)
    return rows


def launches_per_step(cp, batch_size: int) -> float | None:
    """CUDA kernels launched per training step of the MLP loop on the GPU, counted by PyTorch's
    profiler (CUPTI sees every kernel of the process, CuPy's included): the kernels of a
    2-epoch run minus those of a 1-epoch run, over the second epoch's steps, so set-up and the
    metrics of the last epoch cancel. ``None`` when PyTorch with CUDA is missing or its
    profiler fails."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    from sgdm import datasets, engine, problems, strategies

    ds = datasets.load_dataset("synthetic", seed=0, n_samples=1000, n_features=64, n_classes=10)

    def kernels(epochs: int) -> tuple[int, int]:
        plan = strategies.get("baseline", epochs=epochs, init_bs=batch_size, init_lr=0.01).plan(ds.n_train)
        prob = problems.MLP(64, 10, hidden=(256, 256), dtype=np.float32)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            engine.train(prob, ds, plan, seed=0, backend="cupy", record_every=epochs)
            cp.cuda.Device().synchronize()
        names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        return sum(not n.startswith(("Memcpy", "Memset")) for n in names), int(plan.steps_per_epoch[-1])

    try:
        one, _ = kernels(1)
        two, steps = kernels(2)
    except Exception as err:  # a profiler that cannot attach here must not stop the benchmark
        print(f"  (kernel count not measured: {type(err).__name__}: {err})")
        return None
    return (two - one) / steps if two > one else None


def launch_overhead(cp, repeats: int = 2000) -> float:
    """Host seconds per launch of an empty-ish CuPy kernel (the floor of a small-batch step)."""
    x = cp.zeros(1, dtype=cp.float32)
    for _ in range(50):
        x += 1
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        x += 1
    cp.cuda.Device().synchronize()
    return (time.perf_counter() - t0) / repeats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (about 30 s)")
    size.add_argument("--smoke", action="store_true",
                      help="tiny sizes: checks that every part runs (tests/test_hostcupy.py)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    try:
        cp = gpu.require_cupy()
    except sgdm.SgdmError as err:
        print(f"bench_gpu: {err}", file=sys.stderr)
        return 2
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    free, total = cp.cuda.runtime.memGetInfo()
    print(f"device: {name}, {total / 2**30:.0f} GiB ({free / 2**30:.0f} free); CuPy {cp.__version__}")
    results: dict = {"device": name, "cupy": cp.__version__}

    if args.smoke:
        sizes, repeats, copy_n, bss, mlp_n = [10**4, 3 * 10**4], 3, 10**4, [8, 512], 1024
    elif args.quick:
        sizes, repeats, copy_n, bss, mlp_n = [10**7, 10**8], 10, 10**7, [8, 64, 512, 4096], 8192
    else:
        sizes, repeats, copy_n = [10**8, 10**9], 20, 2 * 10**8
        bss, mlp_n = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], 32768
    sizes = [n for n in sizes if 3 * 4 * n * 1.2 < free]
    copy_bw = copy_bandwidth(cp, max(sizes[0], copy_n), repeats)
    print(f"\ncopy bandwidth (read + write): {copy_bw / 1e12:.2f} TB/s")
    results["copy_bandwidth"] = copy_bw

    print("\nfused SGDM step, float32 (5 streams: read p, g, m; write p, m)")
    results["fused"] = []
    for n in sizes:
        r = fused_step(cp, n, repeats, copy_bw)
        t_torch = torch_fused(n, repeats)
        r["torch_seconds"] = t_torch
        verdict = "meets" if r["fraction_of_copy"] >= 0.85 else "MISSES"
        line = (f"  n = {n:.0e}: {r['seconds'] * 1e3:8.3f} ms  {r['bandwidth'] / 1e12:5.2f} TB/s  "
                f"{100 * r['fraction_of_copy']:5.1f}% of copy ({verdict} the 85% target); "
                f"elementwise kernel {100 * r['elementwise_fraction']:5.1f}%")
        if t_torch is not None:
            line += (f"; torch SGD(fused=True) {t_torch * 1e3:8.3f} ms -> sgdm "
                     f"{t_torch / r['seconds']:.2f}x")
        else:
            line += "; PyTorch with CUDA not available"
        print(line, flush=True)
        results["fused"].append(r)

    n_geo = sizes[-1] if args.smoke else min(sizes[-1], 10**8)
    print(f"\nmulti-tensor kernel geometry, n = {n_geo:.0e} float32 (threads x items per thread)")
    geos = geometry_sweep(cp, n_geo, repeats, copy_bw)
    for r in geos:
        mark = "  (default)" if r["default"] else ""
        print(f"  {r['block']:4d} x {r['items']:2d}: {r['seconds'] * 1e3:8.3f} ms  "
              f"{100 * r['fraction_of_copy']:5.1f}% of copy{mark}")
    best = max(geos, key=lambda r: r["fraction_of_copy"])
    print(f"  best: {best['block']} x {best['items']}")
    results["geometries"] = geos

    overhead = launch_overhead(cp)
    print(f"\nkernel launch (host) overhead: {overhead * 1e6:.1f} us")
    results["launch_overhead"] = overhead

    print("\nMLP 64-256-256-10 float32 training loop (sgdm.engine, second epoch)")
    rows = mlp_loop(bss, mlp_n)
    results["mlp"] = rows
    wins = [r["batch_size"] for r in rows if r["gpu_speedup"] > 1]
    print(f"  the GPU wins at batch sizes: {wins if wins else 'none'}")
    b8 = rows[0]
    launches = launches_per_step(cp, b8["batch_size"])
    extra = b8["cupy"] - b8["rust"]
    line = f"  batch {b8['batch_size']}: GPU {extra * 1e6:+.1f} us/step vs CPU (GPU step {b8['cupy'] * 1e6:.1f} us); "
    if launches is None:
        line += "kernels per step not counted (needs PyTorch with CUDA for its profiler)"
    else:
        line += (f"{launches:.1f} kernels per step x {overhead * 1e6:.1f} us = "
                 f"{launches * overhead * 1e6:.0f} us of launch overhead per step")
    print(line)
    results["launches_per_step"] = launches
    results["gpu_wins_at"] = wins
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
