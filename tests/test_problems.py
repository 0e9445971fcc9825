"""Problems: analytic gradients against central finite differences, and the full-set metrics."""

from __future__ import annotations

import numpy as np
import pytest

import sgdm
from sgdm.problems import MLP, PROBLEMS, LogisticRegression, make_problem

CASES = {
    "logreg-binary": lambda: LogisticRegression(5, 2),
    "logreg-binary-l2": lambda: LogisticRegression(5, 2, l2=0.1),
    "logreg-multi": lambda: LogisticRegression(5, 4),
    "logreg-multi-l2": lambda: LogisticRegression(5, 3, l2=0.2),
    "logreg-2class-softmax": lambda: LogisticRegression(5, 2, multinomial=True),
    "mlp-relu": lambda: MLP(5, 3, hidden=(6,), activation="relu"),
    "mlp-relu-deep-l2": lambda: MLP(5, 3, hidden=(6, 4), activation="relu", l2=0.05),
    "mlp-tanh": lambda: MLP(5, 4, hidden=(6,), activation="tanh"),
    "mlp-tanh-deep": lambda: MLP(5, 2, hidden=(4, 3), activation="tanh", l2=0.01),
}


def _data(problem, m=11, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, problem.n_features))
    y = rng.integers(0, problem.n_classes, size=m)
    return X, y


def _perturbed_params(problem, seed=1):
    rng = np.random.default_rng(seed)
    return [p + 0.5 * rng.normal(size=p.shape) for p in problem.init_params(seed)]


@pytest.mark.parametrize("case", list(CASES))
def test_gradient_matches_central_differences(case):
    problem = CASES[case]()
    X, y = _data(problem)
    params = _perturbed_params(problem)
    grads = problem.zeros_like_params(params)
    loss = problem.loss_and_grad(params, X, y, out=grads)
    assert loss == pytest.approx(problem.loss(params, X, y), rel=1e-12)
    h = 1e-6
    for p, g in zip(params, grads):
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = problem.loss(params, X, y)
            p[idx] = old - h
            down = problem.loss(params, X, y)
            p[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", list(CASES))
def test_params_are_contiguous_with_declared_shapes(case):
    problem = CASES[case]()
    params = problem.init_params(0)
    assert [p.shape for p in params] == problem.shapes
    assert all(p.flags.c_contiguous and p.dtype == np.float64 for p in params)
    problem.check_params(params)


def test_mlp_init_is_seeded():
    problem = MLP(8, 3, hidden=(16,))
    a, b, c = problem.init_params(3), problem.init_params(3), problem.init_params(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    # He normal for ReLU layers: std sqrt(2 / fan_in)
    big = MLP(400, 3, hidden=(500,)).init_params(0)[0]
    assert big.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


@pytest.mark.parametrize("case", ["logreg-multi", "mlp-relu-deep-l2", "logreg-binary-l2"])
def test_full_grad_norm_sq_is_norm_of_full_batch_gradient_and_chunking_is_exact(case):
    problem = CASES[case]()
    X, y = _data(problem, m=53, seed=4)
    params = _perturbed_params(problem)
    grads = problem.gradient(params, X, y)
    expected = sum(float(np.sum(g * g)) for g in grads)
    for chunk in (None, 1, 7, 53, 1000):
        assert problem.full_grad_norm_sq(params, X, y, chunk_size=chunk) == pytest.approx(
            expected, rel=1e-12
        )
        out = problem.zeros_like_params()
        loss = problem.full_loss_and_grad(params, X, y, out, chunk_size=chunk)
        assert loss == pytest.approx(problem.loss(params, X, y, chunk_size=None), rel=1e-12)
        for a, b in zip(out, grads):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    loss, acc, gns = problem.evaluate(params, X, y, chunk_size=10)
    assert gns == pytest.approx(expected, rel=1e-12)
    assert acc == problem.accuracy(params, X, y, chunk_size=None)


def test_accuracy_of_known_predictions():
    problem = LogisticRegression(2, 3)
    W = np.eye(2, 3) * 10.0
    b = np.zeros(3)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]])
    y = np.array([0, 1, 1, 2])
    assert problem.accuracy([W, b], X, y) == pytest.approx(0.75)
    binary = LogisticRegression(1, 2)
    assert binary.accuracy([np.array([1.0]), np.array([0.0])], [[2.0], [-1.0], [3.0]], [1, 0, 0]) == (
        pytest.approx(2 / 3)
    )


