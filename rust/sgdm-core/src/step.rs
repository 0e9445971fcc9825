//! The fused, in-place, multi-tensor SGDM update.
//!
//! For every tensor, one pass over memory reads θ, g, m and writes θ, m:
//!
//! ```text
//! d   = g + λ θ                      (L2 weight decay λ; skipped when λ = 0)
//! m   = β m + s d                    (s = 1 for SHB, s = 1 − β for NSHB)
//! u   = d + β m   if Nesterov, else m
//! θ   = θ − η u
//! ```
//!
//! The learning rate η sits outside the momentum buffer (PAPER.md §2), so a changing η never
//! rescales past momentum. Every scalar is first rounded to the tensor's dtype and every operation
//! is one IEEE rounding in that dtype, in exactly the order above, with no fused multiply-add:
//! the NumPy reference (`sgdm.reference`) reproduces the result bit for bit.

use rayon::prelude::*;

use crate::error::SgdmError;
use crate::parallel;

/// Elements per parallel work item: large enough to amortise scheduling, small enough to
/// balance two to a few dozen threads.
const CHUNK: usize = 1 << 16;

/// Below this many elements in one call the update runs on the calling thread. Measured with
/// `benches/bench_step.py` on the 2-core reference VM: waking the pool costs ~20 µs (2 threads
/// were slower at 3·10^5 elements), and from ~10^6 elements on one core already saturates the
/// memory bandwidth, so 2 threads only break even there; on machines with more memory channels
/// the split pays for large arrays.
pub const PARALLEL_MIN_LEN: usize = 1 << 20;

/// The momentum convention: where the (1 − β) factor goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Stochastic heavy ball: m = β m + g.
    Shb,
    /// Normalized stochastic heavy ball: m = β m + (1 − β) g.
    Nshb,
}

/// Hyperparameters of one update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepConfig {
    pub lr: f64,
    pub momentum: f64,
    pub variant: Variant,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Refuse (before touching anything) gradients holding NaN or ±Inf.
    pub check_finite: bool,
}

impl StepConfig {
    /// Check every scalar; the error names the argument and its domain.
    pub fn validate(&self) -> Result<(), SgdmError> {
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(SgdmError::invalid("lr", self.lr, "a finite number >= 0"));
        }
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(SgdmError::invalid(
                "momentum",
                self.momentum,
                "a number in [0, 1)",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(SgdmError::invalid(
                "weight_decay",
                self.weight_decay,
                "a finite number >= 0",
            ));
        }
        if self.nesterov && self.variant == Variant::Nshb {
            return Err(SgdmError::invalid(
                "nesterov",
                true,
                "False with variant='nshb' (Nesterov is defined on SHB buffers)",
            ));
        }
        Ok(())
    }
}

/// The floating-point types the kernels run in.
pub trait Float:
    Copy
    + Send
    + Sync
    + PartialEq
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
{
    const ZERO: Self;
    /// Round an f64 setting to this type (what NumPy does to a Python float).
    fn from_f64(x: f64) -> Self;
    fn is_finite(self) -> bool;
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

/// One parameter tensor with its gradient and momentum buffer, flattened.
#[derive(Debug)]
pub struct Tensor<'a, T> {
    pub param: &'a mut [T],
    pub grad: &'a [T],
    pub momentum: &'a mut [T],
}

impl<T> Tensor<'_, T> {
    fn len(&self) -> usize {
        self.param.len()
    }
}

/// The settings rounded to the tensor dtype, computed once per call.
#[derive(Clone, Copy)]
struct Coefficients<T> {
    lr: T,
    beta: T,
    grad_scale: T,
    weight_decay: T,
}

impl<T: Float> Coefficients<T> {
    fn new(cfg: &StepConfig) -> Self {
        let grad_scale = match cfg.variant {
            Variant::Shb => 1.0,
            Variant::Nshb => 1.0 - cfg.momentum,
        };
        Coefficients {
            lr: T::from_f64(cfg.lr),
            beta: T::from_f64(cfg.momentum),
            grad_scale: T::from_f64(grad_scale),
            weight_decay: T::from_f64(cfg.weight_decay),
        }
    }
}

