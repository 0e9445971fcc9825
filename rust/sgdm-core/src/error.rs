//! The one error type of the core; the bindings map it to `sgdm.SgdmError`.

use std::fmt;

/// Everything that can go wrong in the core, with enough context to name the culprit.
#[derive(Debug, Clone, PartialEq)]
pub enum SgdmError {
    /// A scalar setting is out of its domain, e.g. a negative learning rate.
    InvalidValue {
        /// The argument's name as the user spelled it (`lr`, `momentum`, ...).
        name: String,
        /// The offending value, formatted.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Parameter, gradient and momentum buffer of one tensor differ in length.
    LengthMismatch {
        index: usize,
        param: usize,
        grad: usize,
        momentum: usize,
    },
    /// A gradient holds NaN or ±Inf and the caller asked for finiteness to be checked.
    NonFiniteGradient { index: usize },
    /// The worker pool could not be (re)built.
    ThreadPool(String),
}

impl SgdmError {
    /// Shorthand for [`SgdmError::InvalidValue`].
    pub fn invalid(name: &str, value: impl fmt::Display, expected: &str) -> Self {
        SgdmError::InvalidValue {
            name: name.to_owned(),
            value: value.to_string(),
            expected: expected.to_owned(),
        }
    }
}

impl fmt::Display for SgdmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SgdmError::InvalidValue {
                name,
                value,
                expected,
            } => write!(f, "{name} = {value} is invalid: expected {expected}"),
            SgdmError::LengthMismatch {
                index,
                param,
                grad,
                momentum,
            } => write!(
                f,
                "tensor {index}: params[{index}] has {param} elements, grads[{index}] has {grad}, \
                 momentum buffer has {momentum}; they must be equal"
            ),
            SgdmError::NonFiniteGradient { index } => write!(
                f,
                "grads[{index}] contains NaN or Inf; no parameter was updated"
            ),
            SgdmError::ThreadPool(msg) => write!(f, "could not build the thread pool: {msg}"),
        }
    }
}

impl std::error::Error for SgdmError {}
