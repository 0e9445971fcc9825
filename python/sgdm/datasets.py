r"""Classification data sets: built-ins and the user's own files, split and standardised.

:func:`load_dataset` returns a :class:`Dataset` with

- a seeded, stratified train/test split (``test_size`` of each class, at least one sample of
  every class with two or more samples goes to each side),
- features standardised with the mean and standard deviation of the **training split only**
  (:math:`x \mapsto (x - \mu_{\text{train}})/\sigma_{\text{train}}`, constant features get
  :math:`\sigma = 1`), float64, C-contiguous,
- labels remapped to ``0..K-1`` in sorted order of the original values (kept in
  ``Dataset.classes``).

Sources
-------
Built-ins (names in :data:`DATASETS`; they need scikit-learn):
``digits`` (the default, 1,797 × 64, 10 classes), ``breast-cancer`` (569 × 30, 2 classes) and
``synthetic`` (``sklearn.datasets.make_classification``; ``n_samples`` × ``n_features`` with
``n_classes``, default 100,000 × 200 × 2, generated from ``seed``). ``digits`` and
``breast-cancer`` are read straight from the CSV files scikit-learn ships, without importing it
(about 2 s saved per process), falling back to its loaders if those files are not found.

Files, chosen by extension (or by ``format=`` for any name):

- ``.npz``: arrays ``X`` ``(n, d)`` and ``y`` ``(n,)``; or a ready split ``X_train``,
  ``y_train``, ``X_test``, ``y_test`` (then ``test_size`` is not used). No scikit-learn needed.
- ``.svm``, ``.svmlight``, ``.libsvm`` (optionally ``.gz`` / ``.bz2`` compressed): the
  svmlight / LIBSVM text format (``label index:value ...``), read with scikit-learn's
  ``load_svmlight_file`` and made dense. Files without one of these extensions (``a9a``,
  ``mnist.scale``, ``*.txt``) load with ``format="svmlight"``.
- ``.csv`` (comma, semicolon or tab separated, detected from the first line) and ``.tsv``: one
  sample per row, numbers only. The first row is a header when any of its fields is not a
  number (or say ``header=True/False``). The label column is ``label_column`` (a header name or
  a 0-based index, negative counts from the end); by default a column named ``label``, ``y``,
  ``target`` or ``class`` (any case), otherwise the last column. No scikit-learn needed.

Every problem raises :class:`DatasetError` (an :class:`sgdm.SgdmError`, hence a ``ValueError``)
naming the data set or file and what is accepted; a missing scikit-learn raises
:class:`MissingDependencyError` (also an ``ImportError``).
"""

from __future__ import annotations

import csv
import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate
from ._sgdm import SgdmError

__all__ = [
    "DATASETS",
    "FILE_FORMATS",
    "Dataset",
    "DatasetError",
    "MissingDependencyError",
    "load_dataset",
    "stratified_split",
    "standardize",
]

#: Built-in data set names with one-line descriptions (for help texts).
DATASETS: dict[str, str] = {
    "digits": "scikit-learn's 8x8 handwritten digits: 1,797 samples, 64 features, 10 classes (default)",
    "breast-cancer": "Wisconsin breast cancer: 569 samples, 30 features, 2 classes",
    "synthetic": "make_classification: n_samples x n_features (default 100,000 x 200), n_classes (default 2)",
}

#: File extensions and the format each one selects.
FILE_FORMATS: dict[str, str] = {
    ".npz": "npz",
    ".svm": "svmlight",
    ".svmlight": "svmlight",
    ".libsvm": "svmlight",
    ".csv": "csv",
    ".tsv": "csv",
}
_FORMATS = ("npz", "svmlight", "csv")
_COMPRESSED = (".gz", ".bz2")
_LABEL_NAMES = ("label", "y", "target", "class")
#: The held-out fraction when none is given.
TEST_SIZE = 0.2
#: The size of the ``synthetic`` data set when none is given.
SYNTHETIC_SIZE = {"n_samples": 100_000, "n_features": 200, "n_classes": 2}
INSTALL_HINT = "pip install 'sgdm-cli[datasets]' (or: pip install scikit-learn)"
MAX_DENSE_BYTES = 4 * 1024**3