/// The update over one contiguous run of elements. The two const flags hoist the branches out
/// of the loop so that each of the four instances vectorises.
#[inline(always)]
fn update_run<T: Float, const DECAY: bool, const NESTEROV: bool>(
    param: &mut [T],
    grad: &[T],
    momentum: &mut [T],
    c: Coefficients<T>,
) {
    for ((p, &g), m) in param.iter_mut().zip(grad).zip(momentum.iter_mut()) {
        let d = if DECAY { g + c.weight_decay * *p } else { g };
        let m_new = c.beta * *m + c.grad_scale * d;
        *m = m_new;
        let u = if NESTEROV { d + c.beta * m_new } else { m_new };
        *p = *p - c.lr * u;
    }
}

#[inline(always)]
fn update_portable<T: Float>(param: &mut [T], grad: &[T], momentum: &mut [T], c: Coefficients<T>, nesterov: bool) {
    match (c.weight_decay != T::ZERO, nesterov) {
        (false, false) => update_run::<T, false, false>(param, grad, momentum, c),
        (false, true) => update_run::<T, false, true>(param, grad, momentum, c),
        (true, false) => update_run::<T, true, false>(param, grad, momentum, c),
        (true, true) => update_run::<T, true, true>(param, grad, momentum, c),
    }
}

/// The same code compiled for AVX2 (wider vectors; still no FMA, so results are unchanged).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2<T: Float>(param: &mut [T], grad: &[T], momentum: &mut [T], c: Coefficients<T>, nesterov: bool) {
    update_portable(param, grad, momentum, c, nesterov)
}

fn update<T: Float>(param: &mut [T], grad: &[T], momentum: &mut [T], c: Coefficients<T>, nesterov: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just detected on the running CPU.
        return unsafe { update_avx2(param, grad, momentum, c, nesterov) };
    }
    update_portable(param, grad, momentum, c, nesterov)
}

fn update_parallel<T: Float>(tensor: &mut Tensor<'_, T>, c: Coefficients<T>, nesterov: bool) {
    tensor
        .param
        .par_chunks_mut(CHUNK)
        .zip(tensor.grad.par_chunks(CHUNK))
        .zip(tensor.momentum.par_chunks_mut(CHUNK))
        .for_each(|((p, g), m)| update(p, g, m, c, nesterov));
}

