"""sgdm against PyTorch on the CPU: the same model, data, batches, schedule and update. Prints a
report; not a timed test. Needs ``torch`` (CPU is enough) and scikit-learn (the digits data).

1. **Agreement**: an MLP 64-64-10 in float64 trained for 300 steps from the same initial
   parameters over the same batches with the same learning rates: sgdm (NumPy loss and gradient,
   Rust SHB step) against PyTorch (autograd, ``torch.optim.SGD(momentum=β)``, whose update is
   SHB: m ← βm + g, θ ← θ − ηm), the rate rising from 0.05 to 0.1 as in a warm-up. Largest
   difference of the parameters and of the losses. (With much larger rates the MLP's training
   is chaotic and the two drift apart from their last-bit differences alone.)
2. **Optimizer step alone**, float32: ``sgdm.SGDM`` against ``torch.optim.SGD(momentum,
   fused=True)`` and ``foreach=True``, on the small-MLP parameter list (64x128, 128, 128x10, 10)
   and on one array of 10^7 elements.
3. **Training step** (mini-batch loss and gradient, then the update), float32, MLP 64-64-10 on
   digits, batch sizes 8 to 1024: per-step time of sgdm against PyTorch.

Both libraries run one thread (``torch.set_num_threads(1)``; sgdm's command pins BLAS to one
thread too), so the comparison is per core.

Run: python benches/bench_torch.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import sgdm  # noqa: E402
from sgdm import datasets, problems  # noqa: E402
from bench_step import median_time  # noqa: E402  (this folder is on sys.path when run as a script)

BETA = 0.9


def torch_mlp(torch, params: list[np.ndarray]):
    """A torch ``Sequential`` of Linear/ReLU layers holding copies of sgdm's MLP parameters
    (sgdm keeps ``W`` as (in, out) and computes ``A W + b``; torch keeps ``W^T``)."""
    layers = []
    for k in range(0, len(params), 2):
        W, b = params[k], params[k + 1]
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def batches(n: int, b: int, steps: int, seed: int) -> list[np.ndarray]:
    """``steps`` index batches of size ``b``: consecutive slices of seeded permutations."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < steps:
        perm = rng.permutation(n)
        out += [perm[i:i + b] for i in range(0, n - b + 1, b)]
    return out[:steps]


def agreement(torch, data) -> None:
    print("== agreement: MLP 64-64-10, float64, 300 SHB steps, same init, batches and rates")
    prob = problems.MLP(data.X_train.shape[1], data.n_classes, hidden=(64,), dtype=np.float64)
    params = prob.init_params(0)
    model = torch_mlp(torch, params)
    grads = prob.zeros_like_params(params)
    opt = sgdm.SGDM(params, lr=0.1, momentum=BETA, variant="shb")
    topt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=BETA)
    X, y = data.X_train, data.y_train
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    worst_loss, first_loss = 0.0, prob.loss(params, X, y)  # differences relative to the start
    for t, idx in enumerate(batches(len(y), 32, 300, seed=1)):
        lr = 0.05 + 0.05 * min(t, 150) / 150  # a changing rate, as under warm-up
        loss = prob.loss_and_grad(params, X[idx], y[idx], grads)
        opt.step(grads, lr=lr)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
        tloss.backward()
        for group in topt.param_groups:
            group["lr"] = lr
        topt.step()
        worst_loss = max(worst_loss, abs(loss - tloss.item()) / first_loss)
    worst_param = 0.0
    for k, lin in enumerate(m for m in model if isinstance(m, torch.nn.Linear)):
        for ours, theirs in ((params[2 * k], lin.weight.detach().numpy().T), (params[2 * k + 1], lin.bias.detach().numpy())):
            worst_param = max(worst_param, float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))))
    print(f"  largest difference: losses {worst_loss:.2e} (relative to the initial loss), parameters "
          f"{worst_param:.2e} (relative to their largest entry); matrix products sum in another order, "
          f"so rounding differs, but an algorithmic difference would show at 1e-3 or more")


def optimizer_step(torch, repeats: int) -> None:
    print("== optimizer step alone, float32 (SHB, beta = 0.9)")
    rng = np.random.default_rng(0)
    cases = {
        "small MLP list (9,610 elements)": [(64, 128), (128,), (128, 10), (10,)],
        "one array of 1e7 elements": [(10**7,)],
    }
    for name, shapes in cases.items():
        params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
        grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
        inner = 500 if len(shapes) > 1 else 5
        opt = sgdm.SGDM(params, lr=0.01, momentum=BETA, variant="shb")
        t_sgdm = median_time(lambda: opt.step(grads), repeats, inner)
        line = f"  {name}: sgdm {t_sgdm * 1e6:9.2f} us"
        for impl in ("fused", "foreach"):
            tparams = [torch.from_numpy(p.copy()) for p in params]
            for tp, g in zip(tparams, grads):
                tp.grad = torch.from_numpy(g)
            topt = torch.optim.SGD(tparams, lr=0.01, momentum=BETA, **{impl: True})
            t = median_time(topt.step, repeats, inner)
            line += f" | torch {impl} {t * 1e6:9.2f} us ({t / t_sgdm:4.1f}x sgdm's time)"
        print(line, flush=True)


def training_step(torch, data, batch_sizes, steps: int) -> None:
    print("== training step (loss and gradient + update), float32, MLP 64-64-10 on digits")
    X = data.X_train.astype(np.float32)
    y = data.y_train
    for b in batch_sizes:
        idx = batches(len(y), b, steps, seed=2)
        xs = [np.ascontiguousarray(X[i]) for i in idx]  # both sides get ready-made batches
        ys = [y[i] for i in idx]
        prob = problems.MLP(X.shape[1], data.n_classes, hidden=(64,), dtype=np.float32)
        params = prob.init_params(0)
        model = torch_mlp(torch, params)
        grads = prob.zeros_like_params(params)
        opt = sgdm.SGDM(params, lr=0.05, momentum=BETA, variant="shb")
        topt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=BETA, fused=True)
        txs = [torch.from_numpy(a) for a in xs]
        tys = [torch.from_numpy(a) for a in ys]

        def run_sgdm():
            for xb, yb in zip(xs, ys):
                prob.loss_and_grad(params, xb, yb, grads)
                opt.step(grads)

        def run_torch():
            for xb, yb in zip(txs, tys):
                topt.zero_grad()
                torch.nn.functional.cross_entropy(model(xb), yb).backward()
                topt.step()

        t_sgdm = median_time(run_sgdm, 3, 1) / steps
        t_torch = median_time(run_torch, 3, 1) / steps
        print(f"  b = {b:5d}: sgdm {t_sgdm * 1e6:8.1f} us/step | torch {t_torch * 1e6:8.1f} us/step "
              f"| sgdm {t_torch / t_sgdm:4.1f}x faster", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and batch sizes")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("bench_torch: PyTorch is not installed (pip install torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    sgdm.set_num_threads(1)
    print(f"torch {torch.__version__}, sgdm {sgdm.__version__}, NumPy {np.__version__}; one thread each")
    data = datasets.load_dataset("digits", seed=0)
    agreement(torch, data)
    optimizer_step(torch, 5 if args.quick else 15)
    training_step(torch, data, [8, 64, 1024] if args.quick else [8, 16, 32, 64, 128, 256, 1024],
                  200 if args.quick else 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
