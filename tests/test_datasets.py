"""Datasets: built-ins, file round-trips, the split and standardisation, and every bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import sgdm
from sgdm.datasets import (
    DATASETS,
    Dataset,
    DatasetError,
    MissingDependencyError,
    load_dataset,
    standardize,
    stratified_split,
)


def _check_standardized(ds: Dataset):
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-10)
    std = ds.X_train.std(axis=0)
    assert np.all((np.abs(std - 1.0) < 1e-10) | (std == 0.0))
    for a in (ds.X_train, ds.X_test):
        assert a.dtype == np.float64 and a.flags.c_contiguous
    for a in (ds.y_train, ds.y_test):
        assert a.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(ds.n_classes))


@pytest.mark.parametrize(
    "name, shape, k",
    [("digits", (1797, 64), 10), ("breast-cancer", (569, 30), 2), ("Breast_Cancer", (569, 30), 2)],
)
def test_builtins(name, shape, k):
    ds = load_dataset(name, seed=1)
    assert ds.n_train + ds.n_test == shape[0]
    assert ds.n_features == shape[1] and ds.n_classes == k
    assert ds.n_test == pytest.approx(0.2 * shape[0], abs=k)
    _check_standardized(ds)
    assert len(ds.feature_names) == shape[1]
    assert ds.info()["n_classes"] == k


@pytest.mark.parametrize("name", ["digits", "breast-cancer"])
def test_fast_path_equals_scikit_learn_loader(name, monkeypatch):
    from sklearn import datasets as skd

    from sgdm import datasets as mod

    fast = mod._load_builtin(name, {})
    b = skd.load_digits() if name == "digits" else skd.load_breast_cancer()
    np.testing.assert_array_equal(fast[0], b.data)
    np.testing.assert_array_equal(fast[1], b.target)
    if name == "breast-cancer":
        assert tuple(fast[2]) == tuple(b.feature_names)
    # and the fallback through scikit-learn gives the same data set
    monkeypatch.setattr(mod, "_bundled", lambda *a: None)
    slow = mod._load_builtin(name, {})
    np.testing.assert_array_equal(slow[0], fast[0])
    np.testing.assert_array_equal(slow[1], fast[1])
    assert tuple(slow[2]) == tuple(fast[2])


def test_synthetic_size_flags_and_seed():
    ds = load_dataset("synthetic", n_samples=600, n_features=12, n_classes=3, seed=5)
    assert (ds.n_train + ds.n_test, ds.n_features, ds.n_classes) == (600, 12, 3)
    _check_standardized(ds)
    again = load_dataset("synthetic", n_samples=600, n_features=12, n_classes=3, seed=5)
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    other = load_dataset("synthetic", n_samples=600, n_features=12, n_classes=3, seed=6)
    assert not np.array_equal(ds.X_train, other.X_train)
    assert set(DATASETS) == {"digits", "breast-cancer", "synthetic"}


def test_split_is_seeded_stratified_and_uses_train_statistics():
    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.y_test, c.y_test)
    counts = np.bincount(a.y_test, minlength=10) / np.bincount(
        np.concatenate([a.y_train, a.y_test]), minlength=10
    )
    np.testing.assert_allclose(counts, 0.2, atol=0.01)
    # test features are transformed with the training mean and scale, not their own
    raw = load_dataset("digits", seed=3, standardize=False)
    np.testing.assert_allclose(a.X_test, (raw.X_test - a.mean) / a.scale)
    assert abs(a.X_test.mean()) > 1e-6


def test_stratified_split_edge_cases():
    rng = np.random.default_rng(0)
    y = np.array([0, 0, 0, 1, 1, 2])
    tr, te = stratified_split(y, 0.5, rng)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(6))
    assert 5 in tr  # a single-sample class stays in training
    assert set(y[te]) == {0, 1}
    tr, te = stratified_split(y, 0.0, rng)
    assert te.size == 0 and tr.size == 6
    mean, scale, (Xs,) = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(scale, [1.0, 1.0])
    np.testing.assert_array_equal(Xs, [[-1.0, 0.0], [1.0, 0.0]])


def _xy(n=60, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.arange(n) % k
    return X, y


def test_npz_round_trip(tmp_path):
    X, y = _xy()
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y * 10 + 5)  # labels 5, 15, 25 are remapped to 0, 1, 2
    ds = load_dataset(path, seed=0, test_size=0.25)
    assert ds.name == "data.npz" and ds.source == str(path)
    assert ds.n_train + ds.n_test == 60 and ds.n_classes == 3
    np.testing.assert_array_equal(ds.classes, [5, 15, 25])
    raw = load_dataset(str(path), standardize=False, test_size=0.0)
    np.testing.assert_array_equal(np.sort(raw.X_train, axis=0), np.sort(X, axis=0))
    _check_standardized(ds)


def test_npz_with_ready_split(tmp_path):
    X, y = _xy()
    path = tmp_path / "split.npz"
    np.savez(path, X_train=X[:40], y_train=y[:40], X_test=X[40:], y_test=y[40:])
    ds = load_dataset(path, standardize=False)
    np.testing.assert_array_equal(ds.X_train, X[:40])
    np.testing.assert_array_equal(ds.y_test, y[40:])
    assert ds.test_size is None


def test_svmlight_round_trip(tmp_path):
    from sklearn.datasets import dump_svmlight_file

    X, y = _xy(d=5)
    X[X < 0.3] = 0.0  # sparse-ish
    for name in ("a.svm", "b.libsvm", "c.svmlight"):
        path = tmp_path / name
        dump_svmlight_file(X, 2 * y - 1, str(path), zero_based=False)
        ds = load_dataset(path, standardize=False, test_size=0.0, n_features=5)
        np.testing.assert_allclose(np.sort(ds.X_train, axis=0), np.sort(X, axis=0))
        np.testing.assert_array_equal(ds.classes, [-1, 1, 3])
    other = tmp_path / "a9a"
    other.write_bytes((tmp_path / "a.svm").read_bytes())
    assert load_dataset(other, format="svmlight").n_classes == 3


@pytest.mark.parametrize("sep, ext", [(",", ".csv"), (";", ".csv"), ("\t", ".tsv")])
def test_csv_round_trip_with_header_and_named_label(tmp_path, sep, ext):
    X, y = _xy(d=3)
    path = tmp_path / f"data{ext}"
    lines = [sep.join(["f0", "target", "f1", "f2"])]
    lines += [sep.join(repr(float(v)) for v in [r[0], t, r[1], r[2]]) for r, t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    ds = load_dataset(path, standardize=False, test_size=0.0)
    assert ds.feature_names == ("f0", "f1", "f2")
    order = np.lexsort(ds.X_train.T[::-1])
    expect = np.lexsort(X.T[::-1])
    np.testing.assert_array_equal(ds.X_train[order], X[expect])
    np.testing.assert_array_equal(ds.y_train[order], y[expect])


def test_csv_without_header_uses_last_column_or_the_given_index(tmp_path):
    X, y = _xy(d=2)
    path = tmp_path / "plain.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    ds = load_dataset(path, test_size=0.0, standardize=False)
    assert ds.n_features == 2 and ds.n_classes == 3
    path2 = tmp_path / "first.csv"
    np.savetxt(path2, np.column_stack([y, X]), delimiter=",")
    ds2 = load_dataset(path2, label_column=0, test_size=0.0, standardize=False)
    np.testing.assert_array_equal(ds.X_train, ds2.X_train)
    ds3 = load_dataset(path, label_column=-1, test_size=0.0, standardize=False)
    np.testing.assert_array_equal(ds.y_train, ds3.y_train)


def test_files_load_without_scikit_learn(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    X, y = _xy()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",")
    assert load_dataset(tmp_path / "d.npz").n_classes == 3
    assert load_dataset(tmp_path / "d.csv").n_classes == 3
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'sgdm-cli\[datasets\]'") as e:
        load_dataset("digits")
    assert isinstance(e.value, ImportError) and isinstance(e.value, sgdm.SgdmError)
    (tmp_path / "d.svm").write_text("1 1:0.5\n0 2:1\n")
    with pytest.raises(MissingDependencyError, match="d.svm"):
        load_dataset(tmp_path / "d.svm")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


BAD_CSV = {
    "label.csv": ("a,b,label\n1,2,cat\n3,4,dog\n", r"non-numeric label 'cat' on line 2"),
    "cell.csv": ("a,b,label\n1,x,0\n3,4,1\n", r"line 2, column 1 \('b'\) holds 'x'"),
    "empty_cell.csv": ("a,b,label\n1,,0\n3,4,1\n", r"empty cell"),
    "ragged.csv": ("a,b,label\n1,2,0\n3,1\n", r"line 3 has 2 fields; expected 3"),
    "empty.csv": ("", r"the file is empty"),
    "header_only.csv": ("a,b,label\n", r"no data rows"),
    "one_class.csv": ("a,label\n1,0\n2,0\n", r"at least 2 classes"),
    "float_labels.csv": ("a,label\n1,0.5\n2,1\n", r"not integers"),
    # The labels in the first column: the default, the last one, holds features.
    "label_first.csv": ("y_true,a\n0,0.25\n1,1.5\n", r"the labels, taken from the last column 'a', are not "
                        r"integers \(e.g. \[0.25, 1.5\]\); expected class ids: pick the label column with label_column"),
    "nan.csv": ("a,label\n1,0\nnan,1\n", r"NaN or Inf"),
    "one_col.csv": ("1\n2\n", r"expected features and a label column"),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
def test_bad_csv_files_name_the_file_and_the_problem(tmp_path, name):
    text, pattern = BAD_CSV[name]
    path = _write(tmp_path, name, text)
    with pytest.raises(DatasetError, match=pattern) as e:
        load_dataset(path)
    assert name in str(e.value)


def test_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset 'mnist': expected one of digits"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match=r"no such file"):
        load_dataset(tmp_path / "missing.npz")
    xlsx = _write(tmp_path, "data.xlsx", "x")
    with pytest.raises(DatasetError, match=r"data.xlsx: unknown file extension '.xlsx'; expected one of .npz"):
        load_dataset(xlsx)
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(tmp_path / "")
    with pytest.raises(DatasetError, match="format"):
        load_dataset(xlsx, format="parquet")
    bad_zip = _write(tmp_path, "bad.npz", "not a zip")
    with pytest.raises(DatasetError, match=r"bad.npz: not a readable .npz"):
        load_dataset(bad_zip)
    np.savez(tmp_path / "keys.npz", A=np.zeros((3, 2)), b=np.zeros(3))
    with pytest.raises(DatasetError, match=r"keys.npz: the archive holds \['A', 'b'\]; expected arrays 'X' and 'y'"):
        load_dataset(tmp_path / "keys.npz")
    np.savez(tmp_path / "shape.npz", X=np.zeros(5), y=np.zeros(5))
    with pytest.raises(DatasetError, match=r"shape.npz: X has shape \(5,\); expected a 2-D"):
        load_dataset(tmp_path / "shape.npz")
    np.savez(tmp_path / "len.npz", X=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DatasetError, match=r"len.npz: X has 5 rows but y has 4 labels"):
        load_dataset(tmp_path / "len.npz")
    np.savez(tmp_path / "str.npz", X=np.zeros((3, 2)), y=np.array(["a", "b", "a"]))
    with pytest.raises(DatasetError, match=r"str.npz: labels are not numeric"):
        load_dataset(tmp_path / "str.npz")
    svm = _write(tmp_path, "bad.svm", "1 1:0.5\nfoo bar\n")
    with pytest.raises(DatasetError, match=r"bad.svm: not a valid svmlight"):
        load_dataset(svm)
    csv = _write(tmp_path, "d.csv", "a,b\n1,0\n2,1\n")
    with pytest.raises(DatasetError, match=r"no column named 'label'; the columns are \['a', 'b'\]"):
        load_dataset(csv, label_column="label")
    with pytest.raises(DatasetError, match=r"label_column = 5 is out of range"):
        load_dataset(csv, label_column=5)
    with pytest.raises(DatasetError, match=r"test_size"):
        load_dataset("digits", test_size=1.0)
    with pytest.raises(DatasetError, match=r"seed"):
        load_dataset("digits", seed=-1)
    with pytest.raises(DatasetError, match=r"n_samples cannot be used"):
        load_dataset("digits", n_samples=100)
    with pytest.raises(DatasetError, match=r"label_column cannot be used"):
        load_dataset("digits", label_column="y")
    with pytest.raises(DatasetError, match=r"n_samples = 0 is invalid"):
        load_dataset("synthetic", n_samples=0)
    with pytest.raises(DatasetError, match=r"n_classes = 5 needs"):
        load_dataset("synthetic", n_samples=50, n_features=2, n_classes=5)
    assert issubclass(DatasetError, sgdm.SgdmError) and issubclass(DatasetError, ValueError)
