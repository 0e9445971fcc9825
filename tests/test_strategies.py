"""Strategy presets: PAPER.md §5 defaults, the epoch-scaling rule, theory rows, conditions."""

import json
import math
import warnings

import numpy as np
import pytest

import sgdm
from sgdm import schedules as S
from sgdm import strategies as St


def test_names_and_aliases():
    assert St.names() == ["baseline", "i", "ii", "iii", "warmup", "seesaw"]
    assert St.get("const-bs-decay-lr").name == "i"
    assert St.get("incr-bs-decay-lr").name == "ii"
    assert St.get("incr-bs-incr-lr").name == "iii"
    assert St.get("III").name == "iii"
    with pytest.raises(sgdm.SgdmError, match="name"):
        St.get("iv")


def test_paper_defaults_at_300_epochs():
    base = St.get("baseline")
    assert base.batch_size == S.ConstantBatchSize(128)
    assert base.lr == S.Constant(0.1)
    assert (base.momentum, base.variant, base.epochs) == (0.9, "nshb", 300)

    i = St.get("i")
    assert i.batch_size == S.ConstantBatchSize(128) and i.lr == S.Cosine(0.1, min_value=0.0)

    ii = St.get("ii")
    assert ii.batch_size == S.ExpGrowthBatchSize(8, 2.0, 30)
    assert ii.lr == S.Cosine(0.1, min_value=0.0)

    iii = St.get("iii")
    assert iii.lr == S.ExpGrowth(0.1, 30, max_value=0.5)
    assert iii.gamma == pytest.approx(5 ** (1 / 9), rel=1e-12)
    assert iii.delta == 2.0 and iii.momentum == 0.9

    w = St.get("warmup")
    assert w.lr == S.WarmupCosine(0.1, 30, 3, max_value=0.5, min_value=0.0)
    assert St.get("warmup", after_warmup="constant").lr == S.WarmupConstant(0.1, 30, 3, max_value=0.5)


def test_shb_defaults_and_beta_rule():
    s = St.get("iii", variant="shb")
    assert s.lr == S.ExpGrowth(0.01, 30, max_value=0.05)
    assert s.momentum == 0.9
    assert St.get("iii", lr_max=1.0).momentum == 0.87  # η_max/η0 = 10
    assert St.get("iii", variant="shb", lr_max=0.1).momentum == 0.87
    assert St.get("warmup", lr_max=1.0).momentum == 0.87
    assert St.get("iii", lr_max=1.0, momentum=0.5).momentum == 0.5


@pytest.mark.parametrize("name", St.names())
def test_initial_rate_is_point_one_for_nshb_and_point_zero_one_for_shb(name):
    # PAPER §5: "NSHB runs use η_0 = 0.1, SHB runs η_0 = 0.01", whatever the strategy.
    for variant, eta0 in (("nshb", 0.1), ("shb", 0.01)):
        s = St.get(name, variant=variant)
        assert s.variant == variant and s.params["init_lr"] == eta0
        assert s.plan(50_000).learning_rates[0] == pytest.approx(eta0, rel=1e-15)


@pytest.mark.parametrize(
    "name, lr_max, beta",
    [
        ("iii", 0.99, 0.9),  # η_max/η_0 just below 10 (= 10: test_shb_defaults_and_beta_rule)
        ("warmup", 0.99, 0.9),
        ("iii", 2.0, 0.87),  # beyond the paper's range: lowered as well (module docstring)
        ("ii", 1.0, 0.9),  # the rate does not grow: η_max is not used
        ("baseline", 1.0, 0.9),
    ],
)
def test_beta_is_lowered_to_0_87_only_for_growing_rates_at_ratio_10(name, lr_max, beta):
    assert St.get(name, lr_max=lr_max).momentum == beta


