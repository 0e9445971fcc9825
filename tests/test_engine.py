"""The training engine: data walk, SFO, determinism, backends, divergence, plan checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

import sgdm
from sgdm.datasets import Dataset
from sgdm.engine import ROW_KEYS, History, PlanLike, train
from sgdm.problems import MLP, LogisticRegression


@dataclass
class FakePlan:
    """A plan-like object built from arrays (the real one is sgdm.plan.Plan)."""

    epochs: int
    n_samples: int
    batch_sizes: np.ndarray
    steps_per_epoch: np.ndarray
    epoch_starts: np.ndarray
    learning_rates: np.ndarray
    total_steps: int


def make_plan(n, batch_sizes, lr=0.1):
    """Per-epoch batch sizes (capped at n); ``lr`` a float, per-epoch list, or per-step callable."""
    bs = np.minimum(np.asarray(batch_sizes, dtype=np.int64), n)
    spe = -(-n // bs)
    starts = np.concatenate([[0], np.cumsum(spe)[:-1]]).astype(np.int64)
    T = int(spe.sum())
    if callable(lr):
        lrs = np.array([lr(t) for t in range(T)], dtype=np.float64)
    else:
        lrs = np.repeat(np.broadcast_to(np.asarray(lr, dtype=np.float64), bs.shape), spe)
    return FakePlan(len(bs), n, bs, spe, starts, lrs, T)


def make_dataset(n=40, d=3, k=3, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_test, d))
    y = np.argmax(X @ rng.normal(size=(d, k)), axis=1)
    y[:k] = np.arange(k)  # every class present
    return Dataset(
        name="toy", X_train=X[:n], y_train=y[:n], X_test=X[n:], y_test=y[n:], n_classes=k,
        classes=np.arange(k), feature_names=tuple(f"x{j}" for j in range(d)), source="test",
        standardized=False, seed=seed, test_size=None,
    )


class Spy(LogisticRegression):
    """Logistic regression that records the rows of every training batch (X[:, 0] ids)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.batches: list[np.ndarray] = []

    def loss_and_grad(self, params, X, y, out):
        self.batches.append(X[:, 0].copy())
        return super().loss_and_grad(params, X, y, out)


def _id_dataset(n, k=2):
    """Feature 0 is the sample id, so the spy can see which samples each batch holds."""
    ds = make_dataset(n=n, d=2, k=k)
    X = ds.X_train.copy()
    X[:, 0] = np.arange(n)
    return Dataset(**{**ds.__dict__, "X_train": X})


def _strip(history: History):
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in history.rows]


def test_fake_plan_satisfies_protocol():
    assert isinstance(make_plan(10, [3]), PlanLike)


@pytest.mark.parametrize("n, b, sizes", [(10, 4, [4, 4, 2]), (10, 5, [5, 5]), (10, 10, [10]), (10, 64, [10]), (7, 1, [1] * 7)])
def test_steps_per_epoch_keep_the_partial_batch_and_every_sample_once(n, b, sizes):
    ds = _id_dataset(n)
    spy = Spy(2, 2)
    hist = train(spy, ds, make_plan(n, [b] * 3), record_initial=False)
    assert [len(x) for x in spy.batches] == sizes * 3
    per_epoch = len(sizes)
    for e in range(3):
        seen = np.concatenate(spy.batches[e * per_epoch : (e + 1) * per_epoch])
        assert sorted(seen.tolist()) == list(range(n))
    cols = hist.to_columns()
    np.testing.assert_array_equal(cols["steps"], [len(sizes) * e for e in (1, 2, 3)])
    np.testing.assert_array_equal(cols["sfo"], [n, 2 * n, 3 * n])
    np.testing.assert_array_equal(cols["batch_size"], [min(b, n)] * 3)


