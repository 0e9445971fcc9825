//! Property tests of schedule evaluation and plan building: never a panic or a hang for
//! arbitrary clocks and parameters; invalid parameters are `Err`; values are non-negative,
//! never NaN, and bounded or monotone where the formula says; plan totals equal their sums.

use proptest::prelude::*;
use sgdm_core::plan::{self, MAX_TOTAL_STEPS};
use sgdm_core::{BatchSchedule, LrSchedule, Plan, Unit};

fn real() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..5.0,
        1 => prop::sample::select(vec![0.0, 1e-300, 5e-324, 1.0, 2.0, 1e300, f64::MAX, -1.0, -0.0,
                                       f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        1 => any::<f64>(),
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..60, 1 => prop::sample::select(vec![1u64 << 31, 1 << 53, (1 << 63) - 1, 1 << 63, u64::MAX]), 1 => any::<u64>()]
}

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::weighted(0.6, s)
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![Just(Unit::Step), Just(Unit::Epoch)]
}

fn increasing() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(count(), 0..4).prop_map(|mut v| {
        if v.len() % 2 == 0 {
            v.sort_unstable();
            v.dedup();
        }
        v
    })
}

fn leaf() -> impl Strategy<Value = LrSchedule> {
    prop_oneof![
        real().prop_map(|value| LrSchedule::Constant { value }),
        real().prop_map(|init_value| LrSchedule::Diminishing { init_value }),
        (real(), real(), opt(count())).prop_map(|(init_value, min_value, epochs)| LrSchedule::Cosine { init_value, min_value, epochs }),
        (real(), opt(count())).prop_map(|(init_value, total_steps)| LrSchedule::Linear { init_value, total_steps }),
        (real(), real(), opt(count())).prop_map(|(init_value, power, total_steps)| LrSchedule::Polynomial { init_value, power, total_steps }),
        (real(), count(), opt(real()), opt(real()), opt(count())).prop_map(|(init_value, interval, max_value, growth_rate, epochs)|
            LrSchedule::ExpGrowth { init_value, interval, max_value, growth_rate, epochs }),
        (real(), count(), count(), opt(real()), opt(real())).prop_map(|(init_value, warmup_epochs, warmup_interval, max_value, growth_rate)|
            LrSchedule::WarmupConstant { init_value, warmup_epochs, warmup_interval, max_value, growth_rate }),
        (real(), count(), count(), opt(real()), opt(real()), real(), opt(count())).prop_map(
            |(init_value, warmup_epochs, warmup_interval, max_value, growth_rate, min_value, epochs)|
            LrSchedule::WarmupCosine { init_value, warmup_epochs, warmup_interval, max_value, growth_rate, min_value, epochs }),
        (real(), real(), count(), unit()).prop_map(|(init_value, decay_rate, step_size, unit)| LrSchedule::StepDecay { init_value, decay_rate, step_size, unit }),
        (real(), real(), increasing(), unit()).prop_map(|(init_value, decay_rate, milestones, unit)| LrSchedule::MultiStepDecay { init_value, decay_rate, milestones, unit }),
        (real(), real(), unit()).prop_map(|(init_value, decay_rate, unit)| LrSchedule::ExponentialDecay { init_value, decay_rate, unit }),
        (real(), real(), real(), real(), opt(count()), unit()).prop_map(|(peak_value, pct_start, div_factor, final_div_factor, total, unit)|
            LrSchedule::OneCycle { peak_value, pct_start, div_factor, final_div_factor, total, unit }),
        (real(), real(), count(), real(), unit()).prop_map(|(init_value, min_value, period, period_mult, unit)|
            LrSchedule::CosineRestarts { init_value, min_value, period, period_mult, unit }),
    ]
}

fn lr_schedule() -> impl Strategy<Value = LrSchedule> {
    prop_oneof![
        4 => leaf(),
        1 => (prop::collection::vec(leaf(), 0..4), increasing(), unit())
            .prop_map(|(pieces, boundaries, unit)| LrSchedule::join(pieces, boundaries, unit)),
    ]
}

fn batch_schedule() -> impl Strategy<Value = BatchSchedule> {
    prop_oneof![
        count().prop_map(|size| BatchSchedule::Constant { size }),
        (count(), real(), count(), opt(count()), opt(count())).prop_map(|(init_size, growth_rate, interval, max_size, epochs)|
            BatchSchedule::ExpGrowth { init_size, growth_rate, interval, max_size, epochs }),
        (prop::collection::vec(count(), 0..4), increasing()).prop_map(|(sizes, boundaries)| BatchSchedule::Piecewise { sizes, boundaries }),
    ]
}