def test_each_condition_is_its_own_inequality():
    # PAPER §6 with γ = (η_max/η_0)^(E_inc/(E−E_inc)) = 1.5 and δ = 2: γ < δ and β²γ < 1 hold,
    # γ < √δ = 1.414 fails. E = 20 gives E_inc = 2 and 9 growth stages.
    s = St.get("iii", epochs=20, lr_max=0.1 * 1.5**9, momentum=0.5)
    gamma = (1.5**9) ** (2 / (20 - 2))
    with pytest.warns(St.ConditionWarning, match="γ < √δ") as caught:
        checks = {c.name: c for c in s.check_conditions()}
    assert len(caught) == 1
    assert s.gamma == pytest.approx(gamma, rel=1e-12)
    assert (checks["gamma<delta"].lhs, checks["gamma<delta"].rhs) == pytest.approx((gamma, 2.0), rel=1e-12)
    assert (checks["beta2gamma<1"].lhs, checks["beta2gamma<1"].rhs) == pytest.approx((0.25 * gamma, 1.0), rel=1e-12)
    assert checks["gamma<sqrt(delta)"].rhs == pytest.approx(math.sqrt(2.0), rel=1e-15)
    assert [checks[k].passed for k in ("gamma<delta", "beta2gamma<1", "gamma<sqrt(delta)")] == [True, True, False]
    # with δ = 3, √δ = 1.73 > γ: all three hold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(c.passed for c in St.get("iii", epochs=20, lr_max=0.1 * 1.5**9, momentum=0.5,
                                              bs_growth_rate=3.0).check_conditions())


def test_other_epoch_counts_scale():
    s = St.get("ii", epochs=100)
    assert s.batch_size == S.ExpGrowthBatchSize(8, 2.0, 10)
    w = St.get("warmup", epochs=50)
    assert w.params["incr_interval"] == 5
    assert (w.params["warmup_epochs"], w.params["warmup_interval"]) == (5, 1)
    assert St.stage_length(300) == 30 and St.warmup_layout(300) == (30, 3)
    assert St.stage_length(3) == 1 and St.warmup_layout(3) == (1, 1)
    one = St.get("warmup", epochs=1)
    plan = one.plan(100)
    assert plan.epochs == 1


@pytest.mark.parametrize("family", ["cosine", "diminishing", "linear", "poly", "constant"])
def test_lr_families_of_ii(family):
    s = St.get("ii", lr_family=family)
    assert s.lr.type == {"poly": "polynomial"}.get(family, family)
    assert s.theory.order == ("O(1/√T)" if family == "diminishing" else "O(1/T)")
    s.plan(1000)


def test_i_refuses_a_constant_rate():
    with pytest.raises(sgdm.SgdmError, match="lr_family"):
        St.get("i", lr_family="constant")


def test_theory_rows():
    rows = {n: St.get(n).theory for n in St.names()}
    assert rows["baseline"].vanishes is False and "σ²/b" in rows["baseline"].order
    assert rows["i"].vanishes is False
    assert rows["ii"].vanishes is True and rows["ii"].order == "O(1/T)"
    assert rows["iii"].vanishes is True and "γ^(−M)" in rows["iii"].order
    assert rows["warmup"].established is False
    d = St.get("iii").to_dict()
    assert d["theory"]["vanishes"] is True
    assert [c["name"] for c in d["conditions"]] == ["gamma<delta", "beta2gamma<1", "gamma<sqrt(delta)"]


def test_conditions_pass_for_paper_settings():
    for lr_max, beta in [(0.2, 0.9), (0.5, 0.9), (1.0, 0.87)]:
        s = St.get("iii", lr_max=lr_max, momentum=beta)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            checks = s.check_conditions()
        assert all(c.passed for c in checks)


def test_conditions_warn_when_broken():
    s = St.get("iii", lr_max=1.0, momentum=0.9)  # β²γ = 0.81 · 10^(1/9) > 1
    with pytest.warns(St.ConditionWarning, match="β²γ < 1"):
        checks = s.check_conditions()
    by_name = {c.name: c for c in checks}
    assert by_name["beta2gamma<1"].passed is False
    assert by_name["beta2gamma<1"].lhs == pytest.approx(0.81 * 10 ** (1 / 9), rel=1e-12)
    assert by_name["gamma<delta"].passed is True
    fast = St.get("iii", epochs=20, lr_max=10.0, momentum=0.0)  # γ = 100^(1/1) ≫ δ
    with pytest.warns(St.ConditionWarning):
        fast.check_conditions()


def test_conditions_do_not_apply_without_lr_growth():
    for name in ("baseline", "i", "ii", "warmup", "seesaw"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert all(c.passed is None for c in St.get(name).check_conditions())


def test_plan_and_run_config():
    s = St.get("iii")
    plan = s.plan(50_000)
    assert plan.total_steps == 374_760
    assert plan.learning_rates[-1] == pytest.approx(0.5, rel=1e-12)
    run = s.run_config(50_000)
    assert run.plan == plan and run.momentum == 0.9 and run.variant == "nshb"
    assert "x2 every 30 epochs" in s.description


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"variant": "adam"}, "variant"),
        ({"momentum": 1.0}, "momentum"),
        ({"init_lr": -1.0}, "init_lr = -1"),
        ({"lr_max": -1.0, "init_lr": 0.1}, "lr_max = -1"),
        ({"epochs": 0}, "epochs"),
        ({"bogus": 1}, "bogus"),
        ({"lr_family": "step"}, "lr_family"),
        ({"bs_growth_rate": 0.0}, "bs_growth_rate"),
    ],
)
def test_bad_overrides(kwargs, field):
    # Errors name the setting the caller passed (lr_max), not the schedule's field (max_value).
    name = "iii" if "lr_max" in kwargs else "ii"
    with pytest.raises(sgdm.SgdmError, match=field):
        St.get(name, **kwargs)


