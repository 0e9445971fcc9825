//! The private native module `sgdm._sgdm`: thin PyO3 bindings over `sgdm-core`.
//!
//! Each binding only borrows and validates the NumPy arrays, releases the GIL around the core
//! call, and maps the core's `SgdmError` to the Python exception `sgdm.SgdmError`.

use pyo3::prelude::*;

mod args;
mod errors;
mod schedule;
mod step;

/// Number of worker threads that large updates are split across.
#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    sgdm_core::parallel::num_threads().map_err(errors::to_py)
}

/// Set the number of worker threads (>= 1) for large updates; results do not depend on it.
#[pyfunction]
fn set_num_threads(threads: args::Int<usize>) -> PyResult<()> {
    sgdm_core::parallel::set_num_threads(threads.0).map_err(errors::to_py)
}

#[pymodule]
fn _sgdm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SgdmError", m.py().get_type::<errors::SgdmError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    step::register(m)?;
    schedule::register(m)?;
    Ok(())
}
