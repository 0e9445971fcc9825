//! Learning-rate and batch-size schedules as pure functions of an explicit clock.
//!
//! A clock is the pair (global step `t`, epoch `e`) of PAPER.md §1. A schedule never keeps state:
//! [`LrSchedule::value`] at a clock value gives the same answer whether or not earlier values were
//! evaluated, so a resumed run just evaluates the closed form at its saved clock.
//!
//! - Epoch-type schedules read only `e` and change at epoch boundaries; step-type schedules read
//!   only `t` and change every step (PAPER.md §4). The common families (step decay, ...) take a
//!   [`Unit`] saying which of the two they count.
//! - Some families need the run's length (`epochs` for cosine, `total_steps` for linear and
//!   polynomial, ...). They take it at construction or get it filled in by
//!   [`LrSchedule::resolve`] against the run layout when a plan is built; a field given
//!   explicitly is never overwritten. Evaluating a schedule whose length is still unknown is an
//!   error reported by [`LrSchedule::check_ready`], never a silent guess.
//! - A [`LrSchedule::Join`] runs its pieces one after the other; each piece counts its clock
//!   from its own start (optax's `join_schedules`).
//!
//! Batch sizes ([`BatchSchedule`], PAPER.md §3) are functions of the epoch only.

use rayon::prelude::*;

use crate::error::SgdmError;
use crate::parallel;

/// Arrays at least this long are evaluated across the worker pool.
pub const PARALLEL_MIN_LEN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

/// Which clock a schedule counts: global steps or epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Step,
    Epoch,
}

impl Unit {
    pub fn parse(name: &str, value: &str) -> Result<Unit, SgdmError> {
        match value {
            "step" => Ok(Unit::Step),
            "epoch" => Ok(Unit::Epoch),
            other => Err(SgdmError::invalid(name, format!("{other:?}"), "'step' or 'epoch'")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Step => "step",
            Unit::Epoch => "epoch",
        }
    }

    #[inline]
    fn pick(self, t: u64, e: u64) -> u64 {
        match self {
            Unit::Step => t,
            Unit::Epoch => e,
        }
    }
}

/// What a schedule can learn about the run it is part of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Horizon<'a> {
    /// Number of epochs of the run (or of the phase).
    pub epochs: Option<u64>,
    /// First global step of every epoch, plus the total number of steps as last element
    /// (length `epochs + 1`), relative to the start of the run (or phase).
    pub epoch_bounds: Option<&'a [u64]>,
}

impl Horizon<'_> {
    pub fn total_steps(&self) -> Option<u64> {
        self.epoch_bounds.and_then(|b| b.last().copied())
    }
}

/// A finite number >= 0.
fn check_nonneg(name: &str, x: f64) -> Result<(), SgdmError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(SgdmError::invalid(name, x, "a finite number >= 0"))
    }
}

/// A finite number > 0.
fn check_pos(name: &str, x: f64) -> Result<(), SgdmError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(SgdmError::invalid(name, x, "a finite number > 0"))
    }
}

fn check_pos_int(name: &str, x: u64) -> Result<(), SgdmError> {
    if x >= 1 {
        Ok(())
    } else {
        Err(SgdmError::invalid(name, x, "an integer >= 1"))
    }
}

fn check_opt_pos_int(name: &str, x: Option<u64>) -> Result<(), SgdmError> {
    x.map_or(Ok(()), |x| check_pos_int(name, x))
}

fn need(value: Option<u64>, name: &str, family: &str) -> Result<u64, SgdmError> {
    value.ok_or_else(|| {
        SgdmError::invalid(
            name,
            "None",
            &format!(
                "an integer >= 1: the {family} schedule needs the run's {name}; pass it, or \
                 build a Plan, which fills it in"
            ),
        )
    })
}

fn check_increasing(name: &str, xs: &[u64], min_first: u64) -> Result<(), SgdmError> {
    let mut prev: Option<u64> = None;
    for &x in xs {
        let ok = match prev {
            None => x >= min_first,
            Some(p) => x > p,
        };
        if !ok {
            return Err(SgdmError::invalid(
                name,
                format!("{xs:?}"),
                &format!("strictly increasing integers >= {min_first}"),
            ));
        }
        prev = Some(x);
    }
    Ok(())
}

/// ⌈x⌉, except that a value within 1e-9 (relative) of an integer rounds to it, so that
/// floating-point noise such as 10·1.1 = 11.000000000000002 does not add a whole sample.
pub fn ceil_tol(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        x.ceil()
    }
}

/// x^p, with the common integer powers computed exactly by multiplication (x² for p = 2, as
/// NumPy does) and the general case by `powf`.
#[inline]
pub fn pow_p(x: f64, p: f64) -> f64 {
    if p == 2.0 {
        x * x
    } else if p == 1.0 {
        x
    } else if p.fract() == 0.0 && (0.0..=64.0).contains(&p) {
        x.powi(p as i32)
    } else {
        x.powf(p)
    }
}

/// η_0 · factor, where a zero η_0 stays 0 even once a growth factor (rate > 1) overflows to
/// infinity (0 · ∞ would be NaN).
#[inline]
fn scaled(init: f64, factor: f64) -> f64 {
    if init == 0.0 {
        0.0
    } else {
        init * factor
    }
}

/// (1 + cos(π r)) / 2 for r in [0, 1].
#[inline]
fn half_cos(r: f64) -> f64 {
    0.5 * (1.0 + (std::f64::consts::PI * r).cos())
}

/// The three exponential-growth forms of PAPER.md §4 at stage `k`, for a run of `stages_exp`
/// = (E − E_inc) / E_inc growth steps. Used by the LR growth and the warm-up.
fn exp_growth(init: f64, k: u64, max: Option<f64>, rate: Option<f64>, stages_exp: f64) -> f64 {
    if k == 0 {
        return init;
    }
    let k = k as f64;
    match (max, rate) {
        (Some(max), None) => {
            let gamma = (max / init).powf(1.0 / stages_exp);
            (init * gamma.powf(k)).min(max)
        }
        (None, Some(rate)) => init * rate.powf(k),
        (Some(max), Some(rate)) => {
            let denom = rate.powf(stages_exp) - 1.0;
            if denom == 0.0 || !denom.is_finite() {
                return init.min(max);
            }
            let a = (max - init) / denom;
            let c = init - a;
            (a * rate.powf(k) + c).min(max)
        }
        (None, None) => init,
    }
}

