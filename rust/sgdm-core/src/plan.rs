//! The run plan: the whole layout of a run in closed form (PAPER.md §1, §6).
//!
//! Given n samples, E epochs, a batch-size schedule and a learning-rate schedule:
//! - per epoch: b_e = min(batch(e), n), S_e = ⌈n / b_e⌉ steps, the epoch's first global step;
//! - per step: its epoch, its learning rate η_t, its actual batch size |B_t| (b_e, except the
//!   last, partial batch of an epoch: n − (S_e − 1) b_e);
//! - running sums (derived on demand) of the schedule-only quantities of PAPER.md §6, inclusive of step t:
//!   B_t = Σ η_s, W_t = Σ η_s / |B_s|, V_t = Σ η_s² / |B_s| (the partial batch counts with its
//!   actual size, as in the SFO);
//! - totals T = Σ S_e and SFO = Σ |B_t| = E·n.

use crate::error::SgdmError;
use crate::schedule::{BatchSchedule, Horizon, LrSchedule};

/// Refuse layouts beyond this many steps (about 16 GB of per-step arrays).
pub const MAX_TOTAL_STEPS: u64 = 1 << 28;

/// The laid-out run. Integer arrays are i64 (NumPy's int64).
///
/// [`Plan::build`] computes the per-epoch arrays and the per-step learning rates; the other
/// per-step arrays are derived on demand ([`Plan::epoch_of_step`],
/// [`Plan::batch_size_of_step`], [`Plan::running_sums`]) so that a caller that does not need
/// them does not pay for writing them (fresh memory costs page faults).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub n_samples: u64,
    pub epochs: u64,
    pub total_steps: u64,
    pub sfo: u64,
    pub batch_sizes: Vec<i64>,
    pub steps_per_epoch: Vec<i64>,
    pub epoch_starts: Vec<i64>,
    pub learning_rates: Vec<f64>,
    /// The learning-rate schedule with its run lengths filled in.
    pub lr: LrSchedule,
    /// The batch-size schedule with its run length filled in.
    pub batch: BatchSchedule,
}

impl Plan {
    /// Lay out a run; errors name the offending argument.
    pub fn build(
        n_samples: u64,
        epochs: u64,
        batch: &BatchSchedule,
        lr: &LrSchedule,
    ) -> Result<Plan, SgdmError> {
        if n_samples == 0 {
            return Err(SgdmError::invalid("n_samples", n_samples, "an integer >= 1"));
        }
        if epochs == 0 {
            return Err(SgdmError::invalid("epochs", epochs, "an integer >= 1"));
        }
        if n_samples > i64::MAX as u64 / epochs.max(1) {
            return Err(SgdmError::invalid("n_samples", n_samples, "n_samples * epochs < 2^63"));
        }
        // Every epoch has at least one step: refuse before reserving per-epoch arrays.
        if epochs > MAX_TOTAL_STEPS {
            return Err(SgdmError::invalid(
                "epochs",
                epochs,
                &format!("at most {MAX_TOTAL_STEPS} (every epoch takes at least one step)"),
            ));
        }
        batch.validate()?;
        lr.validate()?;
        let batch = batch.resolve(Some(epochs))?;
        batch.check_ready()?;

        let e_len = usize::try_from(epochs)
            .map_err(|_| SgdmError::invalid("epochs", epochs, "an integer that fits in memory"))?;
        let mut batch_sizes = Vec::with_capacity(e_len);
        let mut steps_per_epoch = Vec::with_capacity(e_len);
        let mut bounds: Vec<u64> = Vec::with_capacity(e_len + 1);
        let mut total: u64 = 0;
        for e in 0..epochs {
            let b = batch.size(e).min(n_samples);
            let s = n_samples.div_ceil(b);
            bounds.push(total);
            batch_sizes.push(b as i64);
            steps_per_epoch.push(s as i64);
            total += s;
            if total > MAX_TOTAL_STEPS {
                return Err(SgdmError::invalid(
                    "batch_size",
                    format!("a schedule giving more than {MAX_TOTAL_STEPS} steps"),
                    "fewer steps (larger batches or fewer epochs)",
                ));
            }
        }
        bounds.push(total);

        let lr = lr.resolve(&Horizon { epochs: Some(epochs), epoch_bounds: Some(&bounds) })?;
        lr.check_ready()?;

        let t_len = total as usize;
        let mut learning_rates = vec![0.0f64; t_len];
        for e in 0..epochs {
            let ei = e as usize;
            let (start, s) = (bounds[ei] as usize, steps_per_epoch[ei] as usize);
            lr.fill_epoch(start as u64, e, &mut learning_rates[start..start + s]);
        }

        bounds.pop();
        Ok(Plan {
            n_samples,
            epochs,
            total_steps: total,
            sfo: n_samples * epochs,
            batch_sizes,
            steps_per_epoch,
            epoch_starts: bounds.into_iter().map(|x| x as i64).collect(),
            learning_rates,
            lr,
            batch,
        })
    }
}