@pytest.mark.parametrize("case", ["logreg-binary", "logreg-multi", "logreg-2class-softmax"])
def test_logreg_matches_the_dense_formula_for_every_integer_label_type(case):
    # The problems reach the true class by flat-index arithmetic; the reference builds the
    # one-hot matrix and the unshifted softmax (safe for these moderate scores).
    problem = CASES[case]()
    X, y = _data(problem, m=13, seed=4)
    params = _perturbed_params(problem, seed=5)
    W, b = params
    if problem.multinomial:
        Z = X @ W + b
        P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        onehot = np.eye(problem.n_classes)[y]
        loss = np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(13), y])
        D = (P - onehot) / 13
        expected = [X.T @ D, D.sum(axis=0)]
    else:
        z = X @ W + b[0]
        loss = np.mean(np.log1p(np.exp(z)) - y * z)
        r = (1 / (1 + np.exp(-z)) - y) / 13
        expected = [X.T @ r, np.array([r.sum()])]
    first = None
    for dtype in (np.int64, np.int32, np.uint8, np.uint64, np.int8):
        grads = problem.zeros_like_params(params)
        value = problem.loss_and_grad(params, X, y.astype(dtype), grads)
        assert value == pytest.approx(loss, rel=1e-12)
        for g, e in zip(grads, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-15)
        if first is None:
            first = (value, grads)
        assert value == first[0] and all(np.array_equal(g, f) for g, f in zip(grads, first[1]))


@pytest.mark.parametrize("case", ["logreg-binary", "logreg-multi", "mlp-relu", "mlp-tanh"])
def test_loss_decreases_under_sgdm(case):
    problem = CASES[case]()
    rng = np.random.default_rng(2)
    X = rng.normal(size=(64, problem.n_features))
    y = np.argmax(X @ rng.normal(size=(problem.n_features, problem.n_classes)), axis=1)
    params = problem.init_params(0)
    grads = problem.zeros_like_params(params)
    opt = sgdm.SGDM(params, lr=0.05, momentum=0.9)
    first = problem.loss(params, X, y)
    for _ in range(30):
        problem.loss_and_grad(params, X, y, out=grads)
        opt.step(grads)
    assert problem.loss(params, X, y) < 0.7 * first


def test_softmax_is_stable_for_huge_logits():
    problem = LogisticRegression(1, 3)
    params = [np.array([[1e5, -1e5, 0.0]]), np.zeros(3)]
    X = np.array([[1.0], [-1.0]])
    y = np.array([0, 2])
    grads = problem.zeros_like_params()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = problem.loss_and_grad(params, X, y, grads)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads)
    assert loss == pytest.approx(1e5 / 2)  # sample 2 has logit gap 1e5, sample 1 none
    binary = LogisticRegression(1, 2)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = binary.loss_and_grad([np.array([1e4]), np.zeros(1)], X, np.array([0, 1]), binary.zeros_like_params())
    assert loss == pytest.approx(1e4)