/// A learning-rate schedule (PAPER.md §4 and the common families).
#[derive(Debug, Clone, PartialEq)]
pub enum LrSchedule {
    /// η = `value` (epoch).
    Constant { value: f64 },
    /// η_t = η_0 / √(t+1) (step).
    Diminishing { init_value: f64 },
    /// η_e = η_min + (η_0 − η_min)(1 + cos(π min(e,E)/E))/2 (epoch).
    Cosine { init_value: f64, min_value: f64, epochs: Option<u64> },
    /// η_t = η_0 (1 − min(t,T)/T) (step).
    Linear { init_value: f64, total_steps: Option<u64> },
    /// η_t = η_0 (1 − min(t,T)/T)^p (step).
    Polynomial { init_value: f64, power: f64, total_steps: Option<u64> },
    /// Exponential growth every `interval` epochs, three forms (epoch), strategy (iii).
    ExpGrowth {
        init_value: f64,
        interval: u64,
        max_value: Option<f64>,
        growth_rate: Option<f64>,
        epochs: Option<u64>,
    },
    /// Exponential warm-up over `warmup_epochs`, growing every `warmup_interval`, then constant.
    WarmupConstant {
        init_value: f64,
        warmup_epochs: u64,
        warmup_interval: u64,
        max_value: Option<f64>,
        growth_rate: Option<f64>,
    },
    /// The same warm-up, then cosine from the peak to `min_value` at epoch `epochs`.
    WarmupCosine {
        init_value: f64,
        warmup_epochs: u64,
        warmup_interval: u64,
        max_value: Option<f64>,
        growth_rate: Option<f64>,
        min_value: f64,
        epochs: Option<u64>,
    },
    /// η = η_0 r^⌊c/step_size⌋.
    StepDecay { init_value: f64, decay_rate: f64, step_size: u64, unit: Unit },
    /// η = η_0 r^(number of milestones ≤ c).
    MultiStepDecay { init_value: f64, decay_rate: f64, milestones: Vec<u64>, unit: Unit },
    /// η = η_0 r^c.
    ExponentialDecay { init_value: f64, decay_rate: f64, unit: Unit },
    /// One cycle over `total` units: cosine from peak/div_factor up to the peak over the first
    /// `pct_start` of the run, then cosine down to peak/(div_factor·final_div_factor).
    OneCycle {
        peak_value: f64,
        pct_start: f64,
        div_factor: f64,
        final_div_factor: f64,
        total: Option<u64>,
        unit: Unit,
    },
    /// SGDR: cosine from η_0 to η_min over cycles of `period`, `period·period_mult`, ... units.
    CosineRestarts { init_value: f64, min_value: f64, period: u64, period_mult: f64, unit: Unit },
    /// Pieces one after the other; piece i runs from `boundaries[i-1]` (in `unit`) to
    /// `boundaries[i]` and sees the clock counted from its own start.
    Join {
        pieces: Vec<LrSchedule>,
        boundaries: Vec<u64>,
        unit: Unit,
        /// (step offset, epoch offset) of each piece's start, as far as known: the offset in
        /// `unit` is the boundary; the other one needs the run layout (filled by `resolve`).
        offsets: Vec<(Option<u64>, Option<u64>)>,
    },
}

impl LrSchedule {
    /// Build a join, computing the offsets known from the boundaries alone.
    pub fn join(pieces: Vec<LrSchedule>, boundaries: Vec<u64>, unit: Unit) -> LrSchedule {
        let mut offsets = vec![(Some(0), Some(0))];
        for &b in &boundaries {
            offsets.push(match unit {
                Unit::Step => (Some(b), None),
                Unit::Epoch => (None, Some(b)),
            });
        }
        LrSchedule::Join { pieces, boundaries, unit, offsets }
    }