@pytest.mark.parametrize("variant", ["shb", "nshb"])
def test_training_is_the_paper_loop_written_out(variant):
    # PAPER §1–§2 by hand: every epoch a fresh permutation from the run's shuffle stream, walked
    # in batches of b_e (the last, partial one kept; b_e ≥ n is one full batch); g_t the mean
    # softmax cross-entropy gradient over B_t, written out; η_t the plan's rate of global step t.
    n, d, k, beta, seed = 23, 3, 3, 0.8, 4
    ds = make_dataset(n=n, d=d, k=k)
    plan = make_plan(n, [5, 30, 9, 5], lr=lambda t: 0.3 / (1 + 0.1 * t))  # 30 is capped at n
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(d, k)), rng.normal(size=k)
    hist = train(LogisticRegression(d, k), ds, plan, momentum=beta, variant=variant, seed=seed, params=[W, b])
    mW, mb = np.zeros_like(W), np.zeros_like(b)
    shuffle = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    X, y, t = ds.X_train, ds.y_train, 0
    for bs in plan.batch_sizes:
        perm = shuffle.permutation(n)
        for lo in range(0, n, bs):
            idx = perm[lo : lo + bs]
            Z = X[idx] @ W + b
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            D = (P / P.sum(axis=1, keepdims=True) - np.eye(k)[y[idx]]) / len(idx)
            s = 1.0 if variant == "shb" else 1 - beta
            mW, mb = beta * mW + s * (X[idx].T @ D), beta * mb + s * D.sum(axis=0)
            W, b = W - plan.learning_rates[t] * mW, b - plan.learning_rates[t] * mb
            t += 1
    assert t == plan.total_steps == hist.final["steps"] == 5 + 1 + 3 + 5
    np.testing.assert_allclose(hist.params[0], W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hist.params[1], b, rtol=1e-10, atol=1e-13)


def test_epochs_are_reshuffled_and_seeded():
    n = 12
    runs = []
    for seed in (0, 0, 1):
        spy = Spy(2, 2)
        train(spy, _id_dataset(n), make_plan(n, [4] * 2), seed=seed)
        runs.append(np.concatenate(spy.batches))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0][:n], runs[0][n:])  # a new permutation each epoch