def test_warmup_longer_than_run():
    with pytest.raises(sgdm.SgdmError, match="warmup_epochs"):
        St.get("warmup", epochs=10, warmup_epochs=20)


def seesaw_formulas(epochs, n, decay_factor=0.5, init_lr=0.1, init_bs=8, incr_interval=None, bs_max=None):
    """By NumPy, per epoch, with k = ⌊e/E_inc⌋, b_cap = min(b_max, n) and the unrounded capped
    batch b̃_k = min(b_0 (1/α)^k, b_cap): η_e = η_0 α^k √(b̃_k/b̃_0), b_e = min(⌈b_0 (1/α)^k⌉, b_cap)."""
    k = np.arange(epochs) // (incr_interval or St.stage_length(epochs))
    cap = min(bs_max or n, n)
    b_tilde = np.minimum(init_bs * (1 / decay_factor) ** k, cap)
    lr = init_lr * decay_factor**k * np.sqrt(b_tilde / b_tilde[0])
    bs = np.minimum(np.ceil(init_bs * (1 / decay_factor) ** k), cap).astype(np.int64)
    return lr, bs


@pytest.mark.parametrize(
    "epochs, n, settings",
    [
        (300, 50_000, {}),  # b: 8, 16, ..., 4096; η: 0.1·(1/√2)^k
        (40, 50_000, {"decay_factor": 0.3, "init_bs": 5, "incr_interval": 7}),  # ceilings: 17, 56, 186, ...
        (30, 1_000, {"decay_factor": 0.25, "init_lr": 0.5, "incr_interval": 3, "bs_max": 300}),  # cap b_max
        (30, 200, {"decay_factor": 0.25, "incr_interval": 3}),  # cap n
        (30, 200, {"decay_factor": 0.25, "incr_interval": 3, "bs_max": 1_000}),  # n below b_max
        (12, 5, {"incr_interval": 3}),  # n < b_0: the batch never grows, η = η_0 α^k
    ],
)
def test_seesaw_plan_follows_the_formulas(epochs, n, settings):
    plan = St.get("seesaw", epochs=epochs, **settings).plan(n)
    lr, bs = seesaw_formulas(epochs, n, **settings)
    np.testing.assert_array_equal(plan.batch_sizes, bs)
    # The rate is constant within an epoch: compare the first and the last step of each.
    last_steps = plan.epoch_starts + plan.steps_per_epoch - 1
    np.testing.assert_allclose(plan.learning_rates[plan.epoch_starts], lr, rtol=1e-12)
    np.testing.assert_allclose(plan.learning_rates[last_steps], lr, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 0.3])
@pytest.mark.parametrize("cap", [None, "bs_max", "n"])
def test_seesaw_keeps_the_step_decays_lr_over_sqrt_b(alpha, cap):
    # The step decay Seesaw replaces runs η_0 α^k at the constant batch b_0. Seesaw keeps
    # η/√b̃ = η_0 α^k/√b_0 in every epoch, b̃_k = min(b_0 (1/α)^k, b_cap) the unrounded capped
    # batch, also once b_cap (b_max, or n) stops the batch: here in stage 4 of 8.
    epochs, interval, init_bs, init_lr = 24, 3, 8, 0.1
    k = np.arange(epochs) // interval
    grown = init_bs * (1 / alpha) ** k
    bound = int(1.5 * grown[3 * interval])  # between stage 3's batch and stage 4's
    n = bound if cap == "n" else 10**6
    s = St.get("seesaw", epochs=epochs, decay_factor=alpha, init_bs=init_bs, init_lr=init_lr,
               incr_interval=interval, bs_max=bound if cap == "bs_max" else None)
    plan = s.plan(n)
    b_tilde = np.minimum(grown, bound) if cap else grown
    step_decay = init_lr * alpha**k / math.sqrt(init_bs)
    for steps in (plan.epoch_starts, plan.epoch_starts + plan.steps_per_epoch - 1):
        np.testing.assert_allclose(plan.learning_rates[steps] / np.sqrt(b_tilde), step_decay, rtol=1e-12)
    # b̃ is the plan's batch before its ceiling: b_e = ⌈b̃_k⌉, so η/√b_e is the step decay's exactly
    # where b̃ is an integer (every stage for α = 1/2, the capped stages for any α), and within
    # the ceiling (less than one sample) elsewhere.
    b = plan.batch_sizes
    np.testing.assert_array_equal(b, np.ceil(b_tilde))
    ratio = plan.learning_rates[plan.epoch_starts] / np.sqrt(b) / step_decay
    whole = b_tilde == np.round(b_tilde)
    np.testing.assert_allclose(ratio[whole], 1.0, rtol=1e-12)
    assert np.all(ratio <= 1 + 1e-12) and np.all(ratio > np.sqrt((b - 1) / b))
    assert whole.all() == (alpha == 0.5)
    if cap:  # the cap binds in the middle of the run, so both regimes are checked
        assert (grown[:12] < bound).all() and (grown[12:] > bound).all()
        assert (b[12:] == bound).all()
    # Strategy.lr honours b_max; only the plan knows n.
    assert (s.lr == plan.lr) == (cap != "n")