/// Every real field of a schedule (recursively), for the "invalid is Err" property.
fn reals(s: &LrSchedule) -> Vec<f64> {
    match s {
        LrSchedule::Constant { value } => vec![*value],
        LrSchedule::Diminishing { init_value } => vec![*init_value],
        LrSchedule::Cosine { init_value, min_value, .. } => vec![*init_value, *min_value],
        LrSchedule::Linear { init_value, .. } => vec![*init_value],
        LrSchedule::Polynomial { init_value, power, .. } => vec![*init_value, *power],
        LrSchedule::ExpGrowth { init_value, max_value, growth_rate, .. }
        | LrSchedule::WarmupConstant { init_value, max_value, growth_rate, .. } => {
            [Some(*init_value), *max_value, *growth_rate].into_iter().flatten().collect()
        }
        LrSchedule::WarmupCosine { init_value, max_value, growth_rate, min_value, .. } => {
            [Some(*init_value), *max_value, *growth_rate, Some(*min_value)].into_iter().flatten().collect()
        }
        LrSchedule::StepDecay { init_value, decay_rate, .. }
        | LrSchedule::MultiStepDecay { init_value, decay_rate, .. }
        | LrSchedule::ExponentialDecay { init_value, decay_rate, .. } => vec![*init_value, *decay_rate],
        LrSchedule::OneCycle { peak_value, pct_start, div_factor, final_div_factor, .. } => {
            vec![*peak_value, *pct_start, *div_factor, *final_div_factor]
        }
        LrSchedule::CosineRestarts { init_value, min_value, period_mult, .. } => vec![*init_value, *min_value, *period_mult],
        LrSchedule::Join { pieces, .. } => pieces.iter().flat_map(reals).collect(),
    }
}

fn clock() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..400, 1 => any::<u64>(), 1 => prop::sample::select(vec![(1u64 << 63) - 1, 1 << 63, u64::MAX])]
}

/// The invariants of one value of a valid, ready schedule.
fn check_value(s: &LrSchedule, v: f64) -> Result<(), TestCaseError> {
    prop_assert!(!v.is_nan(), "{:?} gave NaN", s);
    prop_assert!(v >= 0.0, "{:?} gave {}", s, v);
    match s {
        LrSchedule::WarmupConstant { max_value: Some(m), .. } => prop_assert!(v <= *m, "warm-up {} above max {}", v, m),
        LrSchedule::WarmupCosine { max_value: Some(m), min_value, .. }
            => prop_assert!(v <= m.max(*min_value) * (1.0 + 1e-12), "warm-up cosine {} above {}", v, m.max(*min_value)),
        LrSchedule::ExpGrowth { max_value: Some(m), .. } => prop_assert!(v <= *m, "growth {} above max {}", v, m),
        LrSchedule::Cosine { init_value, min_value, .. } | LrSchedule::CosineRestarts { init_value, min_value, .. } => {
            let (lo, hi) = (init_value.min(*min_value), init_value.max(*min_value));
            // Rounding of min + (init − min)·c is relative to the larger of the two.
            prop_assert!(v >= lo - 1e-12 * hi && v <= hi * (1.0 + 1e-12), "{} outside [{}, {}]", v, lo, hi);
        }
        LrSchedule::OneCycle { peak_value, .. } => prop_assert!(v <= peak_value * (1.0 + 1e-12), "one-cycle {} above peak", v),
        _ => {}
    }
    Ok(())
}