def test_float32_option():
    problem = make_problem("mlp", 5, 3, dtype=np.float32, hidden=(4,))
    params = problem.init_params(0)
    assert all(p.dtype == np.float32 for p in params)
    X, y = _data(problem)
    grads = problem.zeros_like_params(params)
    problem.loss_and_grad(params, X.astype(np.float32), y, grads)
    ref = make_problem("mlp", 5, 3, hidden=(4,))
    g64 = ref.gradient([p.astype(np.float64) for p in params], X.astype(np.float32).astype(np.float64), y)
    for a, b in zip(grads, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", ["mlp-relu", "logreg-multi", "logreg-binary"])
def test_growing_and_shrinking_batches_reuse_scratch_correctly(case, monkeypatch):
    # Scratch views are remembered per batch size; a small cap makes the cache start over too.
    monkeypatch.setattr(sgdm.problems, "_MAX_VIEWS", 12)
    problem = CASES[case]()
    params = _perturbed_params(problem)
    X, y = _data(problem, m=20, seed=9)
    for m in (3, 20, 7, 1, 20, 3, 7, 19, 1):
        g = problem.gradient(params, X[:m], y[:m])
        h = CASES[case]().gradient(params, X[:m], y[:m])
        for a, b in zip(g, h):
            np.testing.assert_array_equal(a, b)


def test_make_problem_and_errors():
    assert set(PROBLEMS) == {"logreg", "mlp"}
    assert isinstance(make_problem("logreg", 3, 2), LogisticRegression)
    mlp = make_problem("mlp", 3, 4, hidden=[8, 8], activation="tanh")
    assert mlp.shapes == [(3, 8), (8,), (8, 8), (8,), (8, 4), (4,)]
    with pytest.raises(sgdm.SgdmError, match="'svm' is unknown"):
        make_problem("svm", 3, 2)
    with pytest.raises(sgdm.SgdmError, match="invalid option"):
        make_problem("logreg", 3, 2, hidden=(3,))
    with pytest.raises(sgdm.SgdmError, match="activation"):
        MLP(3, 2, activation="sigmoid")
    with pytest.raises(sgdm.SgdmError, match="n_classes"):
        LogisticRegression(3, 1)
    with pytest.raises(sgdm.SgdmError, match="l2"):
        LogisticRegression(3, 2, l2=-1)
    with pytest.raises(sgdm.SgdmError, match="dtype"):
        LogisticRegression(3, 2, dtype=np.int32)
    with pytest.raises(sgdm.SgdmError, match="multinomial"):
        LogisticRegression(3, 3, multinomial=False)
    problem = LogisticRegression(3, 2)
    params = problem.init_params()
    with pytest.raises(sgdm.SgdmError, match=r"X has shape"):
        problem.loss(params, np.zeros((4, 2)), np.zeros(4, int))
    with pytest.raises(sgdm.SgdmError, match=r"y has shape"):
        problem.loss(params, np.zeros((4, 3)), np.zeros(3, int))
    with pytest.raises(sgdm.SgdmError, match="integer class labels"):
        problem.loss(params, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(sgdm.SgdmError, match=r"params\[0\]"):
        problem.check_params([np.zeros(4), np.zeros(1)])


@pytest.mark.parametrize("case", ["logreg-binary", "logreg-multi", "mlp-relu"])
@pytest.mark.parametrize("bad, dtype", [(-1, np.int8), (-1, np.int64), ("K", np.int64), ("K", np.uint16)])
def test_labels_out_of_range_are_refused(case, bad, dtype):
    # A negative label would wrap to the last class and a label K would be read as another
    # sample's: a wrong gradient without an error.
    problem = CASES[case]()
    X, y = _data(problem)
    y = y.astype(dtype)
    y[3] = problem.n_classes if bad == "K" else -1
    params = problem.init_params(0)
    lo, hi = int(y.min()), int(y.max())
    match = rf"y holds labels {lo}\.\.{hi}; expected class labels 0\.\.{problem.n_classes - 1}"
    with pytest.raises(sgdm.SgdmError, match=match):
        problem.loss_and_grad(params, X, y, problem.zeros_like_params(params))
    with pytest.raises(sgdm.SgdmError, match=match):
        problem.evaluate(params, X, y)
