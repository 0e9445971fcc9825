//! Pure Rust core of **sgdm**: stochastic gradient descent with momentum (SGDM) under
//! learning-rate and batch-size schedules (Kondo & Iiduka, arXiv 2508.03105).
//!
//! This crate knows nothing about Python. It holds
//! - [`step`]: the fused, in-place, multi-tensor SGDM update (SHB, NSHB, Nesterov, L2),
//! - [`parallel`]: the configurable thread pool that large updates are split across,
//! - [`error`]: the typed error every fallible function returns.

pub mod error;
pub mod parallel;
pub mod step;

pub use error::SgdmError;
pub use step::{apply_step, check_step, fused_step, Float, StepConfig, Tensor, Variant};