/// `n` cases, or PROPTEST_CASES for a longer run (`PROPTEST_CASES=20000 cargo test`).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    #[test]
    fn lr_schedules_never_panic_and_stay_in_range(s in lr_schedule(), clocks in prop::collection::vec((clock(), clock()), 1..6)) {
        let valid = s.validate();
        if reals(&s).iter().any(|x| !x.is_finite() || *x < 0.0) {
            prop_assert!(valid.is_err(), "accepted a negative or non-finite setting: {:?}", s);
        }
        // A run long enough for every length the schedule needs.
        let resolved = s.resolve(&sgdm_core::Horizon { epochs: Some(50), epoch_bounds: Some(&(0..=50).map(|e| e * 7).collect::<Vec<u64>>()) });
        for sched in [Some(&s), resolved.as_ref().ok()].into_iter().flatten() {
            if valid.is_err() || sched.check_ready().is_err() {
                continue;
            }
            for &(t, e) in &clocks {
                check_value(sched, sched.value(t, e))?;
            }
            // Vectorised evaluation equals the scalar one, and refuses negative clocks.
            let steps: Vec<i64> = clocks.iter().map(|c| c.0 as i64).collect();
            let epochs: Vec<i64> = clocks.iter().map(|c| c.1 as i64).collect();
            let mut out = vec![0.0; steps.len()];
            let r = sched.values(&steps, &epochs, &mut out);
            let negative = steps.iter().chain(&epochs).any(|&x| x < 0);
            prop_assert_eq!(r.is_err(), negative);
            if !negative {
                for (i, (&t, &e)) in steps.iter().zip(&epochs).enumerate() {
                    let v = sched.value(t as u64, e as u64);
                    prop_assert!(out[i].to_bits() == v.to_bits() || (out[i].is_nan() && v.is_nan()));
                }
            }
            let mut short = vec![0.0; steps.len() + 1];
            prop_assert!(sched.values(&steps, &epochs, &mut short).is_err());
        }
    }

    #[test]
    fn warmup_never_exceeds_its_peak_and_never_decreases(init in 1e-6f64..1.0, ratio in 1.0f64..1e6, w in 1u64..10, stages in 0u64..10, e in 0u64..200) {
        let big_w = w * (stages + 1);
        let max = init * ratio;
        let s = LrSchedule::WarmupConstant { init_value: init, warmup_epochs: big_w, warmup_interval: w, max_value: Some(max), growth_rate: None };
        prop_assert!(s.validate().is_ok());
        let (a, b) = (s.value(0, e), s.value(0, e + 1));
        prop_assert!(a <= max && b <= max, "warm-up above max: {} {} > {}", a, b, max);
        prop_assert!(a <= b * (1.0 + 1e-12), "warm-up decreases: {} then {}", a, b);
        prop_assert!(a >= init * (1.0 - 1e-12));
    }

    #[test]
    fn batch_sizes_are_at_least_one_and_grow(s in batch_schedule(), mut epochs in prop::collection::vec(clock(), 1..8)) {
        if s.validate().is_err() {
            if let BatchSchedule::ExpGrowth { growth_rate, .. } = &s {
                let _ = growth_rate; // any invalid combination is an Err; nothing to evaluate
            }
            return Ok(());
        }
        for sched in [Some(s.clone()), s.resolve(Some(50)).ok()].into_iter().flatten() {
            if sched.check_ready().is_err() {
                continue;
            }
            epochs.sort_unstable();
            let sizes: Vec<u64> = epochs.iter().map(|&e| sched.size(e)).collect();
            prop_assert!(sizes.iter().all(|&b| b >= 1), "a batch size below 1: {:?}", sizes);
            if let BatchSchedule::ExpGrowth { growth_rate, max_size, .. } = &sched {
                if *growth_rate >= 1.0 {
                    prop_assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "growing sizes decrease: {:?}", sizes);
                }
                if let Some(m) = max_size {
                    prop_assert!(sizes.iter().all(|b| b <= m), "{:?} above max_size {}", sizes, m);
                }
            }
            let e64: Vec<i64> = epochs.iter().map(|&e| e as i64).collect();
            let mut out = vec![0i64; e64.len()];
            let r = sched.sizes(&e64, &mut out);
            prop_assert_eq!(r.is_err(), e64.iter().any(|&x| x < 0));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn plan_totals_equal_their_sums(n in prop_oneof![1u64..2000, Just(0u64), any::<u64>()], epochs in prop_oneof![1u64..25, Just(0u64), any::<u64>()],
                                    batch in batch_schedule(), lr in lr_schedule()) {
        // Keep the layouts that would be built small (fuzzing must stay fast); huge values must
        // fail fast, before any allocation sized by them.
        let small = batch.validate().is_ok() && n <= 2000 && epochs <= 25;
        let p = Plan::build(n, epochs, &batch, &lr);
        if n == 0 || epochs == 0 || batch.validate().is_err() || lr.validate().is_err() {
            prop_assert!(p.is_err());
        }
        let Ok(p) = p else { return Ok(()); };
        prop_assert!(small || p.total_steps <= MAX_TOTAL_STEPS);
        prop_assert_eq!(p.total_steps, p.steps_per_epoch.iter().map(|&s| s as u64).sum::<u64>());
        prop_assert_eq!(p.learning_rates.len() as u64, p.total_steps);
        prop_assert_eq!(p.sfo, n * epochs);
        let bos = plan::batch_size_of_step(n as i64, &p.batch_sizes, &p.steps_per_epoch)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bos.iter().map(|&b| b as u64).sum::<u64>(), p.sfo);
        prop_assert!(bos.iter().all(|&b| b >= 1));
        prop_assert_eq!(plan::epoch_of_step(&p.steps_per_epoch).map_err(|e| TestCaseError::fail(e.to_string()))?, p.epoch_of_step());
        prop_assert!(p.batch_sizes.iter().all(|&b| b >= 1 && b as u64 <= n));
        let (a, _, _) = plan::running_sums(&p.learning_rates, &bos).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(a.len(), p.learning_rates.len());
        for (t, &eta) in p.learning_rates.iter().enumerate() {
            prop_assert!(!eta.is_nan() && eta >= 0.0, "learning rate {} at step {}", eta, t);
        }
    }

    #[test]
    fn plan_helpers_never_panic(spe in prop::collection::vec(prop_oneof![0i64..5, any::<i64>()], 0..5),
                                bs in prop::collection::vec(prop_oneof![1i64..9, any::<i64>()], 0..5),
                                n in prop_oneof![1i64..50, any::<i64>()],
                                lr in prop::collection::vec(any::<f64>(), 0..6), b2 in prop::collection::vec(any::<i64>(), 0..6)) {
        let e = plan::epoch_of_step(&spe);
        prop_assert_eq!(e.is_ok(), spe.iter().all(|&s| s >= 0) && spe.iter().fold(0u64, |a, &s| a.saturating_add(s as u64)) <= MAX_TOTAL_STEPS);
        if let Ok(b) = plan::batch_size_of_step(n, &bs, &spe) {
            prop_assert!(b.iter().all(|&x| x >= 1), "a step without samples: {:?}", b);
            prop_assert_eq!(b.len() as i64, spe.iter().sum::<i64>());
        }
        let r = plan::running_sums(&lr, &b2);
        prop_assert_eq!(r.is_ok(), lr.len() == b2.len() && b2.iter().all(|&b| b >= 1));
    }
}