impl Plan {
    /// The epoch of every global step.
    pub fn epoch_of_step(&self) -> Vec<i64> {
        expand_epochs(&self.steps_per_epoch)
    }

    /// The actual batch size |B_t| of every step (the last batch of an epoch may be partial).
    pub fn batch_size_of_step(&self) -> Vec<i64> {
        expand_batches(self.n_samples as i64, &self.batch_sizes, &self.steps_per_epoch)
    }

    /// The running sums (Σ η, Σ η/|B|, Σ η²/|B|), inclusive of each step.
    pub fn running_sums(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        sums(&self.learning_rates, &self.batch_size_of_step())
    }
}

/// Σ steps_per_epoch, refusing negative counts and layouts beyond [`MAX_TOTAL_STEPS`] (the sum
/// sizes the output arrays: an unchecked one could overflow or exhaust memory).
fn checked_total(steps_per_epoch: &[i64]) -> Result<usize, SgdmError> {
    let mut total: u64 = 0;
    for (e, &s) in steps_per_epoch.iter().enumerate() {
        let s = u64::try_from(s)
            .map_err(|_| SgdmError::invalid(&format!("steps_per_epoch[{e}]"), s, "an integer >= 0"))?;
        total = total.saturating_add(s);
        if total > MAX_TOTAL_STEPS {
            return Err(SgdmError::invalid(
                "steps_per_epoch",
                format!("a layout of more than {MAX_TOTAL_STEPS} steps"),
                &format!("at most {MAX_TOTAL_STEPS} steps in all"),
            ));
        }
    }
    Ok(total as usize)
}

/// The epoch of every step, from the steps of each epoch (counts >= 0, at most
/// [`MAX_TOTAL_STEPS`] in all).
pub fn epoch_of_step(steps_per_epoch: &[i64]) -> Result<Vec<i64>, SgdmError> {
    checked_total(steps_per_epoch)?;
    Ok(expand_epochs(steps_per_epoch))
}

fn expand_epochs(steps_per_epoch: &[i64]) -> Vec<i64> {
    let total: i64 = steps_per_epoch.iter().sum();
    let mut out = Vec::with_capacity(total.max(0) as usize);
    for (e, &s) in steps_per_epoch.iter().enumerate() {
        out.extend(std::iter::repeat_n(e as i64, s.max(0) as usize));
    }
    out
}

/// |B_t| for every step: b_e, and n − (S_e − 1) b_e on the last step of each epoch. The layout
/// must be one a plan gives: one batch size per epoch, b_e >= 1, and a last batch of 1..=b_e
/// samples (S_e = ⌈n / b_e⌉) in every epoch that has steps.
pub fn batch_size_of_step(
    n_samples: i64,
    batch_sizes: &[i64],
    steps_per_epoch: &[i64],
) -> Result<Vec<i64>, SgdmError> {
    if batch_sizes.len() != steps_per_epoch.len() {
        return Err(SgdmError::invalid(
            "batch_sizes",
            format!("an array of length {}", batch_sizes.len()),
            &format!("one batch size per epoch ({})", steps_per_epoch.len()),
        ));
    }
    checked_total(steps_per_epoch)?;
    for (e, (&b, &s)) in batch_sizes.iter().zip(steps_per_epoch).enumerate() {
        if b < 1 {
            return Err(SgdmError::invalid(&format!("batch_sizes[{e}]"), b, "an integer >= 1"));
        }
        let last = (s - 1).checked_mul(b).and_then(|full| n_samples.checked_sub(full));
        if s > 0 && !last.is_some_and(|l| (1..=b).contains(&l)) {
            return Err(SgdmError::invalid(
                &format!("steps_per_epoch[{e}]"),
                s,
                &format!("ceil(n_samples / batch_sizes[{e}]) with n_samples = {n_samples}, batch size {b}"),
            ));
        }
    }
    Ok(expand_batches(n_samples, batch_sizes, steps_per_epoch))
}

fn expand_batches(n_samples: i64, batch_sizes: &[i64], steps_per_epoch: &[i64]) -> Vec<i64> {
    let total: i64 = steps_per_epoch.iter().sum();
    let mut out = Vec::with_capacity(total.max(0) as usize);
    for (&b, &s) in batch_sizes.iter().zip(steps_per_epoch) {
        if s <= 0 {
            continue;
        }
        out.extend(std::iter::repeat_n(b, (s - 1) as usize));
        out.push(n_samples - (s - 1) * b);
    }
    out
}

/// (Σ η, Σ η/|B|, Σ η²/|B|), one entry per step.
pub type RunningSums = (Vec<f64>, Vec<f64>, Vec<f64>);

