//! Property tests of the fused step: it equals the scalar recursion element by element, bit
//! for bit, for arbitrary (also non-finite) inputs; bad settings and mismatched lengths return
//! `Err` with nothing written; it never panics; 2 threads give the same bits as 1.

use proptest::prelude::*;
use sgdm_core::parallel;
use sgdm_core::step::PARALLEL_MIN_LEN;
use sgdm_core::{fused_step, Float, SgdmError, StepConfig, Tensor, Variant};

/// Tests that change the process-wide thread count hold this lock.
static THREADS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One element of the documented recursion, in T, in the documented order.
fn scalar<T: Float>(p: T, g: T, m: T, c: &StepConfig) -> (T, T) {
    let lr = T::from_f64(c.lr);
    let beta = T::from_f64(c.momentum);
    let scale = T::from_f64(match c.variant {
        Variant::Shb => 1.0,
        Variant::Nshb => 1.0 - c.momentum,
    });
    let wd = T::from_f64(c.weight_decay);
    let d = if wd != T::ZERO { g + wd * p } else { g };
    let m_new = beta * m + scale * d;
    let u = if c.nesterov { d + beta * m_new } else { m_new };
    (p - lr * u, m_new)
}

/// Bitwise equality where every NaN equals every NaN.
fn same64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn same32(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Any f64, biased towards ordinary magnitudes but with NaN, ±Inf, ±0 and subnormals.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -10.0f64..10.0,
        2 => any::<f64>(),
        1 => prop::sample::select(vec![
            0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 5e-324, 1e-310, 1e-40,
            3.4e38, 1e39, f64::MAX, f64::MIN,
        ]),
    ]
}

fn setting() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1.0,
        1 => prop::sample::select(vec![0.0, 0.9, 0.999, 1.0, -0.0, 1e-50, 1e300, f64::MAX]),
        1 => any::<f64>(),
    ]
}

fn config() -> impl Strategy<Value = StepConfig> {
    (setting(), setting(), any::<bool>(), any::<bool>(), setting(), any::<bool>()).prop_map(
        |(lr, momentum, nshb, nesterov, weight_decay, check_finite)| StepConfig {
            lr,
            momentum,
            variant: if nshb { Variant::Nshb } else { Variant::Shb },
            nesterov,
            weight_decay,
            check_finite,
        },
    )
}

/// Settings the step accepts (no finiteness check).
fn valid_config() -> impl Strategy<Value = StepConfig> {
    (0.0f64..10.0, 0.0f64..1.0, any::<bool>(), any::<bool>(), prop_oneof![Just(0.0), 0.0f64..1.0, Just(1e-50)]).prop_map(
        |(lr, momentum, nshb, nesterov, weight_decay)| StepConfig {
            lr,
            momentum,
            variant: if nshb { Variant::Nshb } else { Variant::Shb },
            nesterov: nesterov && !nshb,
            weight_decay,
            check_finite: false,
        },
    )
}

/// (param, grad, momentum) of possibly different lengths.
fn triple() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (0usize..12, prop::sample::select(vec![0i32, 0, 0, 0, 0, -1, 1]), prop::sample::select(vec![0i32, 0, 0, 0, 0, -1, 1]))
        .prop_flat_map(|(n, dg, dm)| {
            let len = |d: i32| (n as i32 + d).max(0) as usize;
            (
                prop::collection::vec(value(), n),
                prop::collection::vec(value(), len(dg)),
                prop::collection::vec(value(), len(dm)),
            )
        })
}