    /// The family's name as used in specs (`"cosine"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            LrSchedule::Constant { .. } => "constant",
            LrSchedule::Diminishing { .. } => "diminishing",
            LrSchedule::Cosine { .. } => "cosine",
            LrSchedule::Linear { .. } => "linear",
            LrSchedule::Polynomial { .. } => "polynomial",
            LrSchedule::ExpGrowth { .. } => "exp_growth",
            LrSchedule::WarmupConstant { .. } => "warmup_constant",
            LrSchedule::WarmupCosine { .. } => "warmup_cosine",
            LrSchedule::StepDecay { .. } => "step_decay",
            LrSchedule::MultiStepDecay { .. } => "multi_step_decay",
            LrSchedule::ExponentialDecay { .. } => "exponential_decay",
            LrSchedule::OneCycle { .. } => "one_cycle",
            LrSchedule::CosineRestarts { .. } => "cosine_restarts",
            LrSchedule::Join { .. } => "join",
        }
    }

    /// Whether the value can change within an epoch (reads the step clock).
    pub fn uses_step(&self) -> bool {
        self.reads(Unit::Step)
    }

    /// Whether the value reads the epoch clock.
    pub fn uses_epoch(&self) -> bool {
        self.reads(Unit::Epoch)
    }

    /// Whether the value reads `clock`: the step-type families the step, a constant neither,
    /// a family with a `unit` that unit, a `Join` its boundaries' unit and whatever its pieces
    /// read, and the epoch-type families the epoch.
    fn reads(&self, clock: Unit) -> bool {
        match self {
            LrSchedule::Diminishing { .. }
            | LrSchedule::Linear { .. }
            | LrSchedule::Polynomial { .. } => clock == Unit::Step,
            LrSchedule::Constant { .. } => false,
            LrSchedule::StepDecay { unit, .. }
            | LrSchedule::MultiStepDecay { unit, .. }
            | LrSchedule::ExponentialDecay { unit, .. }
            | LrSchedule::OneCycle { unit, .. }
            | LrSchedule::CosineRestarts { unit, .. } => *unit == clock,
            LrSchedule::Join { pieces, unit, .. } => {
                *unit == clock || pieces.iter().any(|piece| piece.reads(clock))
            }
            _ => clock == Unit::Epoch,
        }
    }

    /// Check every setting that does not depend on the run; errors name the field.
    pub fn validate(&self) -> Result<(), SgdmError> {
        match self {
            LrSchedule::Constant { value } => check_nonneg("value", *value),
            LrSchedule::Diminishing { init_value } => check_nonneg("init_value", *init_value),
            LrSchedule::Cosine { init_value, min_value, epochs } => {
                check_nonneg("init_value", *init_value)?;
                check_nonneg("min_value", *min_value)?;
                check_opt_pos_int("epochs", *epochs)
            }
            LrSchedule::Linear { init_value, total_steps } => {
                check_nonneg("init_value", *init_value)?;
                check_opt_pos_int("total_steps", *total_steps)
            }
            LrSchedule::Polynomial { init_value, power, total_steps } => {
                check_nonneg("init_value", *init_value)?;
                check_nonneg("power", *power)?;
                check_opt_pos_int("total_steps", *total_steps)
            }
            LrSchedule::ExpGrowth { init_value, interval, max_value, growth_rate, epochs } => {
                check_pos("init_value", *init_value)?;
                check_pos_int("interval", *interval)?;
                check_growth(*init_value, *max_value, *growth_rate, "max_value", "growth_rate")?;
                check_opt_pos_int("epochs", *epochs)?;
                if let Some(e) = epochs {
                    if max_value.is_some() && *e < *interval {
                        return Err(SgdmError::invalid(
                            "interval",
                            interval,
                            &format!("an integer <= epochs = {e}"),
                        ));
                    }
                }
                Ok(())
            }
            LrSchedule::WarmupConstant {
                init_value,
                warmup_epochs,
                warmup_interval,
                max_value,
                growth_rate,
            } => check_warmup(*init_value, *warmup_epochs, *warmup_interval, *max_value, *growth_rate),
            LrSchedule::WarmupCosine {
                init_value,
                warmup_epochs,
                warmup_interval,
                max_value,
                growth_rate,
                min_value,
                epochs,
            } => {
                check_warmup(*init_value, *warmup_epochs, *warmup_interval, *max_value, *growth_rate)?;
                check_nonneg("min_value", *min_value)?;
                check_opt_pos_int("epochs", *epochs)?;
                check_warmup_fits(*warmup_epochs, *epochs)
            }
            LrSchedule::StepDecay { init_value, decay_rate, step_size, .. } => {
                check_nonneg("init_value", *init_value)?;
                check_pos("decay_rate", *decay_rate)?;
                check_pos_int("step_size", *step_size)
            }
            LrSchedule::MultiStepDecay { init_value, decay_rate, milestones, .. } => {
                check_nonneg("init_value", *init_value)?;
                check_pos("decay_rate", *decay_rate)?;
                check_increasing("milestones", milestones, 1)
            }
            LrSchedule::ExponentialDecay { init_value, decay_rate, .. } => {
                check_nonneg("init_value", *init_value)?;
                check_pos("decay_rate", *decay_rate)
            }
            LrSchedule::OneCycle { peak_value, pct_start, div_factor, final_div_factor, total, .. } => {
                check_nonneg("peak_value", *peak_value)?;
                if !(*pct_start > 0.0 && *pct_start < 1.0) {
                    return Err(SgdmError::invalid("pct_start", pct_start, "a number in (0, 1)"));
                }
                if !(div_factor.is_finite() && *div_factor >= 1.0) {
                    return Err(SgdmError::invalid("div_factor", div_factor, "a finite number >= 1"));
                }
                if !(final_div_factor.is_finite() && *final_div_factor >= 1.0) {
                    return Err(SgdmError::invalid(
                        "final_div_factor",
                        final_div_factor,
                        "a finite number >= 1",
                    ));
                }
                check_opt_pos_int("total", *total)
            }
            LrSchedule::CosineRestarts { init_value, min_value, period, period_mult, .. } => {
                check_nonneg("init_value", *init_value)?;
                check_nonneg("min_value", *min_value)?;
                check_pos_int("period", *period)?;
                if !(period_mult.is_finite() && *period_mult >= 1.0) {
                    return Err(SgdmError::invalid("period_mult", period_mult, "a finite number >= 1"));
                }
                Ok(())
            }
            LrSchedule::Join { pieces, boundaries, offsets, .. } => {
                if pieces.is_empty() {
                    return Err(SgdmError::invalid("pieces", "[]", "at least one schedule"));
                }
                if boundaries.len() + 1 != pieces.len() {
                    return Err(SgdmError::invalid(
                        "boundaries",
                        format!("{boundaries:?}"),
                        &format!("{} boundaries (one fewer than the pieces)", pieces.len() - 1),
                    ));
                }
                if offsets.len() != pieces.len() {
                    return Err(SgdmError::invalid("offsets", offsets.len(), "one per piece"));
                }
                check_increasing("boundaries", boundaries, 1)?;
                pieces.iter().try_for_each(LrSchedule::validate)
            }
        }
    }

    /// Fill in the run-length fields still unknown from `h`, recursively; explicit fields win.
    /// The result is validated again (e.g. a warm-up longer than the run is refused here).
    pub fn resolve(&self, h: &Horizon<'_>) -> Result<LrSchedule, SgdmError> {
        // Resolving walks the pieces of a join by their offsets: check the shape first.
        self.validate()?;
        let fill = |x: &Option<u64>, y: Option<u64>| x.or(y);
        let out = match self {
            LrSchedule::Cosine { init_value, min_value, epochs } => LrSchedule::Cosine {
                init_value: *init_value,
                min_value: *min_value,
                epochs: fill(epochs, h.epochs),
            },
            LrSchedule::Linear { init_value, total_steps } => LrSchedule::Linear {
                init_value: *init_value,
                total_steps: fill(total_steps, h.total_steps()),
            },
            LrSchedule::Polynomial { init_value, power, total_steps } => LrSchedule::Polynomial {
                init_value: *init_value,
                power: *power,
                total_steps: fill(total_steps, h.total_steps()),
            },
            LrSchedule::ExpGrowth { init_value, interval, max_value, growth_rate, epochs } => {
                LrSchedule::ExpGrowth {
                    init_value: *init_value,
                    interval: *interval,
                    max_value: *max_value,
                    growth_rate: *growth_rate,
                    epochs: fill(epochs, h.epochs),
                }
            }
            LrSchedule::WarmupConstant { warmup_epochs, .. } => {
                check_warmup_fits(*warmup_epochs, h.epochs)?;
                self.clone()
            }
            LrSchedule::WarmupCosine {
                init_value,
                warmup_epochs,
                warmup_interval,
                max_value,
                growth_rate,
                min_value,
                epochs,
            } => LrSchedule::WarmupCosine {
                init_value: *init_value,
                warmup_epochs: *warmup_epochs,
                warmup_interval: *warmup_interval,
                max_value: *max_value,
                growth_rate: *growth_rate,
                min_value: *min_value,
                epochs: fill(epochs, h.epochs),
            },
            LrSchedule::OneCycle { peak_value, pct_start, div_factor, final_div_factor, total, unit } => {
                let run = match unit {
                    Unit::Step => h.total_steps(),
                    Unit::Epoch => h.epochs,
                };
                LrSchedule::OneCycle {
                    peak_value: *peak_value,
                    pct_start: *pct_start,
                    div_factor: *div_factor,
                    final_div_factor: *final_div_factor,
                    total: fill(total, run),
                    unit: *unit,
                }
            }
            LrSchedule::Join { pieces, boundaries, unit, offsets } => {
                resolve_join(pieces, boundaries, *unit, offsets, h)?
            }
            _ => self.clone(),
        };
        out.validate()?;
        Ok(out)
    }

    /// Error unless every length the schedule needs is known (see [`LrSchedule::resolve`]).
    pub fn check_ready(&self) -> Result<(), SgdmError> {
        match self {
            LrSchedule::Cosine { epochs, .. } => need(*epochs, "epochs", "cosine").map(drop),
            LrSchedule::Linear { total_steps, .. } => {
                need(*total_steps, "total_steps", "linear").map(drop)
            }
            LrSchedule::Polynomial { total_steps, .. } => {
                need(*total_steps, "total_steps", "polynomial").map(drop)
            }
            LrSchedule::ExpGrowth { max_value: Some(_), epochs, .. } => {
                need(*epochs, "epochs", "exp_growth (with max_value)").map(drop)
            }
            LrSchedule::WarmupCosine { epochs, .. } => {
                need(*epochs, "epochs", "warmup_cosine").map(drop)
            }
            LrSchedule::OneCycle { total, .. } => need(*total, "total", "one_cycle").map(drop),
            LrSchedule::Join { pieces, offsets, .. } => {
                for (i, (piece, (toff, eoff))) in pieces.iter().zip(offsets).enumerate() {
                    if (toff.is_none() && piece.uses_step()) || (eoff.is_none() && piece.uses_epoch()) {
                        return Err(SgdmError::invalid(
                            &format!("pieces[{i}]"),
                            piece.kind(),
                            "a piece whose start is known in the clock it counts: this join \
                             needs the run layout to place it; build a Plan",
                        ));
                    }
                    piece.check_ready()?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The learning rate at global step `t` in epoch `e`. Call [`LrSchedule::check_ready`]
    /// once first; a length still unknown is treated as 1.
    pub fn value(&self, t: u64, e: u64) -> f64 {
        match self {
            LrSchedule::Constant { value } => *value,
            LrSchedule::Diminishing { init_value } => init_value / ((t as f64) + 1.0).sqrt(),
            LrSchedule::Cosine { init_value, min_value, epochs } => {
                let big_e = epochs.unwrap_or(1);
                let r = e.min(big_e) as f64 / big_e as f64;
                min_value + (init_value - min_value) * half_cos(r)
            }
            LrSchedule::Linear { init_value, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                init_value * (1.0 - t.min(big_t) as f64 / big_t as f64)
            }
            LrSchedule::Polynomial { init_value, power, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                init_value * pow_p(1.0 - t.min(big_t) as f64 / big_t as f64, *power)
            }
            LrSchedule::ExpGrowth { init_value, interval, max_value, growth_rate, epochs } => {
                let big_e = epochs.unwrap_or(*interval);
                let stages = big_e.saturating_sub(*interval) as f64 / *interval as f64;
                exp_growth(*init_value, e / interval, *max_value, *growth_rate, stages)
            }
            LrSchedule::WarmupConstant {
                init_value,
                warmup_epochs,
                warmup_interval,
                max_value,
                growth_rate,
            } => {
                if e < *warmup_epochs {
                    warmup_value(*init_value, e, *warmup_epochs, *warmup_interval, *max_value, *growth_rate)
                } else {
                    warmup_peak(*init_value, *warmup_epochs, *warmup_interval, *max_value, *growth_rate)
                }
            }
            LrSchedule::WarmupCosine {
                init_value,
                warmup_epochs,
                warmup_interval,
                max_value,
                growth_rate,
                min_value,
                epochs,
            } => {
                if e < *warmup_epochs {
                    warmup_value(*init_value, e, *warmup_epochs, *warmup_interval, *max_value, *growth_rate)
                } else {
                    let peak =
                        warmup_peak(*init_value, *warmup_epochs, *warmup_interval, *max_value, *growth_rate);
                    let big_e = epochs.unwrap_or(*warmup_epochs).max(*warmup_epochs);
                    let span = big_e - warmup_epochs;
                    let r = if span == 0 {
                        0.0
                    } else {
                        (e.min(big_e) - warmup_epochs) as f64 / span as f64
                    };
                    min_value + (peak - min_value) * half_cos(r)
                }
            }
            LrSchedule::StepDecay { init_value, decay_rate, step_size, unit } => {
                let c = unit.pick(t, e);
                scaled(*init_value, decay_rate.powf((c / step_size) as f64))
            }
            LrSchedule::MultiStepDecay { init_value, decay_rate, milestones, unit } => {
                let c = unit.pick(t, e);
                let n = milestones.partition_point(|&m| m <= c);
                scaled(*init_value, decay_rate.powf(n as f64))
            }
            LrSchedule::ExponentialDecay { init_value, decay_rate, unit } => {
                scaled(*init_value, decay_rate.powf(unit.pick(t, e) as f64))
            }
            LrSchedule::OneCycle { peak_value, pct_start, div_factor, final_div_factor, total, unit } => {
                let total = total.unwrap_or(1) as f64;
                let c = (unit.pick(t, e) as f64).min(total);
                let start = peak_value / div_factor;
                let end = start / final_div_factor;
                let warm = pct_start * total;
                if c < warm {
                    start + (peak_value - start) * (1.0 - half_cos(c / warm))
                } else {
                    end + (peak_value - end) * half_cos((c - warm) / (total - warm))
                }
            }
            LrSchedule::CosineRestarts { init_value, min_value, period, period_mult, unit } => {
                let c = unit.pick(t, e);
                let (pos, len) = restart_position(c, *period, *period_mult);
                min_value + (init_value - min_value) * half_cos(pos / len)
            }
            LrSchedule::Join { pieces, boundaries, unit, offsets } => {
                let c = unit.pick(t, e);
                let i = boundaries.partition_point(|&b| b <= c);
                let (toff, eoff) = offsets[i];
                let lt = t.saturating_sub(toff.unwrap_or(0));
                let le = e.saturating_sub(eoff.unwrap_or(0));
                pieces[i].value(lt, le)
            }
        }
    }

    /// Evaluate at many clock values: `out[i] = value(steps[i], epochs[i])`. Negative clock
    /// values and unknown lengths are errors; large arrays are split across the worker pool.
    pub fn values(&self, steps: &[i64], epochs: &[i64], out: &mut [f64]) -> Result<(), SgdmError> {
        if steps.len() != epochs.len() || steps.len() != out.len() {
            return Err(SgdmError::invalid(
                "epochs",
                format!("an array of length {}", epochs.len()),
                &format!("the same length as steps ({})", steps.len()),
            ));
        }
        self.check_ready()?;
        // Check and evaluate cache-sized blocks, so each clock array is read from memory once.
        let run = |base: usize, steps: &[i64], epochs: &[i64], out: &mut [f64]| {
            let blocks = steps.chunks(CHUNK).zip(epochs.chunks(CHUNK)).zip(out.chunks_mut(CHUNK));
            for (k, ((s, e), o)) in blocks.enumerate() {
                check_clock("steps", s, base + k * CHUNK)?;
                check_clock("epochs", e, base + k * CHUNK)?;
                self.eval_chunk(s, e, o);
            }
            Ok::<(), SgdmError>(())
        };
        if out.len() >= PARALLEL_MIN_LEN {
            const BLOCK: usize = 4 * CHUNK;
            let pool = parallel::pool()?;
            pool.install(|| {
                out.par_chunks_mut(BLOCK)
                    .zip(steps.par_chunks(BLOCK).zip(epochs.par_chunks(BLOCK)))
                    .enumerate()
                    .try_for_each(|(k, (o, (s, e)))| run(k * BLOCK, s, e, o))
            })?;
        } else {
            run(0, steps, epochs, out)?;
        }
        Ok(())
    }
}

impl LrSchedule {
    /// `out[i] = value(steps[i], epochs[i])` for checked clocks, with tight loops for the
    /// step-type families and, for the others, reuse of the previous value while the clock the
    /// schedule reads is unchanged (a memo within this call only: no state survives it).
    fn eval_chunk(&self, steps: &[i64], epochs: &[i64], out: &mut [f64]) {
        match self {
            LrSchedule::Diminishing { init_value } => {
                for (o, &t) in out.iter_mut().zip(steps) {
                    *o = init_value / ((t as f64) + 1.0).sqrt();
                }
            }
            // Clocks are checked >= 0, so `t as u64` is exact; T is not clamped to i64 (a
            // total_steps above 2^63 must divide by the same T as `value`).
            LrSchedule::Linear { init_value, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                let tf = big_t as f64;
                for (o, &t) in out.iter_mut().zip(steps) {
                    *o = init_value * (1.0 - (t as u64).min(big_t) as f64 / tf);
                }
            }
            LrSchedule::Polynomial { init_value, power, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                let tf = big_t as f64;
                for (o, &t) in out.iter_mut().zip(steps) {
                    *o = init_value * pow_p(1.0 - (t as u64).min(big_t) as f64 / tf, *power);
                }
            }
            _ => {
                let (us, ue) = (self.uses_step(), self.uses_epoch());
                let mut prev: Option<(i64, i64, f64)> = None;
                for ((o, &t), &e) in out.iter_mut().zip(steps).zip(epochs) {
                    let key = (if us { t } else { 0 }, if ue { e } else { 0 });
                    *o = match prev {
                        Some((pt, pe, v)) if (pt, pe) == key => v,
                        _ => {
                            let v = self.value(t as u64, e as u64);
                            prev = Some((key.0, key.1, v));
                            v
                        }
                    };
                }
            }
        }
    }

    /// Fill `out` with the values at steps `t0, t0 + 1, ...` all inside epoch `e` (the plan's
    /// inner loop). Call [`LrSchedule::check_ready`] once first.
    pub fn fill_epoch(&self, t0: u64, e: u64, out: &mut [f64]) {
        if !self.uses_step() {
            out.fill(self.value(t0, e));
            return;
        }
        match self {
            LrSchedule::Diminishing { init_value } => {
                for (o, t) in out.iter_mut().zip(t0..) {
                    *o = init_value / ((t as f64) + 1.0).sqrt();
                }
            }
            LrSchedule::Linear { init_value, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                let tf = big_t as f64;
                for (o, t) in out.iter_mut().zip(t0..) {
                    *o = init_value * (1.0 - t.min(big_t) as f64 / tf);
                }
            }
            LrSchedule::Polynomial { init_value, power, total_steps } => {
                let big_t = total_steps.unwrap_or(1);
                let tf = big_t as f64;
                for (o, t) in out.iter_mut().zip(t0..) {
                    *o = init_value * pow_p(1.0 - t.min(big_t) as f64 / tf, *power);
                }
            }
            _ => {
                for (o, t) in out.iter_mut().zip(t0..) {
                    *o = self.value(t, e);
                }
            }
        }
    }
}

fn check_clock(name: &str, xs: &[i64], base: usize) -> Result<(), SgdmError> {
    if xs.iter().fold(0i64, |acc, &x| acc | x) >= 0 {
        return Ok(());
    }
    match xs.iter().position(|&x| x < 0) {
        None => Ok(()),
        Some(i) => Err(SgdmError::invalid(
            &format!("{name}[{}]", base + i),
            xs[i],
            "an integer >= 0 (clock values count from 0)",
        )),
    }
}

fn check_growth(
    init: f64,
    max: Option<f64>,
    rate: Option<f64>,
    max_name: &str,
    rate_name: &str,
) -> Result<(), SgdmError> {
    if max.is_none() && rate.is_none() {
        return Err(SgdmError::invalid(
            max_name,
            "None",
            &format!("a number (give {max_name}, {rate_name}, or both)"),
        ));
    }
    if let Some(m) = max {
        if !(m.is_finite() && m >= init) {
            return Err(SgdmError::invalid(
                max_name,
                m,
                &format!("a finite number >= the initial value {init}"),
            ));
        }
    }
    if let Some(r) = rate {
        check_pos(rate_name, r)?;
    }
    Ok(())
}

fn check_warmup(
    init: f64,
    warmup_epochs: u64,
    warmup_interval: u64,
    max: Option<f64>,
    rate: Option<f64>,
) -> Result<(), SgdmError> {
    check_pos("init_value", init)?;
    check_pos_int("warmup_interval", warmup_interval)?;
    if warmup_epochs < warmup_interval {
        return Err(SgdmError::invalid(
            "warmup_epochs",
            warmup_epochs,
            &format!("an integer >= warmup_interval = {warmup_interval}"),
        ));
    }
    if max.is_some() && rate.is_some() {
        return Err(SgdmError::invalid(
            "growth_rate",
            rate.unwrap_or(0.0),
            "None when max_value is given: a warm-up grows either to max_value or by \
             growth_rate (PAPER.md §4), not both",
        ));
    }
    check_growth(init, max, rate, "max_value", "growth_rate")?;
    // An overflowing peak would make every later rate infinite (and ∞·0 = NaN at the end of
    // a cosine decay).
    if !warmup_peak(init, warmup_epochs, warmup_interval, max, rate).is_finite() {
        return Err(SgdmError::invalid(
            "growth_rate",
            rate.unwrap_or(f64::NAN),
            &format!(
                "a rate whose warm-up peak init_value * growth_rate^{} is finite",
                (warmup_epochs - warmup_interval) / warmup_interval
            ),
        ));
    }
    Ok(())
}

fn check_warmup_fits(warmup_epochs: u64, epochs: Option<u64>) -> Result<(), SgdmError> {
    match epochs {
        Some(e) if warmup_epochs > e => Err(SgdmError::invalid(
            "warmup_epochs",
            warmup_epochs,
            &format!("an integer <= the run's epochs = {e} (the warm-up is longer than the run)"),
        )),
        _ => Ok(()),
    }
}

/// The warm-up's value at epoch e < W.
fn warmup_value(init: f64, e: u64, big_w: u64, w: u64, max: Option<f64>, rate: Option<f64>) -> f64 {
    let stages = (big_w - w) as f64 / w as f64;
    exp_growth(init, e / w, max, rate, stages)
}

/// The warm-up's final value: η_max, or η_0 γ^⌊(W−w)/w⌋ given a growth factor only.
fn warmup_peak(init: f64, big_w: u64, w: u64, max: Option<f64>, rate: Option<f64>) -> f64 {
    match (max, rate) {
        (Some(m), _) => m,
        (None, Some(r)) => init * r.powf(((big_w - w) / w) as f64),
        (None, None) => init,
    }
}

/// Position within the current SGDR cycle and the cycle's length.
fn restart_position(c: u64, period: u64, mult: f64) -> (f64, f64) {
    if mult == 1.0 {
        return ((c % period) as f64, period as f64);
    }
    let p = period as f64;
    let c = c as f64;
    let start_of = |i: f64| {
        let s = p * (mult.powf(i) - 1.0) / (mult - 1.0);
        // With a huge mult, p·mult^i can overflow although the start itself is finite.
        if s.is_finite() { s } else { p * ((mult.powf(i) - 1.0) / (mult - 1.0)) }
    };
    // i = ⌊log_mult(1 + c (mult − 1) / p)⌋, in logs where the product would overflow (an
    // infinite i would never leave the repair loops).
    let x = c * (mult - 1.0) / p;
    let l = if x.is_finite() { (1.0 + x).ln() } else { (c / p).ln() + (mult - 1.0).ln() };
    let mut i = (l / mult.ln()).floor().max(0.0);
    // Repair floating-point misplacement at cycle edges. Bounded: beyond 2^53 cycles (a mult
    // within a few ulps of 1) a step of one no longer changes i.
    for _ in 0..64 {
        if i > 0.0 && c < start_of(i) {
            i -= 1.0;
        } else {
            break;
        }
    }
    for _ in 0..64 {
        if c >= start_of(i + 1.0) {
            i += 1.0;
        } else {
            break;
        }
    }
    let len = p * mult.powf(i);
    ((c - start_of(i)).clamp(0.0, len), len)
}

fn resolve_join(
    pieces: &[LrSchedule],
    boundaries: &[u64],
    unit: Unit,
    offsets: &[(Option<u64>, Option<u64>)],
    h: &Horizon<'_>,
) -> Result<LrSchedule, SgdmError> {
    let bounds = h.epoch_bounds;
    let total_steps = h.total_steps();
    // The epoch containing step s (the last epoch whose first step is <= s).
    let epoch_of = |b: &[u64], s: u64| -> u64 {
        let n_epochs = b.len().saturating_sub(1);
        (b[..n_epochs].partition_point(|&x| x <= s).saturating_sub(1)) as u64
    };
    let mut new_offsets = Vec::with_capacity(pieces.len());
    for (i, &(toff, eoff)) in offsets.iter().enumerate() {
        let (toff, eoff) = match (unit, bounds, i) {
            (_, _, 0) => (Some(0), Some(0)),
            (Unit::Epoch, Some(b), _) => {
                let e = eoff.unwrap_or(0);
                (toff.or_else(|| b.get(e as usize).copied()), eoff)
            }
            (Unit::Step, Some(b), _) => {
                let s = toff.unwrap_or(0);
                (toff, eoff.or(Some(epoch_of(b, s))))
            }
            _ => (toff, eoff),
        };
        new_offsets.push((toff, eoff));
    }
    let mut new_pieces = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let (toff, eoff) = new_offsets[i];
        // End of the piece in both clocks, as far as known.
        let (tend, eend) = if i + 1 < pieces.len() {
            let (nt, ne) = new_offsets[i + 1];
            match unit {
                // A step boundary inside an epoch: the piece touches that epoch too.
                Unit::Step => (nt, ne.map(|e| {
                    let partial = bounds.is_some_and(|b| nt.is_some_and(|t| b.get(e as usize) != Some(&t)));
                    e + u64::from(partial)
                })),
                Unit::Epoch => (nt, ne),
            }
        } else {
            (total_steps, h.epochs)
        };
        let epochs = match (eoff, eend) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            (Some(_), Some(_)) => Some(1),
            _ => None,
        };
        let local_bounds: Option<Vec<u64>> = match (bounds, toff, eoff, eend, tend) {
            (Some(b), Some(t0), Some(e0), Some(e1), Some(t1)) if e1 > e0 && (e1 as usize) < b.len() => {
                let mut v: Vec<u64> = (e0..e1).map(|e| b[e as usize].max(t0) - t0).collect();
                v.push(t1.saturating_sub(t0));
                Some(v)
            }
            _ => None,
        };
        let steps_only: Option<Vec<u64>> = match (&local_bounds, toff, tend) {
            (None, Some(t0), Some(t1)) if t1 > t0 => Some(vec![0, t1 - t0]),
            _ => None,
        };
        let sub = Horizon {
            epochs,
            epoch_bounds: local_bounds.as_deref().or(steps_only.as_deref()),
        };
        new_pieces.push(piece.resolve(&sub)?);
    }
    Ok(LrSchedule::Join {
        pieces: new_pieces,
        boundaries: boundaries.to_vec(),
        unit,
        offsets: new_offsets,
    })
}

/// A batch-size schedule (PAPER.md §3): a function of the epoch only, values >= 1.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchSchedule {
    /// b_e = `size`.
    Constant { size: u64 },
    /// b_e = ⌈b_0 δ^⌊e/E_inc⌋⌉, or with `max_size` the capped affine form
    /// ⌈min(a δ^⌊e/E_inc⌋ + c, b_max)⌉ with a = (b_max − b_0)/(δ^((E−E_inc)/E_inc) − 1),
    /// c = b_0 − a.
    ExpGrowth {
        init_size: u64,
        growth_rate: f64,
        interval: u64,
        max_size: Option<u64>,
        epochs: Option<u64>,
    },
    /// `sizes[i]` from epoch `boundaries[i-1]` (0 for i = 0) until `boundaries[i]`.
    Piecewise { sizes: Vec<u64>, boundaries: Vec<u64> },
}

