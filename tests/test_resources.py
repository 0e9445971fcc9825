"""Resource checks: no leak through the native boundary; data too large is refused up front."""

import numpy as np
import pytest

import sgdm
from sgdm.datasets import DatasetError, check_memory, load_dataset


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_memory_stays_flat_over_1e5_steps():
    rng = np.random.default_rng(0)
    shapes = [(64, 32), (32,), (32, 10), (10,)]
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    opt = sgdm.SGDM(params, lr=1e-6, momentum=0.9)
    for _ in range(2000):  # warm up allocator caches
        opt.step(grads)
    before = _rss_bytes()
    for i in range(100_000):
        opt.step(grads, lr=1e-6)
        if i % 997 == 0:  # the error path too: a refused step must not leak either
            with pytest.raises(sgdm.SgdmError):
                opt.step(grads[:1])
    grown = _rss_bytes() - before
    assert grown < 2 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB over 1e5 steps"


def test_data_set_too_large_is_refused_before_allocating():
    with pytest.raises(DatasetError, match=r"need about .* GiB .* only .* GiB of memory is available"):
        check_memory(10**12, "huge", available=16 * 2**30)
    check_memory(10**6, "small", available=16 * 2**30)
    with pytest.raises(DatasetError, match=r"synthetic \(1,000,000,000 x 100,000\)"):
        load_dataset("synthetic", n_samples=10**9, n_features=10**5)


def test_npz_size_is_read_from_headers(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((100, 5)), y=np.arange(100) % 2)
    monkeypatch.setattr("sgdm.datasets.available_memory", lambda: 100 * 5 * 8)  # too small
    with pytest.raises(DatasetError, match="d.npz: 600 float64 values"):
        load_dataset(path)
