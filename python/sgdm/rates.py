r"""Empirical convergence rates of a training history (PAPER.md §7), in pure NumPy.

The metric is :math:`G_e = \lVert\nabla f(\theta_e)\rVert^2` at the end of each epoch and its
running minimum :math:`G^{\min}_e = \min_{e' \le e} G_{e'}`. Against a clock :math:`x` (steps
:math:`T` or SFO), this module measures

- the **decay slope** :math:`s` of :math:`\log G^{\min}` against :math:`\log x` over the last
  part of the run (:func:`fit_decay_slope`): :math:`G \approx C x^{s}`, so :math:`s \approx -1`
  is an :math:`O(1/T)` rate and :math:`s \approx 0` a plateau;
- the **floor** :math:`c` of :math:`G \approx c + A x^{-p}` (:func:`fit_floor`), which tells a
  rate that vanishes (:math:`c \approx 0`) from one that stalls at :math:`C\sigma^2/b`;
- the **decay per stage** (:func:`per_stage_decay`), the factor by which :math:`G^{\min}` shrinks
  from one batch-size stage to the next (strategy (iii) predicts a constant factor
  :math:`\gamma^{-1}`);
- the **steps / SFO to a target** :math:`\varepsilon` (:func:`steps_to_target`,
  :func:`sfo_to_target`).

The history arguments accept an ``engine.History``, a dict of columns, or a list of row dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ._sgdm import SgdmError

__all__ = [
    "SlopeFit",
    "FloorFit",
    "StageDecay",
    "running_min",
    "fit_decay_slope",
    "fit_floor",
    "per_stage_decay",
    "steps_to_target",
    "sfo_to_target",
    "first_reaching",
    "history_columns",
]


def history_columns(history: Any) -> dict[str, np.ndarray]:
    """Columns of a history: ``History`` (its ``to_columns()``), a dict of arrays, or rows."""
    if hasattr(history, "to_columns"):
        return history.to_columns()
    if isinstance(history, Mapping):
        return {k: np.asarray(v) for k, v in history.items()}
    rows = list(history)
    if rows and not isinstance(rows[0], Mapping):
        raise SgdmError(
            "history must be an engine.History, a dict of columns or a list of row dicts"
        )
    keys = rows[0].keys() if rows else ()
    return {k: np.asarray([r[k] for r in rows]) for k in keys}


def running_min(values: Sequence[float] | np.ndarray) -> np.ndarray:
    r""":math:`r_e = \min_{e' \le e} v_{e'}` as float64, ignoring NaN (a NaN before any finite
    value gives NaN; after one, the minimum so far). ``+inf`` is kept as a value."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise SgdmError(f"values has shape {v.shape}; expected a 1-D sequence")
    return np.fmin.accumulate(v) if v.size else v.copy()


@dataclass(frozen=True)
class SlopeFit:
    r"""Least-squares fit :math:`\log y = a + s \log x` (natural logs).

    ``slope`` is :math:`s` (NaN when fewer than 2 usable points), ``intercept`` :math:`a`,
    ``r_squared`` the coefficient of determination, ``n_points`` the points used, and
    ``x_range`` the first and last :math:`x` of the window.
    """

    slope: float
    intercept: float
    r_squared: float
    n_points: int
    x_range: tuple[float, float]