impl BatchSchedule {
    pub fn kind(&self) -> &'static str {
        match self {
            BatchSchedule::Constant { .. } => "constant",
            BatchSchedule::ExpGrowth { .. } => "exp_growth",
            BatchSchedule::Piecewise { .. } => "piecewise",
        }
    }

    pub fn validate(&self) -> Result<(), SgdmError> {
        match self {
            BatchSchedule::Constant { size } => check_pos_int("size", *size),
            BatchSchedule::ExpGrowth { init_size, growth_rate, interval, max_size, epochs } => {
                check_pos_int("init_size", *init_size)?;
                check_pos("growth_rate", *growth_rate)?;
                check_pos_int("interval", *interval)?;
                check_opt_pos_int("epochs", *epochs)?;
                if let Some(m) = max_size {
                    if m < init_size {
                        return Err(SgdmError::invalid(
                            "max_size",
                            m,
                            &format!("an integer >= init_size = {init_size}"),
                        ));
                    }
                    if let Some(e) = epochs {
                        if e < interval {
                            return Err(SgdmError::invalid(
                                "interval",
                                interval,
                                &format!("an integer <= epochs = {e}"),
                            ));
                        }
                    }
                }
                Ok(())
            }
            BatchSchedule::Piecewise { sizes, boundaries } => {
                if sizes.is_empty() {
                    return Err(SgdmError::invalid("sizes", "[]", "at least one batch size"));
                }
                for (i, &s) in sizes.iter().enumerate() {
                    check_pos_int(&format!("sizes[{i}]"), s)?;
                }
                if boundaries.len() + 1 != sizes.len() {
                    return Err(SgdmError::invalid(
                        "boundaries",
                        format!("{boundaries:?}"),
                        &format!("{} epoch boundaries (one fewer than sizes)", sizes.len() - 1),
                    ));
                }
                check_increasing("boundaries", boundaries, 1)
            }
        }
    }

    /// Fill in the run's epochs where needed (explicit values win).
    pub fn resolve(&self, epochs: Option<u64>) -> Result<BatchSchedule, SgdmError> {
        let out = match self {
            BatchSchedule::ExpGrowth { init_size, growth_rate, interval, max_size, epochs: e } => {
                BatchSchedule::ExpGrowth {
                    init_size: *init_size,
                    growth_rate: *growth_rate,
                    interval: *interval,
                    max_size: *max_size,
                    epochs: e.or(epochs),
                }
            }
            other => other.clone(),
        };
        out.validate()?;
        Ok(out)
    }

    pub fn check_ready(&self) -> Result<(), SgdmError> {
        match self {
            BatchSchedule::ExpGrowth { max_size: Some(_), epochs, .. } => {
                need(*epochs, "epochs", "exp_growth batch size (with max_size)").map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The batch size of epoch `e` (not yet capped at the dataset size). Call
    /// [`BatchSchedule::check_ready`] once first.
    pub fn size(&self, e: u64) -> u64 {
        match self {
            BatchSchedule::Constant { size } => *size,
            BatchSchedule::ExpGrowth { init_size, growth_rate, interval, max_size, epochs } => {
                let k = e / interval;
                if k == 0 {
                    return *init_size;
                }
                let b0 = *init_size as f64;
                let x = match max_size {
                    None => b0 * growth_rate.powf(k as f64),
                    Some(m) => {
                        let big_e = epochs.unwrap_or(*interval);
                        let stages = big_e.saturating_sub(*interval) as f64 / *interval as f64;
                        exp_growth(b0, k, Some(*m as f64), Some(*growth_rate), stages)
                    }
                };
                // `as` saturates: a size beyond u64 (δ^k overflow) stays huge, then is capped.
                // f64 rounds sizes above 2^53: keep a growing schedule from dropping below its
                // initial size, and cap again at max_size in integers.
                let floor = if *growth_rate >= 1.0 { *init_size } else { 1 };
                (ceil_tol(x) as u64).max(floor).min(max_size.unwrap_or(u64::MAX))
            }
            BatchSchedule::Piecewise { sizes, boundaries } => {
                sizes[boundaries.partition_point(|&b| b <= e)]
            }
        }
    }

    /// `out[i] = size(epochs[i])`.
    pub fn sizes(&self, epochs: &[i64], out: &mut [i64]) -> Result<(), SgdmError> {
        if epochs.len() != out.len() {
            return Err(SgdmError::invalid("out", out.len(), "the length of epochs"));
        }
        self.check_ready()?;
        check_clock("epochs", epochs, 0)?;
        for (o, &e) in out.iter_mut().zip(epochs) {
            *o = self.size(e as u64).min(i64::MAX as u64) as i64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn paper_capped_batch_example() {
        let s = BatchSchedule::ExpGrowth {
            init_size: 8,
            growth_rate: 2.0,
            interval: 30,
            max_size: Some(1024),
            epochs: Some(300),
        };
        let got: Vec<u64> = (0..10).map(|k| s.size(30 * k)).collect();
        assert_eq!(got, vec![8, 10, 14, 22, 38, 70, 134, 261, 516, 1024]);
        assert_eq!(s.size(29), 8);
        assert_eq!(s.size(299), 1024);
    }

    #[test]
    fn batch_growth_uncapped_and_ceil_tolerance() {
        let s = BatchSchedule::ExpGrowth {
            init_size: 8,
            growth_rate: 2.0,
            interval: 30,
            max_size: None,
            epochs: None,
        };
        assert_eq!(s.size(0), 8);
        assert_eq!(s.size(59), 16);
        assert_eq!(s.size(299), 4096);
        let s = BatchSchedule::ExpGrowth {
            init_size: 10,
            growth_rate: 1.1,
            interval: 1,
            max_size: None,
            epochs: None,
        };
        assert_eq!(s.size(1), 11);
        assert_eq!(s.size(2), 13); // 12.1 -> 13
    }

    #[test]
    fn batch_validation_names_fields() {
        let s = BatchSchedule::ExpGrowth {
            init_size: 8,
            growth_rate: 2.0,
            interval: 30,
            max_size: Some(4),
            epochs: None,
        };
        let msg = s.validate().unwrap_err().to_string();
        assert!(msg.starts_with("max_size = 4"), "{msg}");
        let s = BatchSchedule::ExpGrowth {
            init_size: 8,
            growth_rate: 0.0,
            interval: 30,
            max_size: None,
            epochs: None,
        };
        assert!(s.validate().unwrap_err().to_string().starts_with("growth_rate"));
    }

    #[test]
    fn lr_families_at_edges() {
        let c = LrSchedule::Cosine { init_value: 0.1, min_value: 0.0, epochs: Some(300) };
        assert!(close(c.value(0, 0), 0.1));
        assert!(close(c.value(5, 150), 0.05));
        let d = LrSchedule::Diminishing { init_value: 0.1 };
        assert!(close(d.value(3, 0), 0.05));
        let l = LrSchedule::Linear { init_value: 0.1, total_steps: Some(10) };
        assert!(close(l.value(5, 99), 0.05));
        assert_eq!(l.value(10, 0), 0.0);
        assert_eq!(l.value(20, 0), 0.0);
        let p = LrSchedule::Polynomial { init_value: 0.1, power: 2.0, total_steps: Some(10) };
        assert!(close(p.value(5, 0), 0.025));
        let g = LrSchedule::ExpGrowth {
            init_value: 0.1,
            interval: 30,
            max_value: Some(1.0),
            growth_rate: None,
            epochs: Some(300),
        };
        assert_eq!(g.value(0, 29), 0.1);
        let gamma = 10f64.powf(1.0 / 9.0);
        assert!(close(g.value(0, 30), 0.1 * gamma));
        assert!(close(g.value(0, 299), 1.0));
    }

    #[test]
    fn warmup_families() {
        let w = LrSchedule::WarmupConstant {
            init_value: 0.1,
            warmup_epochs: 30,
            warmup_interval: 3,
            max_value: Some(0.5),
            growth_rate: None,
        };
        assert_eq!(w.value(0, 2), 0.1);
        let g = 5f64.powf(3.0 / 27.0);
        assert!(close(w.value(0, 3), 0.1 * g));
        assert!(close(w.value(0, 27), 0.5));
        assert_eq!(w.value(0, 30), 0.5);
        let wc = LrSchedule::WarmupCosine {
            init_value: 0.1,
            warmup_epochs: 30,
            warmup_interval: 3,
            max_value: None,
            growth_rate: Some(1.2),
            min_value: 0.0,
            epochs: Some(300),
        };
        let peak = 0.1 * 1.2f64.powf(9.0);
        assert!(close(wc.value(0, 29), peak));
        assert!(close(wc.value(0, 30), peak));
        assert!(close(wc.value(0, 165), peak / 2.0));
        let bad = LrSchedule::WarmupCosine {
            init_value: 0.1,
            warmup_epochs: 30,
            warmup_interval: 3,
            max_value: Some(0.5),
            growth_rate: None,
            min_value: 0.0,
            epochs: None,
        };
        let msg = bad
            .resolve(&Horizon { epochs: Some(10), epoch_bounds: None })
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("warmup_epochs = 30"), "{msg}");
    }

    #[test]
    fn join_counts_from_piece_start() {
        let j = LrSchedule::join(
            vec![
                LrSchedule::Constant { value: 1.0 },
                LrSchedule::Linear { init_value: 1.0, total_steps: None },
            ],
            vec![2],
            Unit::Epoch,
        );
        j.validate().unwrap();
        assert!(j.check_ready().is_err());
        // 3 epochs of 4 steps each.
        let bounds = [0, 4, 8, 12];
        let r = j.resolve(&Horizon { epochs: Some(3), epoch_bounds: Some(&bounds) }).unwrap();
        r.check_ready().unwrap();
        assert_eq!(r.value(7, 1), 1.0);
        assert_eq!(r.value(8, 2), 1.0);
        assert!(close(r.value(10, 2), 0.5));
    }

    #[test]
    fn restarts_cycle_edges() {
        let s = LrSchedule::CosineRestarts {
            init_value: 1.0,
            min_value: 0.0,
            period: 10,
            period_mult: 2.0,
            unit: Unit::Step,
        };
        assert_eq!(s.value(0, 0), 1.0);
        assert_eq!(s.value(10, 0), 1.0);
        assert_eq!(s.value(30, 0), 1.0);
        assert!(close(s.value(20, 0), 0.5));
    }

    #[test]
    fn vectorised_equals_scalar() {
        let s = LrSchedule::Polynomial { init_value: 0.3, power: 1.5, total_steps: Some(200_000) };
        let steps: Vec<i64> = (0..100_000).collect();
        let epochs: Vec<i64> = steps.iter().map(|t| t / 100).collect();
        let mut out = vec![0.0; steps.len()];
        s.values(&steps, &epochs, &mut out).unwrap();
        for (i, &v) in out.iter().enumerate() {
            assert_eq!(v, s.value(i as u64, (i / 100) as u64));
        }
        assert!(s.values(&[-1], &[0], &mut [0.0]).is_err());
    }
}
