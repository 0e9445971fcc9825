//! Conversion of integer arguments.
//!
//! Python's `bool` is a subclass of `int`, so PyO3 reads `True` as 1: a flag passed where a
//! count or a clock belongs would silently become step 1 or one thread. [`Int`] refuses it
//! with a `TypeError`, to which PyO3 adds the note `while processing 'step'` (the argument's name).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// An integer argument of type `T` that is not a `bool`.
pub struct Int<T>(pub T);

impl<'a, 'py, T> FromPyObject<'a, 'py> for Int<T>
where
    T: FromPyObject<'a, 'py>,
{
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("expected an integer, got a bool"));
        }
        obj.extract::<T>().map(Int).map_err(Into::into)
    }
}