def test_seesaw_without_a_binding_cap_is_the_sqrt_alpha_step_decay():
    # Uncapped runs are unchanged: one step decay by √α, in the strategy and in its plans, also
    # when the cap is reached exactly (b_0 (1/α)^k = b_cap: no stage is cut short).
    sqrt_decay = S.StepDecay(0.1, math.sqrt(0.5), 30)
    for settings, n in [({}, 50_000), ({"bs_max": 10_000}, 50_000), ({"bs_max": 4096}, 50_000), ({}, 4096)]:
        s = St.get("seesaw", epochs=300, **settings)
        assert s.lr == sqrt_decay and s.plan(n).lr == sqrt_decay
    alpha = 0.3
    s = St.get("seesaw", epochs=40, decay_factor=alpha, init_bs=5, incr_interval=7)
    assert s.lr == s.plan(50_000).lr == S.StepDecay(0.1, math.sqrt(alpha), 7)


def test_seesaw_rate_is_a_join_of_step_decays_at_the_cap():
    # b: 8, 16, 32, 64, then 100 (cut short) from epoch 120: there the rate takes the whole cut.
    s = St.get("seesaw", epochs=300, bs_max=100)
    first = 0.1 * 0.5**4 * math.sqrt(100 / 8)
    assert s.lr == S.Join([S.StepDecay(0.1, math.sqrt(0.5), 30), S.StepDecay(first, 0.5, 30)], [120])
    assert s.plan(50_000).lr == s.lr
    assert "b capped at b_max = 100 from epoch 120" in s.description
    assert "eta x0.5 per stage: eta/sqrt(b) as the step decay's" in s.description
    # A smaller n moves the cut forward in the plan (b: 8, 16, then 20 from epoch 60).
    assert s.plan(20).lr == S.Join(
        [S.StepDecay(0.1, math.sqrt(0.5), 30), S.StepDecay(0.1 * 0.5**2 * math.sqrt(20 / 8), 0.5, 30)], [60]
    )
    # b_max = b_0: the batch never grows and the rate is the step decay itself.
    fixed = St.get("seesaw", epochs=300, bs_max=8)
    assert fixed.lr == fixed.plan(50_000).lr == S.StepDecay(0.1, 0.5, 30)
    assert "the step decay itself" in fixed.description
    assert "once b reaches n" in St.get("seesaw").description
    assert "b_max = 10000 not reached" in St.get("seesaw", bs_max=10_000).description


