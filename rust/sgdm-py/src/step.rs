//! Binding of the fused multi-tensor step: `FusedStep(...).step(params, grads, momenta, lr)`.

use numpy::{
    PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use sgdm_core::{apply_step, check_step, StepConfig, Tensor, Variant};

use crate::errors::{to_py, SgdmError};

/// Below this many elements the GIL is kept: releasing it costs more than the update.
const RELEASE_GIL_MIN_LEN: usize = 1 << 14;

/// Borrowed views of one tensor triple, in one dtype.
struct Borrowed<'py, T: numpy::Element> {
    param: PyReadwriteArrayDyn<'py, T>,
    grad: PyReadonlyArrayDyn<'py, T>,
    momentum: PyReadwriteArrayDyn<'py, T>,
}

/// The borrows of one call, grouped by dtype so each group runs one monomorphic kernel.
#[derive(Default)]
struct Borrows<'py> {
    f32: Vec<(usize, Borrowed<'py, f32>)>,
    f64: Vec<(usize, Borrowed<'py, f64>)>,
}

fn dtype_name(array: &Bound<'_, PyAny>) -> String {
    array
        .getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

fn as_untyped<'a, 'py>(obj: &'a Bound<'py, PyAny>, what: &str) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a numpy.ndarray of float32 or float64, got {}",
            type_name(obj)
        ))
    })
}

fn borrow_error(what: &str, err: numpy::BorrowError) -> PyErr {
    match err {
        numpy::BorrowError::NotWriteable => SgdmError::new_err(format!(
            "{what} is read-only; the update is in place, so it must be writeable"
        )),
        _ => SgdmError::new_err(format!(
            "{what} shares memory with another array of this step (aliasing); \
             parameters, gradients and momentum buffers must be distinct arrays"
        )),
    }
}

/// Check layout and borrow one triple of a known dtype.
fn borrow_triple<'py, T: numpy::Element>(
    index: usize,
    param: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    momentum: &Bound<'py, PyAny>,
) -> PyResult<Option<Borrowed<'py, T>>> {
    let Ok(param) = param.cast::<PyArrayDyn<T>>() else {
        return Ok(None);
    };
    let grad = grad.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "grads[{index}] has dtype {}, but params[{index}] has dtype {}; they must match",
            dtype_name(grad),
            dtype_name(param.as_any())
        ))
    })?;
    let momentum = momentum.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "momentum buffer {index} has dtype {}, expected {}",
            dtype_name(momentum),
            dtype_name(param.as_any())
        ))
    })?;
    if grad.shape() != param.shape() {
        return Err(SgdmError::new_err(format!(
            "grads[{index}] has shape {:?}, but params[{index}] has shape {:?}",
            grad.shape(),
            param.shape()
        )));
    }
    if momentum.shape() != param.shape() {
        return Err(SgdmError::new_err(format!(
            "momentum buffer {index} has shape {:?}, but params[{index}] has shape {:?}",
            momentum.shape(),
            param.shape()
        )));
    }
    for (what, array) in [
        (format!("params[{index}]"), param.as_untyped()),
        (format!("grads[{index}]"), grad.as_untyped()),
        (format!("momentum buffer {index}"), momentum.as_untyped()),
    ] {
        if !array.is_contiguous() {
            return Err(SgdmError::new_err(format!(
                "{what} is not contiguous; pass numpy.ascontiguousarray(...) (parameters must be \
                 contiguous to be updated in place)"
            )));
        }
    }
    // Elementwise pairing of flat slices needs one memory order: C-ordered parameter with an
    // F-ordered gradient (both contiguous) would pair the wrong elements.
    if param.len() > 1 && param.ndim() > 1 && (grad.strides() != param.strides() || momentum.strides() != param.strides()) {
        return Err(SgdmError::new_err(format!(
            "grads[{index}] has strides {:?} but params[{index}] has strides {:?}; \
             use the same memory order (C or Fortran) for both",
            grad.strides(),
            param.strides()
        )));
    }
    let param = param
        .try_readwrite()
        .map_err(|e| borrow_error(&format!("params[{index}]"), e))?;
    let momentum = momentum
        .try_readwrite()
        .map_err(|e| borrow_error(&format!("momentum buffer {index}"), e))?;
    let grad = grad
        .try_readonly()
        .map_err(|e| borrow_error(&format!("grads[{index}]"), e))?;
    Ok(Some(Borrowed { param, grad, momentum }))
}

