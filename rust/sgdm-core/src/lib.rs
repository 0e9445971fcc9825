//! Pure Rust core of **sgdm**: stochastic gradient descent with momentum (SGDM) under
//! learning-rate and batch-size schedules (Kondo & Iiduka, arXiv 2508.03105).
//!
//! This crate knows nothing about Python. It holds
//! - [`step`]: the fused, in-place, multi-tensor SGDM update (SHB, NSHB, Nesterov, L2),
//! - [`parallel`]: the configurable thread pool that large updates are split across,
//! - [`schedule`]: learning-rate and batch-size schedules, pure functions of (step, epoch),
//! - [`plan`]: the closed-form layout of a whole run (batch sizes, steps, rates, §6 sums),
//! - [`error`]: the typed error every fallible function returns.

// Tests may unwrap: a failure there is a test failure, not a user-facing panic.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod parallel;
pub mod plan;
pub mod schedule;
pub mod step;

pub use error::SgdmError;
pub use step::{apply_step, check_step, fused_step, Float, StepConfig, Tensor, Variant};
pub use plan::Plan;
pub use schedule::{BatchSchedule, Horizon, LrSchedule, Unit};