@pytest.mark.parametrize("alpha", [0.5, 0.3])
def test_sgdm_schedule_shows_seesaw_at_its_cap(alpha):
    # `sgdm schedule` (its --json output) with b_max binding in stage 4 of 8, over stages of 3 epochs.
    typer_testing = pytest.importorskip("typer.testing")
    from sgdm_cli.app import app

    n, bound = 100_000, int(1.5 * 8 / alpha**3)
    args = ["schedule", "--strategy", "seesaw", "--epochs", "24", "--incr-interval", "3",
            "--decay-factor", alpha, "--bs-max", bound, "--n-samples", n, "--json"]
    result = typer_testing.CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert f"b capped at b_max = {bound} from epoch 12" in data["description"]
    stages = data["stages"]
    # A row per batch size: stages 0-3 grow b, then one row of b_max over the 4 capped stages.
    assert [s["first_epoch"] for s in stages] == [0, 3, 6, 9, 12]
    assert stages[-1]["batch_size"] == bound
    for s in stages:
        for end in ("first", "last"):
            assert s[f"noise_{end}"] == pytest.approx(s[f"lr_{end}"] * n / s["batch_size"], rel=1e-12)
    # η/√b̃ falls by α per stage, as the step decay's η/√b_0 does (b̃: the unrounded batch)
    b_tilde = [8 / alpha**k for k in range(4)] + [bound]
    for k, (a, b) in enumerate(zip(stages, stages[1:])):
        assert b["lr_first"] / math.sqrt(b_tilde[k + 1]) == pytest.approx(
            a["lr_last"] / math.sqrt(b_tilde[k]) * alpha, rel=1e-12)
    # ... so the noise scale η·n/b falls by α^(3/2) per stage while b grows (η by √α, b by ⌈·⌉ of
    # 1/α: exactly α^(3/2) for α = 1/2, within 2 % for 0.3), and by α per stage once b is capped
    # (three cuts within the last row), as the step decay's does.
    for a, b in zip(stages[:3], stages[1:4]):
        drop = b["noise_first"] / a["noise_last"]
        assert drop == pytest.approx(math.sqrt(alpha) * a["batch_size"] / b["batch_size"], rel=1e-12)
        assert drop == pytest.approx(alpha**1.5, rel=1e-12 if alpha == 0.5 else 0.02)
    assert stages[-1]["noise_last"] == pytest.approx(stages[-1]["noise_first"] * alpha**3, rel=1e-12)


def test_seesaw_changes_exactly_at_the_stage_boundaries():
    s = St.get("seesaw", epochs=300)
    assert s.batch_size == S.ExpGrowthBatchSize(8, 2.0, 30)
    assert s.lr == S.StepDecay(0.1, math.sqrt(0.5), 30)
    assert (s.gamma, s.delta) == (math.sqrt(0.5), 2.0)
    assert [s.batch_size(e) for e in (0, 29, 30, 59, 60)] == [8, 8, 16, 16, 32]
    assert [s.lr(0, e) for e in (29, 30, 60)] == pytest.approx([0.1, 0.1 * 0.5**0.5, 0.05], rel=1e-12)
    assert s.params == {"variant": "nshb", "init_bs": 8, "init_lr": 0.1, "momentum": 0.9,
                        "decay_factor": 0.5, "incr_interval": 30, "bs_max": None}
    capped = St.get("seesaw", epochs=10, incr_interval=2, bs_max=20)
    assert capped.batch_size == S.PiecewiseBatchSize([8, 16, 20, 20, 20], [2, 4, 6, 8])


def test_seesaw_theory_row_is_no_guarantee():
    from sgdm.experiment import theory_agreement

    t = St.get("seesaw").theory
    assert t.established is False and t.vanishes is None and t.order.startswith("no theorem")
    row = {"strategy": "seesaw", "slope_steps": -1.0, "floor_significant": True}
    verdict = theory_agreement([row])
    assert verdict["claims"] == [] and verdict["agrees"] is False


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.5, True, float("nan"), "0.5"])
def test_seesaw_refuses_a_bad_decay_factor(alpha):
    with pytest.raises(sgdm.SgdmError, match="decay_factor"):
        St.get("seesaw", decay_factor=alpha)


def test_seesaw_refuses_a_cap_below_the_first_batch():
    with pytest.raises(sgdm.SgdmError, match="bs_max = 4"):
        St.get("seesaw", bs_max=4)


@pytest.mark.parametrize(
    "name, settings, top, elsewhere",
    [("i", {"lr_min": 0.5}, "init_lr = 0.1", {"lr_family": "linear"}),
     ("ii", {"lr_min": 0.2}, "init_lr = 0.1", {"lr_family": "poly"}),
     ("warmup", {"lr_max": 0.3, "lr_min": 0.4}, "lr_max = 0.3", {"after_warmup": "constant"})],
)
def test_a_cosine_floor_above_its_start_is_refused(name, settings, top, elsewhere):
    with pytest.raises(sgdm.SgdmError, match=f"lr_min = .* is invalid: the cosine decays from {top}"):
        St.get(name, epochs=20, **settings)
    St.get(name, epochs=20, **settings, **elsewhere)  # no cosine: lr_min does not apply
    # a floor equal to the start is a constant rate
    assert np.all(St.get("i", epochs=20, lr_min=0.1).plan(100).learning_rates == 0.1)
