r"""Differentiable classification problems over NumPy arrays: logistic regression and an MLP.

Each problem defines the empirical risk of PAPER.md §1,

.. math::

    f(\theta) = \frac{1}{n}\sum_{i=1}^{n} \ell(\theta; x_i, y_i)
                + \frac{\lambda}{2}\sum_{W \in \text{weights}} \lVert W\rVert_F^2 ,

with the cross-entropy loss :math:`\ell`, optional L2 regularisation :math:`\lambda` (``l2``,
applied to weight matrices, never to biases), and analytic gradients. All of them share one
interface (:class:`Problem`):

=================================================  ===============================================
``init_params(seed)``                              a fresh list of C-contiguous parameter arrays
``zeros_like_params(params)``                      gradient buffers of the same shapes and dtype
``loss_and_grad(params, X, y, out)``               mean mini-batch loss; gradient written in ``out``
``loss(params, X, y)``, ``accuracy(...)``          full-set values, computed in chunks
``full_loss_and_grad(params, X, y, out)``          exact full-set loss and gradient, in chunks
``full_grad_norm_sq(params, X, y)``                :math:`\lVert\nabla f(\theta)\rVert^2`, in chunks
``evaluate(params, X, y)``                         ``(loss, accuracy, grad_norm_sq)`` in one pass
=================================================  ===============================================

Shapes: ``X`` is ``(m, d)`` with the problem's dtype (other dtypes are converted, which costs a
copy), ``y`` is ``(m,)`` integer class labels in ``0..K-1``.

NumPy or CuPy: the same code runs on both, through the namespace of the arrays it is given
(:mod:`sgdm._xp`). With CuPy arrays (parameters, ``X``, ``y`` and ``out`` all on the GPU) every
operation runs on the device, and the public methods bring back only their scalar results (one
transfer per call); ``init_params`` still draws on the CPU (move the arrays with
``cupy.asarray``), so both devices start from the same values. Softmax and log-sum-exp are
shifted by each sample's maximum score, and the binary loss uses ``logaddexp``, so no ``exp``
overflows and no ``log`` sees zero.

Small batches: a step's cost at batch sizes of a few dozen is the number of array-library
calls, not arithmetic, so the kernels make few of them: softmax scores are kept transposed,
``(K, m)``, so per-sample reductions run along contiguous rows; the true-class entries are
reached by flat-index arithmetic (no one-hot matrix); BLAS computes the row and column sums.
Scratch arrays are kept per problem instance, grow to the largest batch seen, and their views
are remembered per batch size, so a training step allocates almost nothing; an instance is
therefore not thread-safe (use one per thread or process).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import _validate, _xp
from ._sgdm import SgdmError

__all__ = [
    "Problem",
    "LogisticRegression",
    "MLP",
    "PROBLEMS",
    "make_problem",
]

#: Problem names accepted by :func:`make_problem`, with one-line descriptions (for help texts).
PROBLEMS: dict[str, str] = {
    "logreg": "logistic regression: sigmoid for 2 classes, multinomial softmax otherwise; optional L2",
    "mlp": "multilayer perceptron: hidden layers (default 64), ReLU or tanh, softmax cross-entropy",
}

DEFAULT_CHUNK_SIZE = 8192
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPES:
        raise SgdmError(f"dtype = {dtype!r} is invalid: expected float32 or float64")
    return dt


def _check_nonneg(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise SgdmError(f"{name} = {value!r} is invalid: expected a finite number >= 0")
    return float(value)


class _Workspace:
    """Named scratch buffers that grow to the largest size requested; views are returned.

    Each buffer is flat, and a request gets a C-contiguous view of its start in the shape asked
    for, so one buffer serves ``(m, k)`` and ``(k, m)`` alike. The views handed out are
    remembered per ``(name, shape)``: a training loop that repeats a batch size gets each one
    back with a single dict lookup. One workspace per array namespace (``xp``: NumPy or CuPy),
    so scratch lives where the data does."""

    def __init__(self, dtype: np.dtype, xp: Any = np) -> None:
        self.dtype = dtype
        self.xp = xp
        self._bufs: dict[str, Any] = {}
        self._views: dict[tuple[str, tuple[int, ...]], Any] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Uninitialised scratch of ``shape`` in the workspace dtype, or in ``dtype`` (one dtype
        per ``key``)."""
        view = self._views.get((key, shape))
        if view is None:
            dt = self.dtype if dtype is None else dtype
            view = self._view(key, shape, lambda size: self.xp.empty(size, dtype=dt))
        return view

    def ones(self, m: int) -> Any:
        """A read-only vector of ``m`` ones in the workspace dtype (row/column sums by BLAS)."""
        view = self._views.get(("ones", (m,)))
        if view is None:
            view = self._view("ones", (m,), lambda n: self._read_only(self.xp.ones(n, self.dtype)))
        return view

    def arange(self, m: int) -> Any:
        """A read-only ``0, 1, ..., m - 1`` as ``intp``."""
        view = self._views.get(("arange", (m,)))
        if view is None:
            xp = self.xp
            view = self._view("arange", (m,), lambda n: self._read_only(xp.arange(n, dtype=np.intp)))
        return view

    def _read_only(self, a: Any) -> Any:
        if self.xp is np:  # CuPy arrays have no read-only flag
            a.flags.writeable = False
        return a

    def _view(self, key: str, shape: tuple[int, ...], make: Any) -> Any:
        """The start of buffer ``key`` as ``shape``, remembered; ``make(size)`` builds the
        buffer when it is missing or too small."""
        size = math.prod(shape)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = self._bufs[key] = make(size if buf is None else max(size, buf.size))
            self._views.clear()  # views of the old buffer would keep it alive
        if len(self._views) >= _MAX_VIEWS:  # many distinct batch sizes: start over
            self._views.clear()
        view = self._views[(key, shape)] = buf[:size].reshape(shape)
        return view