def _positive_points(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float64 arrays (equal 1-D shapes), keeping the points where both are
    finite and positive."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise SgdmError(f"x and y have shapes {xa.shape} and {ya.shape}; expected equal 1-D shapes")
    ok = np.isfinite(xa) & np.isfinite(ya) & (xa > 0) & (ya > 0)
    return xa[ok], ya[ok]


def fit_decay_slope(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    last_fraction: float = 0.5,
) -> SlopeFit:
    r"""The slope of :math:`\log y` against :math:`\log x` over the last part of the run.

    Points with :math:`x \le 0`, :math:`y \le 0` or non-finite values are dropped (e.g. the
    initial row with :math:`T = 0`); of the rest, the last ``ceil(last_fraction * n)`` (at
    least 2) are fitted by ordinary least squares in log–log space:

    .. math::

        s = \frac{\sum_i (u_i - \bar u)(v_i - \bar v)}{\sum_i (u_i - \bar u)^2},
        \qquad u = \log x,\ v = \log y.

    Pass the running minimum as ``y`` for the paper's metric. ``last_fraction`` in ``(0, 1]``
    counts points (epochs), so 0.5 with 300 epochs uses the last 150.
    """
    if not 0.0 < last_fraction <= 1.0:
        raise SgdmError(f"last_fraction = {last_fraction!r} is invalid: expected a number in (0, 1]")
    px, py = _positive_points(x, y)
    n = px.size
    k = max(2, math.ceil(last_fraction * n))
    px, py = px[n - min(k, n):], py[n - min(k, n):]
    if px.size < 2 or np.ptp(px) == 0:
        xr = (float(px[0]), float(px[-1])) if px.size else (math.nan, math.nan)
        return SlopeFit(math.nan, math.nan, math.nan, int(px.size), xr)
    u, v = np.log(px), np.log(py)
    du, dv = u - u.mean(), v - v.mean()
    slope = float(np.dot(du, dv) / np.dot(du, du))
    intercept = float(v.mean() - slope * u.mean())
    ss_res = float(np.sum((dv - slope * du) ** 2))
    ss_tot = float(np.dot(dv, dv))
    # a flat tail (ss_tot ~ 0 up to rounding) is fitted exactly by slope 0
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 1e-20 * v.size else 1.0
    return SlopeFit(slope, intercept, r2, int(px.size), (float(px[0]), float(px[-1])))


@dataclass(frozen=True)
class FloorFit:
    r"""Fit :math:`y \approx c + A\,x^{-p}`.

    ``floor`` is :math:`c \ge 0`, ``amplitude`` :math:`A`, ``power`` :math:`p`;
    ``floor_fraction`` :math:`= c / y_{\text{last}}`, the share of the last value explained by the
    floor; ``significant`` says whether the floor is real (see :func:`fit_floor`);
    ``rel_rms`` the root-mean-square relative residual of the fit; ``n_points`` the points used.
    """

    floor: float
    amplitude: float
    power: float
    floor_fraction: float
    significant: bool
    rel_rms: float
    n_points: int


def _weighted_ls(basis: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares of ``y`` on the columns of ``basis`` in relative error (weights 1/y)."""
    w = 1.0 / y
    coef, *_ = np.linalg.lstsq(basis * w[:, None], np.ones_like(y), rcond=None)
    r = (basis @ coef - y) * w
    return coef, float(np.dot(r, r))


def fit_floor(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    powers: Sequence[float] | np.ndarray | None = None,
    significance: float = 0.25,
) -> FloorFit:
    r"""Fit :math:`y \approx c + A x^{-p}` with :math:`c \ge 0`, :math:`A \ge 0`, without SciPy.

    For each :math:`p` on a grid (default 200 values log-spaced in :math:`[0.05, 5]`), :math:`c`
    and :math:`A` solve a linear least-squares problem in **relative** error,
    :math:`\min_{c,A} \sum_i \big((c + A x_i^{-p} - y_i)/y_i\big)^2`, so every decade of a
    log-scale curve weighs the same; a negative :math:`c` or :math:`A` is clamped to 0 and the
    other coefficient refitted. The :math:`p` with the smallest residual wins.

    The floor is ``significant`` when :math:`c \ge` ``significance`` :math:`\times y_{\text{last}}`
    (by default the floor explains at least a quarter of the last value): a vanishing rate leaves
    :math:`c/y_{\text{last}} \to 0`, a plateau :math:`c/y_{\text{last}} \to 1`. Points with
    non-positive or non-finite :math:`x, y` are dropped; with fewer than 3 the fit is NaN.
    """
    px, py = _positive_points(x, y)
    if px.size < 3:
        return FloorFit(math.nan, math.nan, math.nan, math.nan, False, math.nan, int(px.size))
    grid = np.geomspace(0.05, 5.0, 200) if powers is None else np.asarray(powers, dtype=np.float64)
    if grid.size == 0:
        raise SgdmError(f"powers = {powers!r} is invalid: expected at least one power to try")
    xs = px / px[0]  # scale-free basis, better conditioned
    best: tuple[float, float, float, float] | None = None  # (rss, c, a, p) of the best power
    ones = np.ones_like(py)
    for p in grid:
        t = xs ** (-p)
        coef, rss = _weighted_ls(np.column_stack([ones, t]), py)
        c, a = coef
        if c < 0 or a < 0:
            cands = [(np.array([0.0, max(_weighted_ls(t[:, None], py)[0][0], 0.0)]))]
            cands.append(np.array([max(_weighted_ls(ones[:, None], py)[0][0], 0.0), 0.0]))
            fits = []
            for cf in cands:
                r = (cf[0] + cf[1] * t - py) / py
                fits.append((float(np.dot(r, r)), cf))
            rss, coef = min(fits, key=lambda f: f[0])
            c, a = coef
        if best is None or rss < best[0]:
            best = (rss, float(c), float(a), float(p))
    assert best is not None  # the grid is not empty
    rss, c, a_scaled, p = best
    amplitude = a_scaled * px[0] ** p  # A x^{-p} = a_scaled (x / x0)^{-p}
    frac = c / py[-1]
    return FloorFit(
        floor=c,
        amplitude=float(amplitude),
        power=p,
        floor_fraction=float(frac),
        significant=bool(frac >= significance),
        rel_rms=math.sqrt(rss / py.size),
        n_points=int(py.size),
    )


@dataclass(frozen=True)
class StageDecay:
    r"""Decay of a metric across stages (runs of epochs with the same batch size).

    ``stage_values[k]``: the value at the end of stage ``k``; ``ratios[k]`` =
    ``stage_values[k+1] / stage_values[k]``; ``mean_ratio``: their geometric mean (the average
    factor per stage; below 1 means decay); ``batch_sizes[k]``: the batch size of stage ``k``.
    """

    stage_values: np.ndarray
    ratios: np.ndarray
    mean_ratio: float
    batch_sizes: np.ndarray


def per_stage_decay(
    history: Any, key: str = "grad_norm_sq_min", stage_key: str = "batch_size"
) -> StageDecay:
    r"""The factor by which ``key`` shrinks from one stage to the next.

    A stage is a maximal run of consecutive rows with the same ``stage_key`` (the batch size by
    default); the row recording the initial point (``steps == 0``) is skipped. With stage-end
    values :math:`G_k`, ``ratios`` are :math:`G_{k+1}/G_k` and ``mean_ratio`` is
    :math:`\big(\prod_k G_{k+1}/G_k\big)^{1/(M-1)} = (G_{M-1}/G_0)^{1/(M-1)}` over the :math:`M`
    stages (NaN with fewer than two stages or non-positive values).
    """
    cols = history_columns(history)
    v = np.asarray(cols[key], dtype=np.float64)
    s = np.asarray(cols[stage_key])
    if "steps" in cols:
        keep = np.asarray(cols["steps"]) > 0
        v, s = v[keep], s[keep]
    if v.size == 0:
        empty = np.zeros(0)
        return StageDecay(empty, empty, math.nan, np.zeros(0, dtype=np.int64))
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    values = v[ends]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = values[1:] / values[:-1]
    if values.size >= 2 and values[0] > 0 and values[-1] > 0 and np.all(np.isfinite(values)):
        mean = float((values[-1] / values[0]) ** (1.0 / (values.size - 1)))
    else:
        mean = math.nan
    return StageDecay(values, ratios, mean, s[ends])


def first_reaching(history: Any, target: float, clock: str, key: str = "grad_norm_sq") -> int | None:
    r"""``clock`` (e.g. ``"steps"``, ``"sfo"``, ``"epoch"``) at the first row with
    ``key`` :math:`\le` ``target``; ``None`` if no row gets there."""
    if not (isinstance(target, (int, float, np.integer, np.floating)) and target > 0):
        raise SgdmError(f"target = {target!r} is invalid: expected a number > 0")
    cols = history_columns(history)
    v = np.asarray(cols[key], dtype=np.float64)
    hit = np.flatnonzero(v <= target)
    if hit.size == 0:
        return None
    return int(np.asarray(cols[clock])[hit[0]])


def steps_to_target(history: Any, target: float) -> int | None:
    r"""Steps :math:`T` at the first epoch end with :math:`\lVert\nabla f\rVert^2 \le \varepsilon`
    (``None`` if never). Resolution is one epoch: the count is the steps done so far then."""
    return first_reaching(history, target, "steps")


def sfo_to_target(history: Any, target: float) -> int | None:
    r"""SFO (per-sample gradients) at the first epoch end with
    :math:`\lVert\nabla f\rVert^2 \le \varepsilon` (``None`` if never)."""
    return first_reaching(history, target, "sfo")
