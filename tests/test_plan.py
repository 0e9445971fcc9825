"""The run plan against a direct Python loop over PAPER.md §1 and §6."""

import math
import pickle

import numpy as np
import pytest

import sgdm
from sgdm import Plan
from sgdm import schedules as S


def loop_layout(n, epochs, bs, lr):
    """The plan, one step at a time, from the formulas (the reference for every array)."""
    sizes, steps, starts, eos, bos = [], [], [], [], []
    t = 0
    for e in range(epochs):
        b = min(bs(e), n)
        s = -(-n // b)
        sizes.append(b)
        steps.append(s)
        starts.append(t)
        for i in range(s):
            eos.append(e)
            bos.append(b if i < s - 1 else n - (s - 1) * b)
            t += 1
    total = t
    return sizes, steps, starts, total, eos, bos


def check_against_loop(plan, n, epochs, bs, lr_scalar):
    sizes, steps, starts, total, eos, bos = loop_layout(n, epochs, bs, lr_scalar)
    assert plan.batch_sizes.tolist() == sizes
    assert plan.steps_per_epoch.tolist() == steps
    assert plan.epoch_starts.tolist() == starts
    assert plan.total_steps == total == len(plan.learning_rates)
    assert plan.epoch_of_step.tolist() == eos
    assert plan.batch_size_of_step.tolist() == bos
    assert plan.sfo == sum(bos) == n * epochs
    a = w = v = 0.0
    for t in range(total):
        eta = lr_scalar(t, eos[t])
        assert plan.learning_rates[t] == pytest.approx(eta, rel=1e-12, abs=1e-300)
        eta = plan.learning_rates[t]
        a += eta
        w += eta / bos[t]
        v += eta * eta / bos[t]
    assert plan.lr_sum[-1] == a
    assert plan.lr_over_batch_sum[-1] == w
    assert plan.lr_sq_over_batch_sum[-1] == v


def test_partial_batches_and_totals_equal_a_loop():
    n, E = 1003, 12
    bs = S.ExpGrowthBatchSize(10, 2.0, 3)
    total_steps = sum(-(-n // min(10 * 2 ** (e // 3), n)) for e in range(E))
    lr = S.Linear(0.2)
    plan = Plan(n, E, bs, lr)
    check_against_loop(
        plan, n, E, lambda e: 10 * 2 ** (e // 3), lambda t, e: 0.2 * (1 - min(t, total_steps) / total_steps)
    )
    # the last partial batch: 1003 = 100·10 + 3
    assert plan.steps_per_epoch[0] == 101
    assert plan.batch_size_of_step[100] == 3
    assert plan.batch_size_of_step[99] == 10
    # epochs 9..11 have b = 80: 13 steps, last batch 1003 − 12·80 = 43
    last = plan.epoch_starts[11] + plan.steps_per_epoch[11] - 1
    assert last == plan.total_steps - 1
    assert plan.batch_size_of_step[last] == 43


def test_batches_that_outgrow_the_data_are_full_batch_steps():
    # PAPER §1: with b_e ≥ n an epoch is one full-batch step (and still costs n). Here b grows
    # 8, 16, 32, 64, 128 over n = 50: the last two epochs are full-batch, 64 and 128 alike.
    n, E = 50, 5
    lr = S.Diminishing(0.4)
    plan = Plan(n, E, S.ExpGrowthBatchSize(8, 2.0, 1), lr)
    check_against_loop(plan, n, E, lambda e: 8 * 2**e, lambda t, e: 0.4 / math.sqrt(t + 1))
    assert plan.steps_per_epoch.tolist() == [7, 4, 2, 1, 1]
    assert plan.batch_sizes.tolist()[-2:] == [n, n]
    assert plan.batch_size_of_step.tolist()[-4:] == [32, 18, n, n]
    assert plan.total_steps == 15 and plan.sfo == E * n
    # the §6 sums over the last two steps see |B_t| = n, not the schedule's 64 and 128
    eta = 0.4 / np.sqrt([14, 15])
    assert plan.lr_over_batch_sum[-1] - plan.lr_over_batch_sum[-3] == pytest.approx(eta.sum() / n, rel=1e-12)
    assert plan.lr_sq_over_batch_sum[-1] - plan.lr_sq_over_batch_sum[-3] == pytest.approx(
        (eta**2).sum() / n, rel=1e-12
    )


@pytest.mark.parametrize(
    "lr,formula",
    [
        (S.Cosine(0.1), lambda t, e, T, E: 0.05 * (1 + math.cos(math.pi * e / E))),
        (S.Diminishing(0.1), lambda t, e, T, E: 0.1 / math.sqrt(t + 1)),
        (S.Polynomial(0.1, power=2.0), lambda t, e, T, E: 0.1 * (1 - min(t, T) / T) ** 2),
        (
            S.ExpGrowth(0.1, 4, max_value=0.5),
            lambda t, e, T, E: min(0.1 * (5 ** (4 / (E - 4))) ** (e // 4), 0.5),
        ),
        (
            S.WarmupCosine(0.1, 6, 2, max_value=0.4),
            lambda t, e, T, E: (
                min(0.1 * (4 ** (2 / 4)) ** (e // 2), 0.4)
                if e < 6
                else 0.2 * (1 + math.cos(math.pi * (e - 6) / (E - 6)))
            ),
        ),
    ],
)
def test_run_lengths_filled_in(lr, formula):
    n, E = 500, 20
    bs = S.ExpGrowthBatchSize(16, 2.0, 4, max_size=256)
    a = (256 - 16) / (2 ** ((E - 4) / 4) - 1)

    def bs_formula(e):  # PAPER.md §3, capped affine form
        return math.ceil(min(a * 2 ** (e // 4) + 16 - a, 256))

    plan = Plan(n, E, bs, lr)
    T = plan.total_steps
    check_against_loop(plan, n, E, bs_formula, lambda t, e: formula(t, e, T, E))
    # the schedule as given is kept (lengths not written back)
    assert plan.lr == lr


def test_paper_largest_setting():
    plan = Plan(50_000, 300, S.ExpGrowthBatchSize(8, 2.0, 30), S.Cosine(0.1))
    want = sum(30 * -(-50_000 // (8 * 2**k)) for k in range(10))
    assert plan.total_steps == want == 374_760
    assert plan.batch_sizes[0] == 8 and plan.batch_sizes[-1] == 4096
    assert plan.steps_per_epoch[299] == 13
    assert plan.sfo == 15_000_000
    assert plan.learning_rates.dtype == np.float64
    assert plan.batch_sizes.dtype == np.int64
    assert plan.epoch_starts[30] == 30 * 6250


def test_arrays_are_read_only():
    plan = Plan(100, 3, 10, 0.1)
    for a in (plan.learning_rates, plan.batch_sizes, plan.lr_sum, plan.epoch_of_step):
        with pytest.raises(ValueError):
            a[0] = 1


def test_degenerate_settings():
    plan = Plan(7, 1, 100, 0.1)  # one epoch, b >= n
    assert plan.batch_sizes.tolist() == [7]
    assert plan.steps_per_epoch.tolist() == [1]
    assert plan.total_steps == 1
    assert plan.batch_size_of_step.tolist() == [7]
    assert plan.stages()[0]["steps"] == 1
    plan = Plan(1, 3, 1, S.Linear(1.0))
    assert plan.learning_rates.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])
    # capped growth with a single stage
    plan = Plan(100, 5, S.ExpGrowthBatchSize(8, 2.0, 5, max_size=64), S.ExpGrowth(0.1, 5, max_value=1.0))
    assert plan.batch_sizes.tolist() == [8] * 5
    assert set(plan.learning_rates.tolist()) == {0.1}


def test_stages_summary():
    plan = Plan(100, 6, S.ExpGrowthBatchSize(10, 2.0, 2), S.Cosine(0.1))
    rows = plan.stages()
    assert [r["batch_size"] for r in rows] == [10, 20, 40]
    assert [(r["first_epoch"], r["last_epoch"]) for r in rows] == [(0, 1), (2, 3), (4, 5)]
    assert [r["steps"] for r in rows] == [20, 10, 6]
    assert sum(r["steps"] for r in rows) == plan.total_steps
    assert rows[2]["last_step"] == plan.total_steps - 1
    assert all(r["sfo"] == 200 for r in rows)
    assert sum(r["lr_sum"] for r in rows) == pytest.approx(plan.lr_sum[-1], rel=1e-12)
    assert sum(r["lr_sq_over_batch_sum"] for r in rows) == pytest.approx(
        plan.lr_sq_over_batch_sum[-1], rel=1e-12
    )
    assert rows[0]["lr_max"] == 0.1 and rows[0]["lr_first"] == 0.1
    totals = plan.totals()
    assert totals["total_steps"] == plan.total_steps and totals["sfo"] == 600


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_save_load_round_trip(tmp_path, suffix):
    lr = S.Join(
        [S.WarmupConstant(0.1, 4, 2, max_value=0.4), S.Join([S.Constant(0.4), S.Linear(0.4)], [2])],
        [4],
    )
    plan = Plan(1000, 10, S.ExpGrowthBatchSize(16, 2.0, 3, max_size=100), lr)
    path = tmp_path / f"plan{suffix}"
    plan.save(path)
    again = Plan.load(path)
    assert again == plan
    assert np.array_equal(again.learning_rates, plan.learning_rates)
    assert np.array_equal(again.batch_sizes, plan.batch_sizes)
    assert Plan.from_dict(plan.to_dict()) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_load_hand_written_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'n_samples = 50000\nepochs = 300\n\n[batch_size]\ntype = "exp_growth"\ninit_size = 8\n'
        'growth_rate = 2.0\ninterval = 30\n\n[lr]\ntype = "cosine"\ninit_value = 0.1\n'
    )
    plan = Plan.load(path)
    assert plan == Plan(50_000, 300, S.ExpGrowthBatchSize(8, 2, 30), S.Cosine(0.1))


def test_lr_at_matches_the_array_and_extends_past_the_end():
    plan = Plan(100, 5, 10, S.Linear(1.0))
    for t in (0, 17, 49):
        assert plan.lr_at(t) == plan.learning_rates[t]
    assert plan.lr_at(50) == 0.0


@pytest.mark.parametrize(
    "args,field",
    [
        ((0, 3, 10, 0.1), "n_samples"),
        ((100, 0, 10, 0.1), "epochs"),
        ((100, -1, 10, 0.1), "epochs"),
        ((100, 3, 0, 0.1), "size"),
        ((100, 3, 10, -0.1), "value"),
        ((100, 3, "10", 0.1), "batch_size"),
        ((100, 3, 10, "x"), "lr"),
        ((100, 3, 10, S.WarmupConstant(0.1, 5, 1, max_value=1.0)), "warmup_epochs"),
        ((100, 3, 10, S.WarmupCosine(0.1, 5, 1, max_value=1.0)), "warmup_epochs"),
    ],
)
def test_bad_plans(args, field):
    with pytest.raises(sgdm.SgdmError, match=field):
        Plan(*args)


def test_bad_spec():
    with pytest.raises(sgdm.SgdmError, match="lr is missing"):
        Plan.from_dict({"n_samples": 10, "epochs": 1, "batch_size": 2})
    with pytest.raises(sgdm.SgdmError, match="format"):
        Plan.from_dict({"format": "other/9", "n_samples": 10, "epochs": 1, "batch_size": 2, "lr": 0.1})


def test_toml_on_python_3_10_without_tomli_says_what_to_install(tmp_path, monkeypatch):
    # read_spec_file imported tomllib unconditionally, which Python 3.10 does not have
    import sys

    from sgdm.plan import read_spec_file

    path = tmp_path / "plan.toml"
    path.write_text('epochs = 3\n')
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    monkeypatch.setitem(sys.modules, "tomli", None)  # None: importing it raises ImportError
    with pytest.raises(ImportError, match="pip install tomli"):
        read_spec_file(path)
