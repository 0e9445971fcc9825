//! Mapping of the core's typed error to Python exceptions.

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pyo3::create_exception!(
    sgdm,
    SgdmError,
    PyValueError,
    "A setting, array or schedule that sgdm cannot use; the message names the argument."
);

/// `sgdm_core::SgdmError` → `sgdm.SgdmError` (a `ValueError`), keeping the core's message.
pub fn to_py(err: sgdm_core::SgdmError) -> PyErr {
    SgdmError::new_err(err.to_string())
}