/// Check settings, lengths and (with `check_finite`) gradients without writing anything.
pub fn check_step<T: Float>(tensors: &[Tensor<'_, T>], cfg: &StepConfig) -> Result<(), SgdmError> {
    cfg.validate()?;
    for (index, t) in tensors.iter().enumerate() {
        if t.grad.len() != t.param.len() || t.momentum.len() != t.param.len() {
            return Err(SgdmError::LengthMismatch {
                index,
                param: t.param.len(),
                grad: t.grad.len(),
                momentum: t.momentum.len(),
            });
        }
    }
    if cfg.check_finite {
        if let Some(index) = tensors
            .iter()
            .position(|t| !t.grad.iter().all(|g| g.is_finite()))
        {
            return Err(SgdmError::NonFiniteGradient { index });
        }
    }
    Ok(())
}

/// Apply the update to tensors that passed [`check_step`]. The only possible error is a thread
/// pool that cannot be built, which happens before any element is written.
pub fn apply_step<T: Float>(tensors: &mut [Tensor<'_, T>], cfg: &StepConfig) -> Result<(), SgdmError> {
    let c = Coefficients::<T>::new(cfg);
    let total: usize = tensors.iter().map(Tensor::len).sum();
    let pool = if total >= PARALLEL_MIN_LEN {
        Some(parallel::pool()?).filter(|p| p.current_num_threads() > 1)
    } else {
        None
    };
    match pool {
        None => {
            for t in tensors.iter_mut() {
                update(t.param, t.grad, t.momentum, c, cfg.nesterov);
            }
        }
        Some(pool) => pool.install(|| {
            for t in tensors.iter_mut() {
                if t.len() >= 2 * CHUNK {
                    update_parallel(t, c, cfg.nesterov);
                } else {
                    update(t.param, t.grad, t.momentum, c, cfg.nesterov);
                }
            }
        }),
    }
    Ok(())
}

/// Apply one SGDM update to every tensor, in place: [`check_step`] then [`apply_step`], so that
/// on error no element has been written. Results do not depend on the thread count.
pub fn fused_step<T: Float>(tensors: &mut [Tensor<'_, T>], cfg: &StepConfig) -> Result<(), SgdmError> {
    check_step(tensors, cfg)?;
    apply_step(tensors, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(variant: Variant, nesterov: bool, weight_decay: f64) -> StepConfig {
        StepConfig {
            lr: 0.1,
            momentum: 0.9,
            variant,
            nesterov,
            weight_decay,
            check_finite: false,
        }
    }

    /// The textbook recursion, one scalar at a time, in f64.
    fn recursion(theta0: f64, grads: &[f64], c: &StepConfig) -> f64 {
        let (mut theta, mut m) = (theta0, 0.0);
        for &g in grads {
            let d = if c.weight_decay != 0.0 { g + c.weight_decay * theta } else { g };
            m = match c.variant {
                Variant::Shb => c.momentum * m + d,
                Variant::Nshb => c.momentum * m + (1.0 - c.momentum) * d,
            };
            let u = if c.nesterov { d + c.momentum * m } else { m };
            theta -= c.lr * u;
        }
        theta
    }

    fn run(theta0: f64, grads: &[f64], c: &StepConfig) -> Result<f64, SgdmError> {
        let (mut p, mut m) = ([theta0], [0.0]);
        for &g in grads {
            fused_step(
                &mut [Tensor { param: &mut p, grad: &[g], momentum: &mut m }],
                c,
            )?;
        }
        Ok(p[0])
    }

    #[test]
    fn every_variant_matches_the_recursion() -> Result<(), SgdmError> {
        let grads = [1.0, -0.5, 0.25, 2.0, 0.0, -1.5];
        for c in [
            cfg(Variant::Shb, false, 0.0),
            cfg(Variant::Nshb, false, 0.0),
            cfg(Variant::Shb, true, 0.0),
            cfg(Variant::Shb, false, 0.01),
            cfg(Variant::Shb, true, 0.01),
            cfg(Variant::Nshb, false, 0.01),
        ] {
            assert_eq!(run(0.3, &grads, &c)?, recursion(0.3, &grads, &c), "{c:?}");
        }
        Ok(())
    }

    #[test]
    fn first_shb_step_is_plain_sgd() -> Result<(), SgdmError> {
        // m_{-1} = 0, so m_0 = g_0 and θ_1 = θ_0 − η g_0.
        assert_eq!(run(1.0, &[2.0], &cfg(Variant::Shb, false, 0.0))?, 1.0 - 0.1 * 2.0);
        Ok(())
    }

    #[test]
    fn nshb_equals_shb_with_scaled_lr() -> Result<(), SgdmError> {
        // Powers of two keep every product exact, so the identity holds bit for bit.
        let grads = [1.0, -0.5, 0.25, 2.0];
        let mut nshb = cfg(Variant::Nshb, false, 0.0);
        nshb.momentum = 0.75;
        nshb.lr = 0.5;
        let mut shb = nshb;
        shb.variant = Variant::Shb;
        shb.lr = nshb.lr * (1.0 - nshb.momentum);
        assert_eq!(run(0.0, &grads, &nshb)?, run(0.0, &grads, &shb)?);
        Ok(())
    }

    #[test]
    fn parallel_and_serial_agree_bitwise() -> Result<(), SgdmError> {
        let n = PARALLEL_MIN_LEN * 2 + 12345;
        let grad: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) * 0.013).collect();
        let start: Vec<f32> = (0..n).map(|i| ((i % 31) as f32) * 0.1).collect();
        let c = cfg(Variant::Shb, true, 1e-3);
        let _guard = parallel::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut outputs = Vec::new();
        for threads in [1, 2] {
            parallel::set_num_threads(threads)?;
            let (mut p, mut m) = (start.clone(), vec![0.5f32; n]);
            for _ in 0..3 {
                fused_step(&mut [Tensor { param: &mut p, grad: &grad, momentum: &mut m }], &c)?;
            }
            outputs.push((p, m));
        }
        assert!(outputs[0] == outputs[1]);
        Ok(())
    }

    #[test]
    fn bad_settings_are_rejected_before_any_write() {
        let bad = [
            ("lr", StepConfig { lr: -1.0, ..cfg(Variant::Shb, false, 0.0) }),
            ("lr", StepConfig { lr: f64::NAN, ..cfg(Variant::Shb, false, 0.0) }),
            ("momentum", StepConfig { momentum: 1.0, ..cfg(Variant::Shb, false, 0.0) }),
            ("momentum", StepConfig { momentum: -0.1, ..cfg(Variant::Shb, false, 0.0) }),
            ("weight_decay", cfg(Variant::Shb, false, f64::INFINITY)),
            ("nesterov", cfg(Variant::Nshb, true, 0.0)),
        ];
        for (name, c) in bad {
            let (mut p, mut m) = ([1.0f64], [0.0f64]);
            let err = fused_step(&mut [Tensor { param: &mut p, grad: &[1.0], momentum: &mut m }], &c);
            match err {
                Err(SgdmError::InvalidValue { name: got, .. }) => assert_eq!(got, name),
                other => panic!("expected InvalidValue for {name}, got {other:?}"),
            }
            assert_eq!((p, m), ([1.0], [0.0]));
        }
    }

    #[test]
    fn length_mismatch_names_the_tensor() {
        let (mut p0, mut m0, mut p1, mut m1) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 3], [0.0f32; 3]);
        let err = fused_step(
            &mut [
                Tensor { param: &mut p0, grad: &[1.0, 1.0], momentum: &mut m0 },
                Tensor { param: &mut p1, grad: &[1.0, 1.0], momentum: &mut m1 },
            ],
            &cfg(Variant::Shb, false, 0.0),
        );
        assert!(matches!(err, Err(SgdmError::LengthMismatch { index: 1, param: 3, grad: 2, .. })));
        assert_eq!(p0, [0.0; 2]);
    }

    #[test]
    fn non_finite_gradients_are_refused_when_checked() {
        let mut c = cfg(Variant::Shb, false, 0.0);
        c.check_finite = true;
        let (mut p0, mut m0, mut p1, mut m1) = ([0.0f64], [0.0f64], [0.0f64], [0.0f64]);
        let err = fused_step(
            &mut [
                Tensor { param: &mut p0, grad: &[1.0], momentum: &mut m0 },
                Tensor { param: &mut p1, grad: &[f64::NAN], momentum: &mut m1 },
            ],
            &c,
        );
        assert_eq!(err, Err(SgdmError::NonFiniteGradient { index: 1 }));
        assert_eq!((p0, m0), ([0.0], [0.0]));
    }

    #[test]
    fn empty_tensors_are_a_no_op() -> Result<(), SgdmError> {
        let (mut p, mut m): ([f32; 0], [f32; 0]) = ([], []);
        fused_step(&mut [Tensor { param: &mut p, grad: &[], momentum: &mut m }], &cfg(Variant::Shb, false, 0.0))?;
        fused_step::<f32>(&mut [], &cfg(Variant::Shb, false, 0.0))
    }
}