class DatasetError(SgdmError):
    """A data set could not be loaded: unknown name or format, missing or malformed file."""


class MissingDependencyError(DatasetError, ImportError):
    """An optional dependency (scikit-learn) is needed for this data set and is not installed."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set, split and standardised.

    Attributes
    ----------
    name
        The built-in name or the file's name.
    X_train, X_test
        ``(n_train, d)`` and ``(n_test, d)`` float64 features, C-contiguous (``n_test`` may be 0).
    y_train, y_test
        ``(n_train,)`` and ``(n_test,)`` int64 labels in ``0..n_classes-1``.
    n_classes
        ``K``, the number of distinct labels in the whole data set.
    classes
        ``(K,)`` the original label values; new label ``k`` stands for ``classes[k]``.
    feature_names
        ``d`` names (a CSV header, scikit-learn's names, or ``x0, x1, ...``).
    source
        ``"builtin:<name>"`` or the file's path.
    standardized
        Whether features were standardised; ``mean`` and ``scale`` are the training statistics.
    seed, test_size
        The split's settings.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    classes: np.ndarray
    feature_names: tuple[str, ...]
    source: str
    standardized: bool
    seed: int
    test_size: float | None
    mean: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def info(self) -> dict[str, Any]:
        """Plain JSON-able description (for run metadata and the CLI)."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "classes": self.classes.tolist(),
            "standardized": self.standardized,
            "seed": self.seed,
            "test_size": self.test_size,
        }

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


# ------------------------------------------------------------------------------------------
# split and standardise (pure NumPy)