fn borrow_all<'py>(
    params: &Bound<'py, PyList>,
    grads: &[Bound<'py, PyAny>],
    momenta: &Bound<'py, PyList>,
) -> PyResult<Borrows<'py>> {
    let n = params.len();
    if n == 0 {
        return Err(SgdmError::new_err("params is empty; expected at least one array"));
    }
    if grads.len() != n {
        return Err(SgdmError::new_err(format!(
            "grads has {} arrays but there are {n} parameters; pass one gradient per parameter",
            grads.len()
        )));
    }
    if momenta.len() != n {
        return Err(SgdmError::new_err(format!(
            "momentum buffers: {} for {n} parameters",
            momenta.len()
        )));
    }
    let mut borrows = Borrows::default();
    for (index, grad) in grads.iter().enumerate() {
        let param = params.get_item(index)?;
        let momentum = momenta.get_item(index)?;
        as_untyped(grad, &format!("grads[{index}]"))?;
        let untyped = as_untyped(&param, &format!("params[{index}]"))?;
        if let Some(b) = borrow_triple::<f32>(index, &param, grad, &momentum)? {
            borrows.f32.push((index, b));
        } else if let Some(b) = borrow_triple::<f64>(index, &param, grad, &momentum)? {
            borrows.f64.push((index, b));
        } else {
            return Err(PyTypeError::new_err(format!(
                "params[{index}] has dtype {}; expected float32 or float64",
                dtype_name(untyped.as_any())
            )));
        }
    }
    Ok(borrows)
}

/// Flat slices of one dtype group, ready for the core.
fn tensors<'a, T: numpy::Element>(group: &'a mut [(usize, Borrowed<'_, T>)]) -> PyResult<Vec<Tensor<'a, T>>> {
    group
        .iter_mut()
        .map(|(index, b)| {
            let not_contiguous = |_| SgdmError::new_err(format!("params[{index}] is not contiguous"));
            Ok(Tensor {
                param: b.param.as_slice_mut().map_err(not_contiguous)?,
                grad: b.grad.as_slice().map_err(not_contiguous)?,
                momentum: b.momentum.as_slice_mut().map_err(not_contiguous)?,
            })
        })
        .collect()
}

/// Grads may come as a list or a tuple; anything else is a usage error.
fn grad_items<'py>(grads: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(list) = grads.cast::<PyList>() {
        Ok(list.iter().collect())
    } else if let Ok(tuple) = grads.cast::<PyTuple>() {
        Ok(tuple.iter().collect())
    } else {
        Err(PyTypeError::new_err(format!(
            "grads must be a list or tuple of numpy arrays, got {}",
            type_name(grads)
        )))
    }
}

/// A fused SGDM update with fixed hyperparameters; `step` takes the learning rate per call.
#[pyclass(frozen, module = "sgdm._sgdm")]
struct FusedStep {
    config: StepConfig,
}

#[pymethods]
impl FusedStep {
    #[new]
    #[pyo3(signature = (momentum, variant, nesterov, weight_decay, check_finite))]
    fn new(momentum: f64, variant: &str, nesterov: bool, weight_decay: f64, check_finite: bool) -> PyResult<Self> {
        let variant = match variant {
            "shb" => Variant::Shb,
            "nshb" => Variant::Nshb,
            other => {
                return Err(SgdmError::new_err(format!(
                    "variant = {other:?} is invalid: expected 'shb' or 'nshb'"
                )))
            }
        };
        let config = StepConfig { lr: 0.0, momentum, variant, nesterov, weight_decay, check_finite };
        config.validate().map_err(to_py)?;
        Ok(FusedStep { config })
    }

    /// Update `params` and `momenta` in place with `grads` at learning rate `lr`.
    fn step(
        &self,
        py: Python<'_>,
        params: &Bound<'_, PyList>,
        grads: &Bound<'_, PyAny>,
        momenta: &Bound<'_, PyList>,
        lr: f64,
    ) -> PyResult<()> {
        let config = StepConfig { lr, ..self.config };
        let grads = grad_items(grads)?;
        let mut borrows = borrow_all(params, &grads, momenta)?;
        let mut t32 = tensors(&mut borrows.f32)?;
        let mut t64 = tensors(&mut borrows.f64)?;
        let total: usize = t32.iter().map(|t| t.param.len()).sum::<usize>()
            + t64.iter().map(|t| t.param.len()).sum::<usize>();
        let mut run = move || -> Result<(), sgdm_core::SgdmError> {
            // Both dtype groups are checked before either is written: an error leaves all intact.
            check_step(&t32, &config)?;
            check_step(&t64, &config)?;
            apply_step(&mut t32, &config)?;
            apply_step(&mut t64, &config)
        };
        let result = if total >= RELEASE_GIL_MIN_LEN { py.detach(run) } else { run() };
        result.map_err(to_py)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FusedStep>()
}
