"""The paper's JSON run configs (tests/data/paper_configs) and sgdm's own spec files."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sgdm
from sgdm import Plan, config
from sgdm import schedules as S

DATA = Path(__file__).parent / "data" / "paper_configs"
PAPER_FILES = sorted(DATA.rglob("*.json"))
N = 50_000


def reference(cfg, n):
    """NumPy evaluation of PAPER.md §3/§4 straight from the config's keys."""
    E = cfg["epochs"]
    e = np.arange(E)
    b0 = cfg["init_bs"]
    if cfg["bs_method"] == "constant":
        b = np.full(E, b0, dtype=np.int64)
    else:
        delta, e_inc = cfg["bs_growth_rate"], cfg["incr_interval"]
        if cfg.get("bs_max") is None:
            b = np.ceil(b0 * delta ** (e // e_inc))
        else:
            bm = cfg["bs_max"]
            a = (bm - b0) / (delta ** ((E - e_inc) / e_inc) - 1)
            b = np.ceil(np.minimum(a * delta ** (e // e_inc) + b0 - a, bm))
        b = b.astype(np.int64)
    b = np.minimum(b, n)
    steps = -(-n // b)
    T = int(steps.sum())
    epoch_of_step = np.repeat(e, steps)
    t = np.arange(T)
    ee = epoch_of_step.astype(np.float64)
    eta0 = cfg["init_lr"]
    m = cfg["lr_method"]
    if m == "constant":
        lr = np.full(T, eta0)
    elif m == "diminishing":
        lr = eta0 / np.sqrt(t + 1.0)
    elif m == "cosine":
        lo = cfg.get("lr_min", 0.0)
        lr = lo + (eta0 - lo) * (1 + np.cos(np.pi * ee / E)) / 2
    elif m == "linear":
        lr = eta0 * (1 - t / T)
    elif m == "poly":
        lr = eta0 * (1 - np.minimum(t, T) / T) ** cfg.get("power", 2.0)
    elif m == "exp_growth":
        e_inc, mx = cfg["incr_interval"], cfg["lr_max"]
        gamma = (mx / eta0) ** (e_inc / (E - e_inc))
        lr = np.minimum(eta0 * gamma ** (epoch_of_step // e_inc), mx)
    elif m in ("warmup_const", "warmup_cosine"):
        W, w, mx = cfg["warmup_epochs"], cfg["warmup_interval"], cfg["lr_max"]
        gw = (mx / eta0) ** (w / (W - w))
        warm = np.minimum(eta0 * gw ** (epoch_of_step // w), mx)
        if m == "warmup_const":
            after = np.full(T, mx)
        else:
            lo = cfg.get("lr_min", 0.0)
            after = lo + (mx - lo) * (1 + np.cos(np.pi * (ee - W) / (E - W))) / 2
        lr = np.where(epoch_of_step < W, warm, after)
    else:  # pragma: no cover
        raise AssertionError(m)
    return b, steps, lr


def test_fixture_dir_holds_the_paper_configs():
    assert len(PAPER_FILES) == 47  # 19 NSHB + 28 SHB runs


@pytest.mark.parametrize("path", PAPER_FILES, ids=[str(p.relative_to(DATA)) for p in PAPER_FILES])
def test_every_paper_config_loads_and_matches_the_formulas(path):
    cfg = json.loads(path.read_text())
    run = config.read_paper_config(path, N)
    plan = run.plan
    assert run.variant == cfg["optimizer"]
    assert run.momentum == cfg["init_beta"]
    assert plan.epochs == cfg["epochs"] and plan.n_samples == N
    b, steps, lr = reference(cfg, N)
    assert plan.batch_sizes.tolist() == b.tolist()
    assert plan.steps_per_epoch.tolist() == steps.tolist()
    assert plan.total_steps == int(steps.sum())
    np.testing.assert_allclose(plan.learning_rates, lr, rtol=1e-12, atol=1e-15)
    assert Plan.from_paper_config(path, N) == plan
    assert Plan.from_paper_config(cfg, N) == plan


def test_paper_lr_max_reached_in_last_stage():
    plan = Plan.from_paper_config(DATA / "json_nshb/incr_bs_incr_lr/doubly_incr_lr_max1.0.json", N)
    first_of_last_stage = plan.epoch_starts[270]
    assert plan.learning_rates[first_of_last_stage] == pytest.approx(1.0, rel=1e-12)
    assert plan.learning_rates[first_of_last_stage - 1] < 1.0
    assert plan.learning_rates[0] == 0.1


BASE = {
    "optimizer": "nshb",
    "model": "resnet18",
    "bs_method": "exp_growth",
    "lr_method": "warmup_cosine",
    "init_bs": 8,
    "init_lr": 0.1,
    "init_beta": 0.9,
    "lr_max": 0.5,
    "epochs": 300,
    "incr_interval": 30,
    "warmup_epochs": 30,
    "warmup_interval": 3,
    "bs_growth_rate": 2.0,
    "use_wandb": True,
}


def test_optional_keys():
    cfg = dict(BASE, bs_max=1024, lr_min=0.001)
    plan = Plan.from_paper_config(cfg, N)
    assert plan.batch_sizes[::30].tolist() == [8, 10, 14, 22, 38, 70, 134, 261, 516, 1024]
    assert plan.learning_rates[-1] == pytest.approx(
        0.001 + (0.5 - 0.001) * (1 + math.cos(math.pi * 269 / 270)) / 2, rel=1e-12
    )
    grow = dict(BASE, lr_method="exp_growth", lr_max=None, lr_growth_rate=1.2)
    plan = Plan.from_paper_config(grow, 1000)
    assert plan.learning_rates[plan.epoch_starts[60]] == pytest.approx(0.1 * 1.44, rel=1e-12)
    both = dict(BASE, lr_method="exp_growth", lr_max=1.0, lr_growth_rate=2.0)
    plan = Plan.from_paper_config(both, 1000)
    a = 0.9 / 511
    assert plan.learning_rates[plan.epoch_starts[30]] == pytest.approx(2 * a + 0.1 - a, rel=1e-12)
    assert Plan.from_paper_config(dict(BASE, beta_method="constant"), 1000).epochs == 300


@pytest.mark.parametrize(
    "change,field",
    [
        ({"lr_method": "cosin"}, "lr_method"),
        ({"bs_method": "linear"}, "bs_method"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"init_lr": -0.1}, "init_lr"),
        ({"init_lr": float("nan")}, "init_lr"),
        ({"init_lr": "0.1"}, "init_lr"),
        ({"init_bs": 0}, "init_bs"),
        ({"init_beta": 1.0}, "init_beta"),
        ({"incr_interval": 0}, "incr_interval"),
        ({"incr_interval": -30}, "incr_interval"),
        ({"bs_growth_rate": 0.0}, "bs_growth_rate"),
        ({"bs_growth_rate": -2.0}, "bs_growth_rate"),
        ({"bs_max": 4}, "bs_max"),
        ({"lr_max": 0.01}, "lr_max"),
        ({"warmup_epochs": 400}, "warmup_epochs"),
        ({"warmup_interval": 0}, "warmup_interval"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": "300"}, "epochs"),
        ({"lr_max": None}, "lr_max"),
        ({"warmup_epochs": None}, "warmup_epochs"),
        ({"bs_growth_rate": None}, "bs_growth_rate"),
        ({"init_lr": None}, "init_lr"),
        ({"optimizer": None}, "optimizer"),
        ({"lr_growth_rate": 1.1}, "lr_growth_rate"),
        ({"bs_grwoth_rate": 2.0}, "bs_grwoth_rate"),
        ({"beta_method": "linear"}, "beta_method"),
    ],
)
def test_bad_paper_configs_name_the_key(change, field):
    cfg = dict(BASE, **change)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    with pytest.raises(sgdm.SgdmError) as info:
        Plan.from_paper_config(cfg, N)
    msg = str(info.value)
    assert field in msg, msg
    assert "expected" in msg or "requires" in msg, msg


def test_bad_exp_growth_lr_needs_interval():
    cfg = dict(BASE, lr_method="exp_growth", bs_method="constant")
    del cfg["incr_interval"]
    with pytest.raises(sgdm.SgdmError, match="incr_interval"):
        Plan.from_paper_config(cfg, N)


def test_not_a_config():
    with pytest.raises(sgdm.SgdmError, match="config"):
        Plan.from_paper_config(42, N)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_run_config_round_trip(tmp_path, suffix):
    run = config.read_paper_config(DATA / "json_shb/incr_bs_warmup_lr/warmup_const_max0.1.json", N)
    assert run.variant == "shb" and run.momentum == 0.87
    path = tmp_path / f"run{suffix}"
    run.save(path)
    again = config.load(path)
    assert again == run
    assert again.plan == run.plan
    assert np.array_equal(again.plan.learning_rates, run.plan.learning_rates)


def test_load_detects_paper_files():
    path = DATA / "json_nshb/const_bs_decay_lr/cosine.json"
    with pytest.raises(sgdm.SgdmError, match="n_samples"):
        config.load(path)
    run = config.load(path, n_samples=1000)
    assert run.plan == Plan(1000, 300, 128, S.Cosine(0.1))
    assert run.variant == "nshb" and run.momentum == 0.9