/// Inclusive running sums of η_t, η_t/b_t and η_t²/b_t, summed in step order; one batch size
/// (>= 1) per learning rate.
pub fn running_sums(lr: &[f64], batch: &[i64]) -> Result<RunningSums, SgdmError> {
    if lr.len() != batch.len() {
        return Err(SgdmError::invalid(
            "batch_size_of_step",
            format!("an array of length {}", batch.len()),
            &format!("one batch size per learning rate ({})", lr.len()),
        ));
    }
    if let Some(t) = batch.iter().position(|&b| b < 1) {
        return Err(SgdmError::invalid(
            &format!("batch_size_of_step[{t}]"),
            batch[t],
            "an integer >= 1",
        ));
    }
    Ok(sums(lr, batch))
}

fn sums(lr: &[f64], batch: &[i64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = lr.len().min(batch.len());
    let mut s1 = Vec::with_capacity(n);
    let mut s2 = Vec::with_capacity(n);
    let mut s3 = Vec::with_capacity(n);
    let (mut a, mut w, mut v) = (0.0f64, 0.0f64, 0.0f64);
    for (&eta, &b) in lr.iter().zip(batch) {
        let b = b as f64;
        a += eta;
        w += eta / b;
        v += eta * eta / b;
        s1.push(a);
        s2.push(w);
        s3.push(v);
    }
    (s1, s2, s3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Unit;

    #[test]
    fn layout_with_partial_batches() {
        let batch = BatchSchedule::Piecewise { sizes: vec![4, 20], boundaries: vec![1] };
        let lr = LrSchedule::Linear { init_value: 1.0, total_steps: None };
        let p = Plan::build(10, 2, &batch, &lr).unwrap();
        assert_eq!(p.batch_sizes, vec![4, 10]);
        assert_eq!(p.steps_per_epoch, vec![3, 1]);
        assert_eq!(p.epoch_starts, vec![0, 3]);
        assert_eq!(p.total_steps, 4);
        assert_eq!(p.sfo, 20);
        assert_eq!(p.batch_size_of_step(), vec![4, 4, 2, 10]);
        assert_eq!(p.epoch_of_step(), vec![0, 0, 0, 1]);
        assert_eq!(p.learning_rates, vec![1.0, 0.75, 0.5, 0.25]);
        let (a, w, v) = p.running_sums();
        assert_eq!(a[3], 2.5);
        let want = 1.0 / 4.0 + 0.75 / 4.0 + 0.5 / 2.0 + 0.25 / 10.0;
        assert!((w[3] - want).abs() < 1e-15);
        assert!((v[0] - 0.25).abs() < 1e-15);
    }

    #[test]
    fn paper_largest_setting() {
        let batch = BatchSchedule::ExpGrowth {
            init_size: 8,
            growth_rate: 2.0,
            interval: 30,
            max_size: None,
            epochs: None,
        };
        let lr = LrSchedule::Cosine { init_value: 0.1, min_value: 0.0, epochs: None };
        let p = Plan::build(50_000, 300, &batch, &lr).unwrap();
        let expect: u64 = (0..10).map(|k| 30 * 50_000u64.div_ceil(8 << k)).sum();
        assert_eq!(p.total_steps, expect);
        assert_eq!(p.learning_rates.len() as u64, expect);
        assert_eq!(p.sfo, 15_000_000);
    }

    #[test]
    fn degenerate_settings() {
        let p = Plan::build(5, 1, &BatchSchedule::Constant { size: 100 }, &LrSchedule::Constant { value: 0.1 })
            .unwrap();
        assert_eq!(p.batch_sizes, vec![5]);
        assert_eq!(p.total_steps, 1);
        assert_eq!(p.batch_size_of_step(), vec![5]);
        let err = Plan::build(5, 0, &BatchSchedule::Constant { size: 1 }, &LrSchedule::Constant { value: 0.1 })
            .unwrap_err();
        assert!(err.to_string().starts_with("epochs = 0"));
        let w = LrSchedule::WarmupConstant {
            init_value: 0.1,
            warmup_epochs: 5,
            warmup_interval: 1,
            max_value: Some(1.0),
            growth_rate: None,
        };
        assert!(Plan::build(5, 3, &BatchSchedule::Constant { size: 1 }, &w).is_err());
        let j = LrSchedule::join(
            vec![LrSchedule::Constant { value: 0.1 }, LrSchedule::Diminishing { init_value: 0.1 }],
            vec![2],
            Unit::Step,
        );
        let p = Plan::build(4, 2, &BatchSchedule::Constant { size: 1 }, &j).unwrap();
        assert_eq!(p.learning_rates[2], 0.1);
        assert_eq!(p.learning_rates[5], 0.05);
    }
}