def stratified_split(
    y: np.ndarray, test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(y))`` into sorted ``(train_idx, test_idx)``.

    Each class with ``c`` samples sends ``round(test_size * c)`` of them to the test side,
    clipped to ``[1, c - 1]`` when ``c >= 2`` and ``test_size > 0`` (so every such class
    appears on both sides); a class with a single sample stays in training.
    """
    y = np.asarray(y)
    test_parts = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = int(round(test_size * idx.size))
        if test_size > 0 and idx.size >= 2:
            k = min(max(k, 1), idx.size - 1)
        elif idx.size < 2:
            k = 0
        test_parts.append(idx[:k])
    is_test = np.zeros(y.shape[0], dtype=bool)
    if test_parts:
        is_test[np.concatenate(test_parts)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def standardize(
    X_train: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    r"""``(mean, scale, [X_train, *others] standardised)`` with statistics of ``X_train`` only.

    :math:`\mu_j` and :math:`\sigma_j` are the column mean and (population) standard deviation
    of the training rows; columns with :math:`\sigma_j = 0` (or not finite) get
    :math:`\sigma_j = 1`, so they become 0 rather than NaN. Inputs are not modified.
    """
    mean = X_train.mean(axis=0) if X_train.shape[0] else np.zeros(X_train.shape[1])
    scale = X_train.std(axis=0) if X_train.shape[0] else np.ones(X_train.shape[1])
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    out = [np.ascontiguousarray((X - mean) / scale) for X in (X_train, *others)]
    return mean, scale, out


# ------------------------------------------------------------------------------------------
# validation shared by every source


def _check_xy(X: Any, y: Any, where: str, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Numeric 2-D finite ``X``, 1-D numeric integer-valued ``y`` of the same length."""
    sfx = f" ({what})" if what else ""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype.kind not in "biuf":
        raise DatasetError(f"{where}: X{sfx} has dtype {X.dtype}; expected numbers")
    if X.ndim != 2:
        raise DatasetError(
            f"{where}: X{sfx} has shape {X.shape}; expected a 2-D array (n_samples, n_features)"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{where}: y{sfx} has shape {y.shape}; expected a 1-D array of labels")
    if y.shape[0] != X.shape[0]:
        raise DatasetError(
            f"{where}: X{sfx} has {X.shape[0]} rows but y has {y.shape[0]} labels; expected "
            "one label per row"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DatasetError(f"{where}: X{sfx} has shape {X.shape}; expected at least one row and column")
    if y.dtype.kind not in "biuf":
        sample = y[:3].tolist()
        raise DatasetError(
            f"{where}: labels{sfx} are not numeric (dtype {y.dtype}, e.g. {sample}); expected "
            "integer class ids such as 0..K-1 (or -1/+1)"
        )
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise DatasetError(
            f"{where}: X{sfx} contains NaN or Inf (first at row {bad[0]}, column {bad[1]}); "
            "expected finite numbers"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            bad = y[~(np.isfinite(y) & (y == np.round(y)))][:3].tolist()
            raise DatasetError(
                f"{where}: labels{sfx} are not integers (e.g. {bad}); expected class ids — this "
                "looks like a regression target"
            )
    return X, y


def _finish(
    name: str,
    source: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: Any,
    seed: int,
    test_size: float,
    do_standardize: bool,
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    where = name if source.startswith("builtin:") else source
    if split is None:
        X, y = _check_xy(X, y, where)
        classes, labels = np.unique(y, return_inverse=True)
        rng = np.random.default_rng(seed)
        tr, te = stratified_split(labels, float(test_size), rng)
        X_tr, X_te, y_tr, y_te = X[tr], X[te], labels[tr], labels[te]
    else:
        X_tr, y_tr = _check_xy(split[0], split[1], where, "X_train/y_train")
        X_te, y_te = _check_xy(split[2], split[3], where, "X_test/y_test")
        if X_te.shape[1] != X_tr.shape[1]:
            raise DatasetError(
                f"{where}: X_train has {X_tr.shape[1]} features but X_test has {X_te.shape[1]}"
            )
        classes, labels = np.unique(np.concatenate([y_tr, y_te]), return_inverse=True)
        y_tr, y_te = labels[: y_tr.shape[0]], labels[y_tr.shape[0]:]
    if classes.size < 2:
        raise DatasetError(
            f"{where}: every label is {classes.tolist()}; expected at least 2 classes"
        )
    mean: np.ndarray | None
    scale: np.ndarray | None
    if do_standardize:
        mean, scale, (X_tr, X_te) = standardize(X_tr, X_te)
    else:
        mean = scale = None
        X_tr, X_te = np.ascontiguousarray(X_tr), np.ascontiguousarray(X_te)
    d = X_tr.shape[1]
    names = tuple(str(f) for f in feature_names) if feature_names is not None else ()
    if len(names) != d:
        names = tuple(f"x{j}" for j in range(d))
    return Dataset(
        name=name,
        X_train=X_tr,
        y_train=np.ascontiguousarray(y_tr, dtype=np.int64),
        X_test=X_te,
        y_test=np.ascontiguousarray(y_te, dtype=np.int64),
        n_classes=int(classes.size),
        classes=classes,
        feature_names=names,
        source=source,
        standardized=bool(do_standardize),
        seed=seed,
        test_size=None if split is not None else float(test_size),
        mean=mean,
        scale=scale,
    )


# ------------------------------------------------------------------------------------------
# sources


def _sklearn_datasets(what: str):
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs scikit-learn, which is not installed: {INSTALL_HINT}"
        ) from None
    return skd


_BC_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension",
)
#: scikit-learn's names of the 30 breast-cancer features.
_BC_NAMES = tuple(
    [f"mean {m}" for m in _BC_MEASURES]
    + [f"{m} error" for m in _BC_MEASURES]
    + [f"worst {m}" for m in _BC_MEASURES]
)
_DIGITS_NAMES = tuple(f"pixel_{i // 8}_{i % 8}" for i in range(64))


def _bundled(file_name: str, skip_header: int, shape: tuple[int, int]) -> np.ndarray | None:
    """Read one of scikit-learn's bundled data files without importing scikit-learn.

    ``import sklearn.datasets`` costs about 2 s; the digits and breast-cancer tables are small
    CSV files shipped inside the package (``sklearn/datasets/data``). Locating the package with
    ``importlib.util.find_spec`` does not import it. Returns ``None`` when the file is not
    where expected or not as expected, and the caller falls back to scikit-learn's loader.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / file_name
        if path.is_file():
            try:
                data = np.loadtxt(path, delimiter=",", skiprows=skip_header, ndmin=2)
            except (ValueError, OSError):
                return None
            return data if data.shape == shape else None
    return None


#: Working copies of the feature matrix a run holds at its peak (loaded or generated, split,
#: standardised, the engine's per-epoch shuffle buffer), for the up-front memory check.
WORKING_COPIES = 4


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(n_values: int, what: str, available: int | None = None) -> None:
    """Refuse, before allocating anything, a data set whose float64 values (times the working
    copies a run makes) do not fit in the available memory."""
    available = available_memory() if available is None else available
    need = n_values * 8 * WORKING_COPIES
    if available is not None and need > available:
        raise DatasetError(
            f"{what}: {n_values:,} float64 values need about {_gib(need)} with the "
            f"{WORKING_COPIES} working copies a run makes, but only {_gib(available)} of memory "
            "is available; use a smaller data set"
        )


def _npz_values(path: Path) -> int:
    """Number of values in an .npz file's arrays, read from their headers only."""
    import zipfile

    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".npy"):
                    with z.open(name) as f:
                        version = np.lib.format.read_magic(f)
                        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                else np.lib.format.read_array_header_2_0)
                        shape, _, _ = read(f)
                        total += math.prod(shape)
    except (zipfile.BadZipFile, ValueError, OSError):
        return 0  # not readable as a zip: the loader reports the real problem
    return total