/// Run the step on copies; check the outcome against validate / lengths / finiteness and the
/// scalar recursion. Generic over the dtype via the two conversions.
fn check<T: Float + std::fmt::Debug>(
    triples: &[(Vec<f64>, Vec<f64>, Vec<f64>)],
    c: &StepConfig,
    conv: fn(f64) -> T,
    same: fn(T, T) -> bool,
) -> Result<(), TestCaseError> {
    let mut data: Vec<(Vec<T>, Vec<T>, Vec<T>)> = triples
        .iter()
        .map(|(p, g, m)| {
            (p.iter().map(|&x| conv(x)).collect(), g.iter().map(|&x| conv(x)).collect(), m.iter().map(|&x| conv(x)).collect())
        })
        .collect();
    let before = data.clone();
    let result = {
        let mut tensors: Vec<Tensor<'_, T>> = data
            .iter_mut()
            .map(|(p, g, m)| Tensor { param: p.as_mut_slice(), grad: g.as_slice(), momentum: m.as_mut_slice() })
            .collect();
        fused_step(&mut tensors, c)
    };
    let mismatch = before.iter().position(|(p, g, m)| g.len() != p.len() || m.len() != p.len());
    let non_finite = before.iter().position(|(_, g, _)| g.iter().any(|x| !x.is_finite()));
    let unchanged = |data: &Vec<(Vec<T>, Vec<T>, Vec<T>)>| {
        data.iter().zip(&before).all(|((p, _, m), (p0, _, m0))| {
            p.iter().zip(p0).all(|(&a, &b)| same(a, b)) && m.iter().zip(m0).all(|(&a, &b)| same(a, b))
        })
    };
    match result {
        Err(SgdmError::InvalidValue { .. }) => {
            prop_assert!(c.validate().is_err());
            prop_assert!(unchanged(&data), "an invalid setting wrote to the arrays");
        }
        Err(SgdmError::LengthMismatch { index, .. }) => {
            prop_assert!(c.validate().is_ok());
            prop_assert_eq!(Some(index), mismatch);
            prop_assert!(unchanged(&data), "a length mismatch wrote to the arrays");
        }
        Err(SgdmError::NonFiniteGradient { index }) => {
            prop_assert!(c.validate().is_ok() && mismatch.is_none() && c.check_finite);
            prop_assert_eq!(Some(index), non_finite);
            prop_assert!(unchanged(&data), "a non-finite gradient wrote to the arrays");
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        Ok(()) => {
            prop_assert!(c.validate().is_ok(), "accepted invalid settings {:?}", c);
            prop_assert!(mismatch.is_none(), "accepted mismatched lengths");
            prop_assert!(!(c.check_finite && non_finite.is_some()), "accepted a non-finite gradient");
            for ((p, _, m), (p0, g0, m0)) in data.iter().zip(&before) {
                for i in 0..p.len() {
                    let (pe, me) = scalar(p0[i], g0[i], m0[i], c);
                    prop_assert!(same(p[i], pe), "param {:?} != recursion {:?}", p[i], pe);
                    prop_assert!(same(m[i], me), "momentum {:?} != recursion {:?}", m[i], me);
                }
            }
        }
    }
    Ok(())
}

/// `n` cases, or PROPTEST_CASES for a longer run (`PROPTEST_CASES=20000 cargo test`).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn f64_step_is_the_recursion_or_an_error(triples in prop::collection::vec(triple(), 0..4), c in config()) {
        check::<f64>(&triples, &c, |x| x, same64)?;
    }

    #[test]
    fn f32_step_is_the_recursion_or_an_error(triples in prop::collection::vec(triple(), 0..4), c in config()) {
        check::<f32>(&triples, &c, |x| x as f32, same32)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Over the parallel threshold, with 2 threads and with 1, every bit agrees.
    #[test]
    fn two_threads_equal_one_bit_for_bit(extra in 0usize..40_000, seed in any::<u64>(), c in valid_config(), f32_ in any::<bool>()) {
        let n = PARALLEL_MIN_LEN + extra;
        // A cheap deterministic stream of values, NaN and Inf included.
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            match x % 97 { 0 => f64::NAN, 1 => f64::INFINITY, 2 => -0.0, _ => ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0 }
        };
        let base: Vec<(f64, f64, f64)> = (0..n).map(|_| (next(), next(), next())).collect();
        let _guard = THREADS.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs = Vec::new();
        for threads in [1, 2] {
            parallel::set_num_threads(threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if f32_ {
                let (mut p, g, mut m): (Vec<f32>, Vec<f32>, Vec<f32>) =
                    (base.iter().map(|t| t.0 as f32).collect(), base.iter().map(|t| t.1 as f32).collect(), base.iter().map(|t| t.2 as f32).collect());
                for _ in 0..2 {
                    fused_step(&mut [Tensor { param: &mut p, grad: &g, momentum: &mut m }], &c)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                runs.push((p.iter().map(|v| v.to_bits() as u64).collect::<Vec<_>>(), m.iter().map(|v| v.to_bits() as u64).collect::<Vec<_>>()));
            } else {
                let (mut p, g, mut m): (Vec<f64>, Vec<f64>, Vec<f64>) =
                    (base.iter().map(|t| t.0).collect(), base.iter().map(|t| t.1).collect(), base.iter().map(|t| t.2).collect());
                for _ in 0..2 {
                    fused_step(&mut [Tensor { param: &mut p, grad: &g, momentum: &mut m }], &c)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                runs.push((p.iter().map(|v| v.to_bits()).collect(), m.iter().map(|v| v.to_bits()).collect()));
            }
        }
        prop_assert!(runs[0] == runs[1], "2 threads differ from 1");
    }

    #[test]
    fn thread_counts_out_of_range_are_errors(n in prop_oneof![Just(0usize), (parallel::MAX_THREADS + 1)..usize::MAX]) {
        prop_assert!(parallel::set_num_threads(n).is_err());
    }
}