/// Minimal inputs the properties above found, kept as plain regression tests.
#[test]
fn regressions_found_by_proptest() {
    // `resolve` on a join whose offsets do not match its pieces indexed out of bounds.
    let bad_join = LrSchedule::Join {
        pieces: vec![LrSchedule::Constant { value: 0.0 }, LrSchedule::Constant { value: 0.0 }],
        boundaries: vec![],
        unit: Unit::Step,
        offsets: vec![(Some(0), Some(0))],
    };
    assert!(bad_join.resolve(&sgdm_core::Horizon::default()).is_err());
    // A max_size above 2^53 rounds up in f64: the capped size exceeded max_size.
    let m = 166_974_930_325_919_344u64;
    let b = BatchSchedule::ExpGrowth { init_size: 1, growth_rate: 4.227874582445686, interval: 1, max_size: Some(m), epochs: Some(50) };
    assert!((0..60).all(|e| b.size(e) <= m));
    assert_eq!(b.size(49), m);
    // An init_size above 2^53 rounded down in f64: a growing schedule shrank.
    let g = BatchSchedule::ExpGrowth { init_size: 31_494_130_789_087_569, growth_rate: 1.0, interval: 1, max_size: None, epochs: None };
    assert_eq!(g.size(1), 31_494_130_789_087_569);
    // values() clamped a total_steps above 2^63 that value() does not.
    let l = LrSchedule::Linear { init_value: 4.4794022074323445, total_steps: Some(9_223_372_036_854_776_833) };
    let t = 3_802_163_370_128_067_328i64;
    let mut out = [0.0];
    assert!(l.values(&[t], &[0], &mut out).is_ok());
    assert_eq!(out[0].to_bits(), l.value(t as u64, 0).to_bits());
    // A huge period_mult made the SGDR cycle index infinite: an endless loop.
    let r = LrSchedule::CosineRestarts { init_value: 1.0, min_value: 0.5, period: 100, period_mult: 1e300, unit: Unit::Step };
    for t in [117, 1 << 31, u64::MAX] {
        let v = r.value(t, 0);
        assert!((0.5..=1.0).contains(&v), "{v}");
    }
    // A warm-up growing past f64::MAX gave inf, then ∞·0 = NaN at the end of the cosine.
    let w = LrSchedule::WarmupCosine { init_value: 1.0, warmup_epochs: 3, warmup_interval: 1, max_value: None, growth_rate: Some(1e300), min_value: 0.0, epochs: Some(10) };
    assert!(w.validate().is_err());
    // 0 · r^c with r^c = inf was NaN.
    let z = LrSchedule::ExponentialDecay { init_value: 0.0, decay_rate: 2.0, unit: Unit::Epoch };
    assert_eq!(z.value(0, 5000), 0.0);
    // Epoch counts beyond the step cap are refused before anything is reserved.
    let one = BatchSchedule::Constant { size: 1 };
    let c = LrSchedule::Constant { value: 0.1 };
    assert!(Plan::build(1, 1 << 40, &one, &c).is_err());
    assert!(Plan::build(1, 1 << 62, &one, &c).is_err());
    assert!(plan::epoch_of_step(&[1 << 40]).is_err());
    assert!(plan::batch_size_of_step(5, &[1 << 62], &[4]).is_err());
    assert!(plan::running_sums(&[1.0, 1.0, 1.0], &[1, 2]).is_err());
}