def _load_builtin(name: str, opts: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any]:
    if name == "digits":
        data = _bundled("digits.csv.gz", 0, (1797, 65))
        if data is not None:
            return data[:, :-1], data[:, -1].astype(np.int64), _DIGITS_NAMES
        b = _sklearn_datasets(f"the built-in data set {name!r}").load_digits()
        return b.data, b.target, _DIGITS_NAMES
    if name == "breast-cancer":
        data = _bundled("breast_cancer.csv", 1, (569, 31))
        if data is not None:
            return data[:, :-1], data[:, -1].astype(np.int64), _BC_NAMES
        b = _sklearn_datasets(f"the built-in data set {name!r}").load_breast_cancer()
        return b.data, b.target, list(b.feature_names)
    skd = _sklearn_datasets(f"the built-in data set {name!r}")
    # synthetic
    n_samples = _pos_int(opts.pop("n_samples", None), "n_samples", SYNTHETIC_SIZE["n_samples"], 2)
    n_features = _pos_int(opts.pop("n_features", None), "n_features", SYNTHETIC_SIZE["n_features"], 1)
    n_classes = _pos_int(opts.pop("n_classes", None), "n_classes", SYNTHETIC_SIZE["n_classes"], 2)
    need = math.ceil(math.log2(n_classes))
    n_informative = min(n_features, max(n_features // 4, need + 1))
    clusters = 2 if 2 * n_classes <= 2**n_informative else 1
    if n_classes > 2**n_informative:
        raise DatasetError(
            f"synthetic: n_classes = {n_classes} needs at least {need} features "
            f"(n_features = {n_features}); expected n_classes <= 2 ** n_features"
        )
    n_redundant = min(n_features - n_informative, n_features // 10)
    check_memory(n_samples * n_features, f"synthetic ({n_samples:,} x {n_features:,})")
    X, y = skd.make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_classes=n_classes,
        n_clusters_per_class=clusters,
        flip_y=0.01,
        class_sep=1.0,
        random_state=opts.pop("_seed"),
    )
    return X, y, None


def _pos_int(value: Any, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    return _validate.check_int(value, name, minimum, DatasetError)


def _load_npz(path: Path):
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"{path}: not a readable .npz archive (not a zip file); expected numpy.savez output "
            "with arrays X and y"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            split_keys = ("X_train", "y_train", "X_test", "y_test")
            if set(split_keys) <= keys:
                arrays = tuple(z[k] for k in split_keys)
                return None, None, arrays, _npz_names(z, keys)
            if {"X", "y"} <= keys:
                return z["X"], z["y"], None, _npz_names(z, keys)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npz archive ({exc})") from None
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise DatasetError(
            f"{path}: cannot read an array ({exc}); expected numeric arrays X and y"
        ) from None
    hint = (
        " (this looks like a scipy.sparse save_npz file; save X.toarray() and y with numpy.savez)"
        if {"indptr", "indices", "data"} <= keys
        else ""
    )
    raise DatasetError(
        f"{path}: the archive holds {sorted(keys)}; expected arrays 'X' and 'y' (or 'X_train', "
        f"'y_train', 'X_test', 'y_test'){hint}"
    )


def _npz_names(z, keys) -> Any:
    return z["feature_names"].tolist() if "feature_names" in keys else None


def _load_svmlight(path: Path, n_features: Any):
    skd = _sklearn_datasets(f"reading the svmlight/LIBSVM file {path}")
    kwargs = {}
    if n_features is not None:
        kwargs["n_features"] = _pos_int(n_features, "n_features", 0, 1)
    try:
        X, y = skd.load_svmlight_file(str(path), dtype=np.float64, **kwargs)
    except (ValueError, IndexError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DatasetError(
            f"{path}: not a valid svmlight/LIBSVM file ({exc}); expected lines "
            "'<label> <index>:<value> ...'"
        ) from None
    n, d = X.shape
    if n * d * 8 > MAX_DENSE_BYTES:
        raise DatasetError(
            f"{path}: {n} x {d} is too large to make dense ({n * d * 8 / 1024**3:.1f} GiB > "
            f"{MAX_DENSE_BYTES / 1024**3:.0f} GiB); reduce the features first"
        )
    return X.toarray(), y, None


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _load_csv(path: Path, label_column: Any, header: bool | None, delimiter: str | None):
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            first = f.readline()
            rest_empty = not first.strip() and not f.read(1)
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file; expected CSV text") from None
    if rest_empty:
        raise DatasetError(f"{path}: the file is empty; expected CSV rows of numbers")
    if delimiter is None:
        if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first):
            delimiter = "\t"
        elif ";" in first and "," not in first:
            delimiter = ";"
        else:
            delimiter = ","
    fields = [s.strip() for s in next(csv.reader([first], delimiter=delimiter))]
    if header is None:
        header = not all(_is_number(s) for s in fields)
    names = fields if header else [f"column {j}" for j in range(len(fields))]
    n_cols = len(fields)
    if n_cols < 2:
        raise DatasetError(
            f"{path}: the first line has {n_cols} column; expected features and a label column "
            f"separated by {delimiter!r}"
        )
    # which column holds the labels
    if label_column is None:
        lowered = [s.lower() for s in names] if header else []
        label = next((lowered.index(c) for c in _LABEL_NAMES if c in lowered), n_cols - 1)
    elif isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if not header:
            raise DatasetError(
                f"{path}: label_column = {label_column!r} names a column, but the file has no "
                "header row; give a 0-based column index instead"
            )
        if label_column not in names:
            raise DatasetError(
                f"{path}: no column named {label_column!r}; the columns are {names}"
            )
        label = names.index(label_column)
    else:
        try:
            label = int(label_column)
        except (TypeError, ValueError):
            raise DatasetError(
                f"label_column = {label_column!r} is invalid: expected a column name or index"
            ) from None
        if not -n_cols <= label < n_cols:
            raise DatasetError(
                f"{path}: label_column = {label} is out of range; the file has {n_cols} columns"
            )
        label %= n_cols
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
            data = np.loadtxt(
                path,
                delimiter=delimiter,
                skiprows=1 if header else 0,
                dtype=np.float64,
                ndmin=2,
                encoding="utf-8-sig",
                quotechar='"',
            )
    except ValueError:
        _explain_csv(path, delimiter, header, names, label)
        raise  # pragma: no cover - _explain_csv always raises
    if data.shape[0] == 0:
        raise DatasetError(f"{path}: the file has a header but no data rows")
    if data.shape[1] != n_cols:  # pragma: no cover - loadtxt already rejects ragged rows
        raise DatasetError(f"{path}: rows have {data.shape[1]} columns, the first line {n_cols}")
    y = data[:, label]
    if label_column is None and not np.array_equal(y, np.round(y)):
        # Most often the labels are in another column than the one picked by default.
        bad = y[y != np.round(y)][:3].tolist()
        picked = "column" if header and names[label].lower() in _LABEL_NAMES else "last column"
        raise DatasetError(
            f"{path}: the labels, taken from the {picked} {names[label]!r}, are not integers (e.g. "
            f"{bad}); expected class ids: pick the label column with label_column (a header name "
            "or a 0-based index)"
        )
    feats = [j for j in range(n_cols) if j != label]
    return data[:, feats], y, [names[j] for j in feats]


def _explain_csv(path: Path, delimiter: str, header: bool, names: list[str], label: int):
    """Find the first bad cell and raise a DatasetError naming row and column."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        for row_no, row in enumerate(reader, start=1):
            if header and row_no == 1:
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(names):
                raise DatasetError(
                    f"{path}: line {row_no} has {len(row)} fields; expected {len(names)} "
                    f"like the first line"
                )
            for j, cell in enumerate(row):
                if not _is_number(cell.strip()):
                    col = f"column {j}" if not header else f"column {j} ({names[j]!r})"
                    if j == label:
                        raise DatasetError(
                            f"{path}: non-numeric label {cell!r} on line {row_no}, {col}; "
                            "expected integer class ids such as 0..K-1 (pick another column "
                            "with label_column)"
                        )
                    what = "an empty cell (missing value)" if not cell.strip() else repr(cell)
                    raise DatasetError(
                        f"{path}: line {row_no}, {col} holds {what}; expected a number"
                    )
    raise DatasetError(f"{path}: cannot parse the file as CSV numbers")


def _file_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in _FORMATS:
            raise DatasetError(
                f"format = {fmt!r} is invalid: expected one of {', '.join(map(repr, _FORMATS))}"
            )
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED and len(suffixes) >= 2:
        if FILE_FORMATS.get(suffixes[-2]) == "svmlight":
            return "svmlight"
    ext = suffixes[-1] if suffixes else ""
    if ext in FILE_FORMATS:
        return FILE_FORMATS[ext]
    raise DatasetError(
        f"{path}: unknown file extension {ext or '(none)'!r}; expected one of "
        f"{', '.join(FILE_FORMATS)} (svmlight also .gz/.bz2), or pass "
        "format='npz'|'svmlight'|'csv'"
    )


def _builtin_name(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    return key if key in DATASETS else None


def _check_test_size(test_size: Any) -> float:
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, (int, float, np.integer, np.floating))
        or not 0.0 <= float(test_size) < 1.0
    ):
        raise DatasetError(
            f"test_size = {test_size!r} is invalid: expected a fraction in [0, 1)"
        )
    return float(test_size)


def load_dataset(
    name_or_path: str | os.PathLike = "digits",
    *,
    seed: int = 0,
    test_size: float = TEST_SIZE,
    standardize: bool = True,
    n_samples: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    label_column: str | int | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    format: str | None = None,
) -> Dataset:
    """Load a built-in data set or a file, split it and standardise it.

    Parameters
    ----------
    name_or_path
        A name of :data:`DATASETS` (``digits``, ``breast-cancer``, ``synthetic``; ``_`` and case
        are ignored) or a path to a ``.npz``, svmlight/LIBSVM or CSV file (see the module
        docstring for the formats).
    seed
        Seeds the stratified split (``np.random.default_rng(seed)``) and, for ``synthetic``, the
        generated data.
    test_size
        Fraction of each class held out, in ``[0, 1)``; 0 gives an empty test set.
    standardize
        Standardise features with training statistics (default ``True``).
    n_samples, n_features, n_classes
        Size of ``synthetic`` (defaults 100,000, 200, 2). ``n_features`` also fixes the width of
        an svmlight file (features beyond the highest index seen are zero). Not accepted for
        other sources.
    label_column, header, delimiter
        CSV options: the label column (name or 0-based index; default ``label``/``y``/
        ``target``/``class`` or the last column), whether the first row is a header (default:
        detected), the separator (default: detected among ``,`` ``;`` tab).
    format
        ``"npz"``, ``"svmlight"`` or ``"csv"`` to read a file whatever its extension.

    Raises
    ------
    DatasetError
        Unknown name, unknown extension, missing or malformed file, wrong shapes, non-numeric
        or non-integer labels, fewer than 2 classes, non-finite features, options that do not
        apply to the source. The message names the data set or file and what is accepted.
    MissingDependencyError
        A built-in or svmlight file without scikit-learn installed.
    """
    seed = _validate.check_int(seed, "seed", 0, DatasetError)
    test_size = _check_test_size(test_size)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise DatasetError(
            f"dataset = {name_or_path!r} is invalid: expected a name "
            f"({', '.join(DATASETS)}) or a file path"
        )
    csv_opts = {"label_column": label_column, "header": header, "delimiter": delimiter}
    builtin = _builtin_name(str(name_or_path)) if isinstance(name_or_path, str) else None
    if builtin is not None:
        _reject(builtin, csv_opts, "CSV files")
        _reject(builtin, {"format": format}, "files")
        size = {"n_samples": n_samples, "n_features": n_features, "n_classes": n_classes}
        if builtin != "synthetic":
            _reject(builtin, size, "the synthetic data set")
        X, y, names = _load_builtin(builtin, {**size, "_seed": seed})
        return _finish(
            builtin, f"builtin:{builtin}", X, y, feature_names=names, seed=seed,
            test_size=test_size, do_standardize=standardize,
        )

    path = Path(name_or_path)
    if not path.exists():
        looks_like_file = (
            os.sep in str(name_or_path) or "/" in str(name_or_path) or path.suffix != ""
        )
        if looks_like_file:
            raise DatasetError(f"{path}: no such file")
        raise DatasetError(
            f"unknown dataset {str(name_or_path)!r}: expected one of {', '.join(DATASETS)}, or "
            f"a path to a file ({', '.join(FILE_FORMATS)})"
        )
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory; expected a data file ({', '.join(FILE_FORMATS)})")
    fmt = _file_format(path, format)
    _reject(str(path), {"n_samples": n_samples, "n_classes": n_classes}, "the synthetic data set")
    if fmt != "svmlight":
        _reject(str(path), {"n_features": n_features}, "the synthetic data set and svmlight files")
    if fmt != "csv":
        _reject(str(path), csv_opts, "CSV files")
    split = None
    if fmt == "npz":
        check_memory(_npz_values(path), str(path))
    elif fmt == "csv":
        # A text number takes at least 2 characters ("0,"): a safe upper bound on the values.
        check_memory(path.stat().st_size // 2, str(path))
    if fmt == "npz":
        X, y, split, names = _load_npz(path)
    elif fmt == "svmlight":
        X, y, names = _load_svmlight(path, n_features)
    else:
        X, y, names = _load_csv(path, label_column, header, delimiter)
    return _finish(
        path.name, str(path), X, y, feature_names=names, seed=seed, test_size=test_size,
        do_standardize=standardize, split=split,
    )


def _reject(where: str, opts: dict[str, Any], applies_to: str) -> None:
    given = [k for k, v in opts.items() if v is not None]
    if given:
        verb = "it applies" if len(given) == 1 else "they apply"
        raise DatasetError(f"{where}: {', '.join(given)} cannot be used here: {verb} to {applies_to}")