def test_changing_batch_sizes_and_learning_rates():
    n = 20
    ds = make_dataset(n=n)
    plan = make_plan(n, [2, 2, 8, 8, 32], lr=lambda t: 0.01 * (t + 1))
    hist = train(LogisticRegression(3, 3), ds, plan)
    cols = hist.to_columns()
    assert list(cols) == list(ROW_KEYS)
    np.testing.assert_array_equal(cols["epoch"], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(cols["batch_size"], [2, 2, 2, 8, 8, 20])
    steps = np.cumsum([0, 10, 10, 3, 3, 1])
    np.testing.assert_array_equal(cols["steps"], steps)
    np.testing.assert_array_equal(cols["sfo"], n * np.arange(6))
    # lr of the first step for the initial row, then of each epoch's last step
    np.testing.assert_allclose(cols["lr"], [0.01] + [0.01 * s for s in steps[1:]])
    assert plan.total_steps == steps[-1]
    np.testing.assert_array_equal(
        cols["grad_norm_sq_min"], np.minimum.accumulate(cols["grad_norm_sq"])
    )
    assert np.all(np.diff(cols["wall_time"]) >= 0) and cols["wall_time"][0] == 0.0
    assert hist.total_time >= cols["wall_time"][-1]


def test_rows_report_exact_full_set_metrics():
    ds = make_dataset()
    problem = MLP(3, 3, hidden=(5,))
    hist = train(problem, ds, make_plan(ds.n_train, [8] * 3), seed=2)
    last = hist.final
    loss, acc, gns = problem.evaluate(hist.params, ds.X_train, ds.y_train, chunk_size=None)
    assert last["train_loss"] == pytest.approx(loss, rel=1e-12)
    assert last["train_accuracy"] == acc
    assert last["grad_norm_sq"] == pytest.approx(gns, rel=1e-10)
    assert last["test_accuracy"] == problem.accuracy(hist.params, ds.X_test, ds.y_test)
    first = hist.rows[0]
    init = problem.init_params(np.random.default_rng(np.random.SeedSequence(2).spawn(2)[0]))
    assert first["train_loss"] == pytest.approx(problem.loss(init, ds.X_train, ds.y_train))
    assert all(type(r["steps"]) is int and type(r["diverged"]) is bool for r in hist.rows)


def test_same_seed_same_history_and_different_seed_differs():
    ds = make_dataset()
    plan = make_plan(ds.n_train, [4, 8, 16])
    a = train(MLP(3, 3, hidden=(6,)), ds, plan, seed=5)
    b = train(MLP(3, 3, hidden=(6,)), ds, plan, seed=5)
    c = train(MLP(3, 3, hidden=(6,)), ds, plan, seed=6)
    assert _strip(a) == _strip(b)
    assert _strip(a) != _strip(c)


@pytest.mark.parametrize(
    "problem, opts",
    [
        (lambda: LogisticRegression(3, 3, l2=0.01), dict(variant="shb")),
        (lambda: LogisticRegression(3, 2), dict(variant="nshb", weight_decay=1e-3)),
        (lambda: MLP(3, 3, hidden=(7,), activation="tanh"), dict(variant="shb", nesterov=True)),
        (lambda: MLP(3, 3, hidden=(4, 4)), dict(variant="nshb", momentum=0.87)),
    ],
)
def test_rust_and_numpy_backends_give_identical_histories(problem, opts):
    ds = make_dataset(k=problem().n_classes)
    plan = make_plan(ds.n_train, [3, 3, 6, 12, 64], lr=lambda t: 0.05 + 0.001 * t)
    h_rust = train(problem(), ds, plan, backend="rust", seed=3, **opts)
    h_np = train(problem(), ds, plan, backend="numpy", seed=3, **opts)
    assert h_rust.settings["optimizer"]["backend"] == "rust"
    assert h_np.settings["optimizer"]["backend"] == "numpy"
    assert _strip(h_rust) == _strip(h_np)
    for p, q in zip(h_rust.params, h_np.params):
        np.testing.assert_array_equal(p, q)


def test_float32_training():
    ds = make_dataset()
    hist = train(MLP(3, 3, hidden=(4,), dtype=np.float32), ds, make_plan(ds.n_train, [8] * 2))
    assert all(p.dtype == np.float32 for p in hist.params)
    assert hist.settings["dtype"] == "float32"
    with pytest.raises(sgdm.SgdmError, match="dtype"):
        train(MLP(3, 3), ds, make_plan(ds.n_train, [8]), dtype=np.float32)


def test_divergence_is_recorded_not_raised():
    ds = make_dataset()
    plan = make_plan(ds.n_train, [4] * 6, lr=1e300)
    seen = []
    hist = train(MLP(3, 3, hidden=(5,)), ds, plan, callback=lambda e, r: seen.append(e))
    assert hist.diverged
    assert hist.diverged_epoch == hist.final["epoch"] < 6
    assert hist.final["diverged"] and not any(r["diverged"] for r in hist.rows[:-1])
    assert hist.final["steps"] < plan.total_steps
    assert seen == list(range(hist.diverged_epoch + 1))
    ok = train(MLP(3, 3, hidden=(5,)), ds, make_plan(ds.n_train, [4] * 2, lr=0.01))
    assert not ok.diverged and ok.diverged_epoch is None


def test_record_every_and_callback():
    ds = make_dataset()
    calls = []
    hist = train(
        LogisticRegression(3, 3), ds, make_plan(ds.n_train, [8] * 7), record_every=3,
        callback=lambda e, row: calls.append((e, row is not None)),
    )
    assert [r["epoch"] for r in hist.rows] == [0, 3, 6, 7]
    assert calls == [(0, True), (1, False), (2, False), (3, True), (4, False), (5, False), (6, True), (7, True)]
    no_init = train(LogisticRegression(3, 3), ds, make_plan(ds.n_train, [8] * 2), record_initial=False)
    assert [r["epoch"] for r in no_init.rows] == [1, 2]


def test_empty_test_set_gives_nan_test_metrics_and_params_start_point():
    ds = make_dataset(n_test=0)
    problem = LogisticRegression(3, 3)
    start = [np.full((3, 3), 0.5), np.zeros(3)]
    hist = train(problem, ds, make_plan(ds.n_train, [8]), params=start)
    assert math.isnan(hist.final["test_loss"]) and math.isnan(hist.final["test_accuracy"])
    assert hist.rows[0]["train_loss"] == pytest.approx(problem.loss(start, ds.X_train, ds.y_train))
    assert np.all(start[0] == 0.5)  # copied, not trained in place
    d = hist.to_dict()
    assert d["rows"][0]["epoch"] == 0 and "params" not in d


def test_plan_and_data_mismatches_raise_sgdm_errors():
    ds = make_dataset()
    problem = LogisticRegression(3, 3)
    with pytest.raises(sgdm.SgdmError, match="n_samples = 30 but the training set has 40"):
        train(problem, ds, make_plan(30, [8]))
    bad = make_plan(40, [8, 8])
    bad.steps_per_epoch = np.array([5, 4])
    with pytest.raises(sgdm.SgdmError, match=r"steps_per_epoch\[1\] = 4 but ceil"):
        train(problem, ds, bad)
    bad = make_plan(40, [8])
    bad.learning_rates = np.zeros(3)
    with pytest.raises(sgdm.SgdmError, match="learning_rates has shape"):
        train(problem, ds, bad)
    with pytest.raises(sgdm.SgdmError, match="plan lacks"):
        train(problem, ds, object())
    with pytest.raises(sgdm.SgdmError, match="4 features"):
        train(LogisticRegression(4, 3), ds, make_plan(40, [8]))
    with pytest.raises(sgdm.SgdmError, match="3 classes"):
        train(LogisticRegression(3, 2), ds, make_plan(40, [8]))
    with pytest.raises(sgdm.SgdmError, match="record_every"):
        train(problem, ds, make_plan(40, [8]), record_every=0)
    with pytest.raises(sgdm.SgdmError, match="variant"):
        train(problem, ds, make_plan(40, [8]), variant="adam")


def test_with_the_real_plan_when_available():
    plan_mod = pytest.importorskip("sgdm.plan")
    ds = make_dataset()
    plan = plan_mod.Plan(ds.n_train, 4, 16, 0.1)
    hist = train(LogisticRegression(3, 3), ds, plan)
    assert hist.final["steps"] == plan.total_steps and hist.final["sfo"] == 4 * ds.n_train


@pytest.mark.parametrize("split", ["y_train", "y_test"])
def test_labels_outside_the_problems_classes_are_refused_before_training(split):
    ds = make_dataset()
    y = getattr(ds, split).copy()
    y[0] = -1
    bad = Dataset(**{**ds.__dict__, split: y})
    name = "training" if split == "y_train" else "test"
    with pytest.raises(sgdm.SgdmError, match=rf"the {name} labels run -1\.\.2; the problem expects 0\.\.2"):
        train(LogisticRegression(3, 3), bad, make_plan(40, [8]), seed=0)


def test_the_unchecked_fast_path_trains_exactly_as_the_checked_one():
    # The engine skips the problem's per-call checks (it checked the data once) unless a
    # subclass overrides loss_and_grad; both paths must give the same history.
    class Checked(LogisticRegression):
        def loss_and_grad(self, params, X, y, out):
            return super().loss_and_grad(params, X, y, out)

    ds, plan = make_dataset(), make_plan(40, [8, 16])
    fast = train(LogisticRegression(3, 3), ds, plan, seed=0)
    slow = train(Checked(3, 3), ds, plan, seed=0)
    assert _strip(fast) == _strip(slow)