#: Remembered scratch views per workspace: a training run uses a few batch sizes, each needing
#: about ten views.
_MAX_VIEWS = 512


def _softmax_xent(S: np.ndarray, y: np.ndarray, ws: _Workspace, want_grad: bool) -> Any:
    r"""Mean softmax cross-entropy of the scores ``S`` ``(K, m)``, one column per sample (a
    C-contiguous workspace view); optionally overwrite ``S`` with its gradient
    :math:`(\mathrm{softmax}(S) - \mathrm{onehot}(y)) / m`, column by column.

    .. math::

        \ell_i = \log\sum_k e^{S_{ki}} - S_{y_i i}
               = \log\sum_k e^{S_{ki} - c_i} - (S_{y_i i} - c_i),\qquad c_i = \max_k S_{ki}

    Samples are columns so that the per-sample maximum, shift and division run along rows of
    length ``m``: NumPy reduces and broadcasts along short rows (``K`` is often about 10)
    several times slower. The true-class entries are reached through the flat view of ``S``, at
    positions :math:`y_i m + i` (a gather and a scatter; no one-hot matrix).
    """
    xp = ws.xp
    k, m = S.shape
    smax = ws.get("smax", (m,))
    _xp.column_max(xp, S, smax)
    xp.subtract(S, smax, out=S)  # shifted scores, at most 0
    labels = ws.get("labels", (m,), np.intp)
    # dtype: any integer label type (uint64 with an int would promote to float)
    xp.multiply(y, m, out=labels, dtype=np.intp)
    labels += ws.arange(m)
    flat = S.ravel()  # a view: workspace scratch is C-contiguous
    s_true = flat[labels]  # shifted true-class scores (a small new array)
    xp.exp(S, out=S)  # all entries in (0, 1], at least one equal to 1 per column
    sumexp = ws.get("sumexp", (m,))
    xp.dot(ws.ones(k), S, out=sumexp)  # column sums, each >= 1
    terms = ws.get("xent", (m,))
    xp.log(sumexp, out=terms)
    terms -= s_true
    if want_grad:
        sumexp *= m  # one division then gives softmax / m
        xp.divide(S, sumexp, out=S)
        flat[labels] -= 1.0 / m
    return _mean_of_sum(xp, _xp.total(xp, terms), m)


def _mean_of_sum(xp: Any, total: Any, m: int) -> Any:
    """``total / m`` in float64: a Python float on NumPy, a 0-d float64 device array on CuPy
    (no synchronisation; the caller brings it back when it needs the number)."""
    if xp is np:
        return float(total) / m
    return total.astype(np.float64) / m


class Problem:
    """Common machinery: chunked full-set evaluation on top of a per-batch kernel.

    Subclasses define :attr:`shapes` and :meth:`_batch`, which computes on one batch the mean
    data loss plus the L2 term, optionally the number of correct predictions, and optionally the
    gradient written into ``out``.
    """

    name: str = "problem"

    def __init__(self, n_features: int, n_classes: int, l2: float, dtype: Any) -> None:
        self.n_features = _validate.check_int(n_features, "n_features", 1)
        self.n_classes = _validate.check_int(n_classes, "n_classes", 2)
        self.l2 = _check_nonneg(l2, "l2")
        self.dtype = _check_dtype(dtype)
        self._ws = _Workspace(self.dtype)
        self._gpu_ws: _Workspace | None = None
        self._acc: list[np.ndarray] | None = None
        self._tmp: list[np.ndarray] | None = None

    def _workspace(self, xp: Any) -> _Workspace:
        """The scratch space of namespace ``xp`` (created on first use on the GPU)."""
        if xp is np:
            return self._ws
        if self._gpu_ws is None or self._gpu_ws.xp is not xp:
            self._gpu_ws = _Workspace(self.dtype, xp)
        return self._gpu_ws

    # -- to be provided by subclasses ---------------------------------------------------------
    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shape of each parameter array, in order."""
        raise NotImplementedError

    def init_params(self, seed: int | np.random.Generator | None = 0) -> list[np.ndarray]:
        """A fresh list of C-contiguous parameter arrays in the problem's dtype."""
        raise NotImplementedError

    def _batch(
        self,
        params: Sequence[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        out: Sequence[np.ndarray] | None,
        count_correct: bool,
    ) -> tuple[float, int]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Settings as plain JSON-able values (for run metadata)."""
        return {
            "problem": self.name,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "l2": self.l2,
            "dtype": self.dtype.name,
            "n_params": int(sum(math.prod(s) for s in self.shapes)),
        }

    # -- shared interface -----------------------------------------------------------------
    def zeros_like_params(self, params: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Zero arrays with the shapes and dtype of the parameters (gradient buffers), on the
        parameters' device (NumPy arrays when ``params`` is ``None``)."""
        if params is None:
            return [np.zeros(s, dtype=self.dtype) for s in self.shapes]
        xp = _xp.array_namespace(*params)
        return [xp.zeros_like(p, order="C") for p in params]

    def check_params(self, params: Sequence[np.ndarray], what: str = "params") -> None:
        """Raise ``SgdmError`` unless ``params`` has this problem's shapes and dtype."""
        shapes = self.shapes
        if len(params) != len(shapes):
            raise SgdmError(
                f"{what} has {len(params)} arrays; {self.name} expects {len(shapes)} with "
                f"shapes {shapes}"
            )
        for i, (p, s) in enumerate(zip(params, shapes)):
            is_array = isinstance(p, np.ndarray) or _xp.is_cupy(p)
            if not is_array or p.shape != s or p.dtype != self.dtype:
                got = (p.shape, p.dtype) if is_array else type(p).__name__
                raise SgdmError(
                    f"{what}[{i}] is {got}; {self.name} expects shape {s} and dtype "
                    f"{self.dtype.name}"
                )

    def _xy(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        if _xp.is_cupy(X):  # data on the GPU: labels follow them there
            xp = _xp.array_namespace(X)
            X = xp.asarray(X, dtype=self.dtype)
            y = xp.asarray(y)
        else:
            if _xp.is_cupy(y):
                raise TypeError(
                    "y is a cupy.ndarray but X is not; put X and y on the same device"
                )
            X = np.asarray(X, dtype=self.dtype)
            y = np.asarray(y)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise SgdmError(
                f"X has shape {X.shape}; expected (m, {self.n_features}) for this problem"
            )
        if y.shape != (X.shape[0],):
            raise SgdmError(f"y has shape {y.shape}; expected ({X.shape[0]},) to match X")
        if y.dtype.kind not in "iu":
            raise SgdmError(f"y has dtype {y.dtype}; expected integer class labels 0..K-1")
        if y.size and not _xp.is_cupy(y):
            # Out-of-range labels would index the wrong class silently (negatives wrap). One
            # unsigned maximum catches both ends: a negative label viewed unsigned is huge. On
            # the GPU the check would wait for the device at every call; the engine checks
            # its labels once, on the host.
            top = np.maximum.reduce(y.view(f"u{y.dtype.itemsize}"))
            if top >= self.n_classes:
                lo, hi = int(y.min()), int(y.max())
                raise SgdmError(
                    f"y holds labels {lo}..{hi}; expected class labels 0..{self.n_classes - 1}"
                )
        return X, y

    def loss_and_grad(
        self, params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, out: Sequence[np.ndarray]
    ) -> float:
        r"""Mean loss over the batch and its gradient, written into ``out``.

        Parameters
        ----------
        params
            The parameter arrays (see :attr:`shapes`).
        X, y
            The batch: ``(m, d)`` features and ``(m,)`` labels in ``0..K-1``, ``m >= 1``.
        out
            Preallocated gradient arrays, one per parameter, same shapes and dtype (e.g. from
            :meth:`zeros_like_params`); they are overwritten, not accumulated into.

        Returns
        -------
        float
            :math:`\frac{1}{m}\sum_{i\in B}\ell(\theta;x_i,y_i) + \frac{\lambda}{2}\sum\lVert W\rVert^2`.
            Non-finite if the parameters have diverged (no exception).
        """
        X, y = self._xy(X, y)
        if X.shape[0] == 0:
            raise SgdmError("the batch is empty; expected at least one sample")
        loss = self._batch(params, X, y, out, False)[0]
        return loss if type(loss) is float else float(loss)

    def _unchecked_loss_and_grad(self, params, X, y, out) -> Any:
        """:meth:`loss_and_grad` without the argument checks and without bringing the loss back:
        on CuPy arrays the loss stays a 0-d float64 device array (no synchronisation), so a
        training loop can queue its steps. For callers that validated ``X`` and ``y`` once (the
        engine), which saves the checks' few microseconds per step on the CPU too."""
        return self._batch(params, X, y, out, False)[0]

    def gradient(self, params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """Convenience: the mean batch gradient in fresh arrays (allocates; not for hot loops)."""
        out = self.zeros_like_params(params)
        self.loss_and_grad(params, X, y, out)
        return out

    def _chunks(self, m: int, chunk_size: int | None):
        if chunk_size is None:
            chunk_size = m
        chunk_size = _validate.check_int(chunk_size, "chunk_size", 1)
        for start in range(0, m, chunk_size):
            yield slice(start, min(start + chunk_size, m))

    def _full(self, params, X, y, out, chunk_size, count_correct) -> tuple[float, float]:
        """Exact full-set mean loss (and accuracy), gradient accumulated into ``out`` if given."""
        X, y = self._xy(X, y)
        m = X.shape[0]
        if m == 0:
            if out is not None:
                raise SgdmError("the data set is empty; the full gradient is undefined")
            return math.nan, math.nan
        grads: list[np.ndarray] | None = None  # each chunk's gradient, only when out is given
        if out is not None:
            if (
                self._tmp is None
                or [t.shape for t in self._tmp] != [p.shape for p in params]
                or type(self._tmp[0]) is not type(params[0])
            ):
                xp = _xp.array_namespace(*params)
                self._tmp = [xp.empty_like(p, order="C") for p in params]
            grads = self._tmp
            for o in out:
                o.fill(0)
        loss = 0.0
        correct = 0
        for sl in self._chunks(m, chunk_size):
            w = (sl.stop - sl.start) / m
            loss_c, correct_c = self._batch(params, X[sl], y[sl], grads, count_correct)
            # Each chunk's mean includes the L2 term once; the weights sum to 1, so the
            # weighted sum includes it exactly once as well.
            loss += w * loss_c
            correct += correct_c
            if grads is not None:
                wt = self.dtype.type(w)
                for o, t in zip(out, grads):
                    t *= wt
                    o += t
        # On CuPy, loss and correct are device scalars here: the public callers bring them back.
        return loss, (correct / m if count_correct else math.nan)

    def full_loss_and_grad(
        self,
        params: Sequence[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        out: Sequence[np.ndarray],
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> float:
        r"""Exact :math:`f(\theta)` over all of ``(X, y)``, with :math:`\nabla f(\theta)` in ``out``.

        The data are processed ``chunk_size`` rows at a time (``None``: all at once) and the chunk
        gradients are combined with weights :math:`m_c / n`, so memory stays
        :math:`O(\text{chunk\_size} \times \text{width})` whatever ``n``.
        """
        return _xp.to_host_floats(self._full(params, X, y, out, chunk_size, False)[0])[0]

    def full_grad_norm_sq(
        self,
        params: Sequence[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> float:
        r""":math:`\lVert\nabla f(\theta)\rVert^2 = \sum_j \lVert \partial f/\partial\theta_j\rVert_F^2`
        of the exact full-set objective (PAPER.md §7), computed in chunks, as a float64 sum."""
        return self.evaluate(params, X, y, chunk_size)[2]

    def evaluate(
        self,
        params: Sequence[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> tuple[float, float, float]:
        """``(loss, accuracy, grad_norm_sq)`` of the full set ``(X, y)``, in one chunked pass.

        On CuPy arrays everything is computed on the device and the three numbers come back in
        one transfer."""
        if (
            self._acc is None
            or [a.shape for a in self._acc] != [p.shape for p in params]
            or type(self._acc[0]) is not type(params[0])
        ):
            xp = _xp.array_namespace(*params)
            self._acc = [xp.empty_like(p, order="C") for p in params]
        loss, acc = self._full(params, X, y, self._acc, chunk_size, True)
        xp = _xp.array_namespace(self._acc[0])
        gns = 0.0
        for g in self._acc:
            g64 = g.astype(np.float64, copy=False).ravel()
            d = xp.dot(g64, g64)
            gns += float(d) if xp is np else d
        return _xp.to_host_floats(loss, acc, gns)

    def loss_and_accuracy(
        self,
        params: Sequence[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> tuple[float, float]:
        """Mean loss (L2 term included) and accuracy over ``(X, y)``, forward only, chunked.
        ``(nan, nan)`` for an empty set."""
        return _xp.to_host_floats(*self._full(params, X, y, None, chunk_size, True))

    def loss(self, params, X, y, chunk_size: int | None = DEFAULT_CHUNK_SIZE) -> float:
        """Mean loss :math:`f(\\theta)` over ``(X, y)`` (L2 term included), chunked."""
        return _xp.to_host_floats(self._full(params, X, y, None, chunk_size, False)[0])[0]

    def accuracy(self, params, X, y, chunk_size: int | None = DEFAULT_CHUNK_SIZE) -> float:
        """Fraction of samples whose predicted class (arg-max score) equals the label."""
        return self.loss_and_accuracy(params, X, y, chunk_size)[1]

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "problem")
        return f"{type(self).__name__}({items})"

    def _l2_terms(self, weights: Sequence[np.ndarray]) -> Any:
        if self.l2 == 0.0:
            return 0.0
        xp = _xp.array_namespace(weights[0])
        if xp is np:
            return 0.5 * self.l2 * sum(float(np.vdot(W, W)) for W in weights)
        return 0.5 * self.l2 * sum(xp.vdot(W, W).astype(np.float64) for W in weights)


def _count(xp: Any, mask: Any) -> Any:
    """Number of true entries: a Python int on NumPy, a 0-d device array on CuPy."""
    if xp is np:
        return int(np.count_nonzero(mask))
    return xp.count_nonzero(mask)


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


class LogisticRegression(Problem):
    r"""Logistic regression, binary or multinomial, with optional L2.

    **Binary** (``n_classes == 2`` and ``multinomial=False``, the default for two classes):
    parameters ``[w (d,), b (1,)]``, score :math:`z = Xw + b` ``(m,)``, labels :math:`y\in\{0,1\}`,

    .. math::

        \ell_i = \log(1 + e^{z_i}) - y_i z_i, \qquad
        \nabla_w = X^\top (\sigma(z) - y)/m,\quad \nabla_b = \textstyle\sum_i (\sigma(z_i) - y_i)/m,

    with :math:`\log(1+e^{z})` computed as ``logaddexp(0, z)`` and
    :math:`\sigma(z) = (1 + \tanh(z/2))/2` (both stable for any :math:`z`).

    **Multinomial** (``n_classes > 2``, or ``multinomial=True``): parameters
    ``[W (d, K), b (K,)]``, logits :math:`Z = XW + b` ``(m, K)``,

    .. math::

        \ell_i = \operatorname{logsumexp}(Z_i) - Z_{i y_i},\qquad
        \nabla_W = X^\top (P - Y)/m,\quad \nabla_b = \mathbf 1^\top (P - Y)/m,

    with :math:`P = \operatorname{softmax}(Z)` row-wise and :math:`Y` the one-hot labels.

    L2 adds :math:`\tfrac{\lambda}{2}\lVert W\rVert^2` to the loss and :math:`\lambda W` to
    :math:`\nabla_W` (the bias is not penalised). The initial parameters are zeros (the problem is
    convex, so the seed does not matter; it is accepted for a uniform interface).
    """

    name = "logreg"

    def __init__(
        self,
        n_features: int,
        n_classes: int = 2,
        *,
        l2: float = 0.0,
        multinomial: bool | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__(n_features, n_classes, l2, dtype)
        self.multinomial = bool(self.n_classes > 2 if multinomial is None else multinomial)
        if not self.multinomial and self.n_classes != 2:
            raise SgdmError(
                f"multinomial = False is invalid with n_classes = {self.n_classes}: the sigmoid "
                "model has exactly 2 classes"
            )

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        d, k = self.n_features, self.n_classes
        return [(d, k), (k,)] if self.multinomial else [(d,), (1,)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "multinomial": self.multinomial}

    def init_params(self, seed: int | np.random.Generator | None = 0) -> list[np.ndarray]:
        """Zeros, C-contiguous, in the problem's dtype (``seed`` is unused: the loss is convex)."""
        return [np.zeros(s, dtype=self.dtype) for s in self.shapes]

    def _batch(self, params, X, y, out, count_correct):
        W, b = params
        m = X.shape[0]
        xp = _xp.array_namespace(X)
        ws = self._workspace(xp)
        if self.multinomial:
            S = ws.get("S", (self.n_classes, m))
            xp.dot(W.T, X.T, out=S)  # the scores (XW + b), transposed: one column per sample
            S += b[:, None]
            correct = _count(xp, S.argmax(axis=0) == y) if count_correct else 0
            loss = _softmax_xent(S, y, ws, out is not None)
            if out is not None:
                gW, gb = out
                D = S.T  # the scores' gradient, (m, K)
                xp.dot(X.T, D, out=gW)
                xp.dot(ws.ones(m), D, out=gb)  # column sums
        else:
            z = ws.get("z", (m,))
            xp.dot(X, W, out=z)
            z += b[0]
            correct = _count(xp, (z > 0) == (y == 1)) if count_correct else 0
            r = ws.get("r", (m,))
            xp.logaddexp(0.0, z, out=r)
            y_float = y.astype(z.dtype, copy=False)
            zy = xp.dot(z, y_float)
            if xp is np:
                loss = (float(np.add.reduce(r)) - float(zy)) / m
            else:
                loss = _mean_of_sum(xp, r.sum().astype(np.float64) - zy.astype(np.float64), m)
            if out is not None:
                gW, gb = out
                # r = (sigma(z) - y) / m with sigma(z) = (1 + tanh(z/2)) / 2
                half = z.dtype.type(0.5)
                xp.multiply(z, half, out=r)
                xp.tanh(r, out=r)
                r += 1.0
                r *= half
                r -= y_float  # same values as y; a float-float subtraction is faster
                r *= z.dtype.type(1.0 / m)
                xp.dot(X.T, r, out=gW)
                gb[0] = _xp.total(xp, r)
        if self.l2:
            loss += self._l2_terms([W])
            if out is not None:
                gW += self.dtype.type(self.l2) * W
        return loss, correct


_ACTIVATIONS = ("relu", "tanh")


class MLP(Problem):
    r"""A fully connected network with softmax cross-entropy output.

    Layers :math:`\ell = 1..L` (``L = len(hidden) + 1``) with parameters
    ``[W1 (d, h1), b1 (h1,), ..., WL (h_{L-1}, K), bL (K,)]``:

    .. math::

        A_0 = X,\qquad A_\ell = \phi(A_{\ell-1} W_\ell + b_\ell)\ (\ell < L),\qquad
        Z = A_{L-1} W_L + b_L,\qquad \ell_i = \operatorname{logsumexp}(Z_i) - Z_{i y_i}.

    Backpropagation: :math:`D_L = (\operatorname{softmax}(Z) - Y)/m`, and for each layer
    :math:`\nabla W_\ell = A_{\ell-1}^\top D_\ell`, :math:`\nabla b_\ell = \mathbf 1^\top D_\ell`,
    :math:`D_{\ell-1} = (D_\ell W_\ell^\top) \odot \phi'(\cdot)`, where
    :math:`\phi' = \mathbb 1[A > 0]` for ReLU and :math:`1 - A^2` for tanh (both written in terms of
    the stored activations :math:`A`). The ReLU derivative at exactly 0 is taken as 0.

    Initialisation (``init_params(seed)``, ``np.random.default_rng(seed)``): hidden layers He
    normal :math:`\mathcal N(0, 2/\text{fan\_in})` for ReLU, Glorot uniform
    :math:`\mathcal U(\pm\sqrt{6/(\text{fan\_in}+\text{fan\_out})})` for tanh; the output layer
    Glorot uniform; biases zero. L2 penalises every ``W`` (not the biases).
    """

    name = "mlp"

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        hidden: Sequence[int] | int = (64,),
        activation: str = "relu",
        l2: float = 0.0,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__(n_features, n_classes, l2, dtype)
        if isinstance(hidden, bool):  # an int to isinstance, but not a layer width
            raise SgdmError(f"hidden = {hidden!r} is invalid: expected a list of layer widths")
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise SgdmError(f"hidden = {hidden!r} is invalid: expected a list of layer widths") from None
        for h in hidden:
            _validate.check_int(h, "hidden layer width", 1)
        self.hidden = tuple(int(h) for h in hidden)
        if activation not in _ACTIVATIONS:
            raise SgdmError(
                f"activation = {activation!r} is invalid: expected one of {', '.join(map(repr, _ACTIVATIONS))}"
            )
        self.activation = activation
        self._widths = (self.n_features, *self.hidden, self.n_classes)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        shapes: list[tuple[int, ...]] = []
        for fan_in, fan_out in zip(self._widths[:-1], self._widths[1:]):
            shapes += [(fan_in, fan_out), (fan_out,)]
        return shapes

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "hidden": list(self.hidden), "activation": self.activation}

    def init_params(self, seed: int | np.random.Generator | None = 0) -> list[np.ndarray]:
        """Seeded He (ReLU) or Glorot (tanh, output layer) weights and zero biases."""
        rng = _rng(seed)
        params: list[np.ndarray] = []
        n_layers = len(self._widths) - 1
        for i, (fan_in, fan_out) in enumerate(zip(self._widths[:-1], self._widths[1:])):
            if i < n_layers - 1 and self.activation == "relu":
                W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                a = math.sqrt(6.0 / (fan_in + fan_out))
                W = rng.uniform(-a, a, size=(fan_in, fan_out))
            params += [np.ascontiguousarray(W, dtype=self.dtype), np.zeros(fan_out, self.dtype)]
        return params

    def _batch(self, params, X, y, out, count_correct):
        m = X.shape[0]
        xp = _xp.array_namespace(X)
        ws = self._workspace(xp)
        n_layers = len(self._widths) - 1
        Ws, bs = params[0::2], params[1::2]
        acts = [X]
        for i in range(n_layers - 1):
            A = ws.get(f"A{i}", (m, self._widths[i + 1]))
            xp.dot(acts[-1], Ws[i], out=A)
            A += bs[i]
            if self.activation == "relu":
                xp.maximum(A, 0, out=A)
            else:
                xp.tanh(A, out=A)
            acts.append(A)
        S = ws.get("S", (self.n_classes, m))
        xp.dot(Ws[-1].T, acts[-1].T, out=S)  # output scores, transposed: one column per sample
        S += bs[-1][:, None]
        correct = _count(xp, S.argmax(axis=0) == y) if count_correct else 0
        loss = _softmax_xent(S, y, ws, out is not None)
        if out is not None:
            D = S.T  # the output scores' gradient, (m, K)
            for i in range(n_layers - 1, -1, -1):
                gW, gb = out[2 * i], out[2 * i + 1]
                xp.dot(acts[i].T, D, out=gW)
                xp.dot(ws.ones(m), D, out=gb)  # column sums
                if i == 0:
                    break
                A = acts[i]
                G = ws.get(f"G{i}", (m, self._widths[i]))
                xp.dot(D, Ws[i].T, out=G)
                M = ws.get(f"M{i}", (m, self._widths[i]))
                if self.activation == "relu":
                    xp.sign(A, out=M)  # A >= 0, so sign(A) = 1[A > 0]
                else:
                    xp.multiply(A, A, out=M)
                    xp.subtract(1.0, M, out=M)
                G *= M
                D = G
        if self.l2:
            loss += self._l2_terms(Ws)
            if out is not None:
                lam = self.dtype.type(self.l2)
                for i, W in enumerate(Ws):
                    out[2 * i] += lam * W
        return loss, correct


def make_problem(name: str, n_features: int, n_classes: int, **opts: Any) -> Problem:
    """Build a problem by name: ``"logreg"`` (:class:`LogisticRegression`) or ``"mlp"``
    (:class:`MLP`); ``opts`` are the class's keyword options (``l2``, ``dtype``,
    ``multinomial``; ``hidden``, ``activation``). Unknown names or options raise ``SgdmError``."""
    classes = {"logreg": LogisticRegression, "mlp": MLP}
    if name not in classes:
        raise SgdmError(
            f"problem = {name!r} is unknown: expected one of {', '.join(map(repr, classes))}"
        )
    cls = classes[name]
    try:
        return cls(n_features, n_classes, **opts)
    except TypeError as exc:  # an unknown keyword
        raise SgdmError(f"invalid option for problem {name!r}: {exc}") from None
