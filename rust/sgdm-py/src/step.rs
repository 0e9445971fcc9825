//! Binding of the fused multi-tensor step: `FusedStep(...).step(params, grads, momenta, lr)`.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple};

use sgdm_core::{apply_step, check_step, StepConfig, Tensor, Variant};

use crate::errors::{to_py, SgdmError};

/// Below this many elements the GIL is kept: releasing it costs more than the update.
const RELEASE_GIL_MIN_LEN: usize = 1 << 14;

/// One validated tensor triple of one dtype. The `Bound`s own a reference to each array, so no
/// other thread can free them while the GIL is released.
struct Triple<'py, T: numpy::Element> {
    index: usize,
    param: Bound<'py, PyArrayDyn<T>>,
    grad: Bound<'py, PyArrayDyn<T>>,
    momentum: Bound<'py, PyArrayDyn<T>>,
}

/// The validated triples of one call, grouped by dtype so each group runs one monomorphic kernel.
#[derive(Default)]
struct Triples<'py> {
    f32: Vec<Triple<'py, f32>>,
    f64: Vec<Triple<'py, f64>>,
}

/// Which array of a triple: names are formatted only when an error needs them.
#[derive(Clone, Copy)]
enum Role {
    Param,
    Grad,
    Momentum,
}

impl Role {
    fn name(self, index: usize) -> String {
        match self {
            Role::Param => format!("params[{index}]"),
            Role::Grad => format!("grads[{index}]"),
            Role::Momentum => format!("momentum buffer {index}"),
        }
    }

    fn written(self) -> bool {
        !matches!(self, Role::Grad)
    }
}

/// The byte range an array occupies and which array it is.
struct Extent {
    start: usize,
    end: usize,
    role: Role,
    index: usize,
}

fn dtype_name(array: &Bound<'_, PyAny>) -> String {
    array
        .getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A shape or strides the way Python prints a tuple: `()`, `(4,)`, `(2, 2)`.
fn tuple<T: std::fmt::Display>(items: &[T]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            items.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

fn as_untyped<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    role: Role,
    index: usize,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{} must be a numpy.ndarray of float32 or float64, got {}",
            role.name(index),
            type_name(obj)
        ))
    })
}

fn has_flag(array: &Bound<'_, PyUntypedArray>, flag: std::ffi::c_int) -> bool {
    // SAFETY: `array` is a live ndarray (the cast succeeded and we hold a reference), so its
    // PyArrayObject header is valid to read while we hold the GIL.
    let flags = unsafe { (*array.as_array_ptr()).fields.flags };
    flags & flag != 0
}

fn is_writeable(array: &Bound<'_, PyUntypedArray>) -> bool {
    has_flag(array, numpy::npyffi::NPY_ARRAY_WRITEABLE)
}

/// Whether every element sits at an address that is a multiple of its size (NumPy's flag), as
/// a Rust slice requires; views at an odd byte offset of a raw buffer are not.
fn is_aligned(array: &Bound<'_, PyUntypedArray>) -> bool {
    has_flag(array, numpy::npyffi::NPY_ARRAY_ALIGNED)
}

impl<T: numpy::Element> Triple<'_, T> {
    fn extents(&self, out: &mut Vec<Extent>) {
        let index = self.index;
        let item = std::mem::size_of::<T>();
        for (array, role) in [
            (&self.param, Role::Param),
            (&self.grad, Role::Grad),
            (&self.momentum, Role::Momentum),
        ] {
            let len = array.len();
            if len > 0 {
                let start = array.data() as usize;
                out.push(Extent { start, end: start + len * item, role, index });
            }
        }
    }
}

/// `obj` as an array of dtype `T`, given `like`, an array known to have dtype `T`.
///
/// Fast path for the common case (one gradient and one buffer per parameter, all built from the
/// same dtype object): an ndarray whose descriptor is the very object of `like`'s has `like`'s
/// dtype, so the full dtype comparison is skipped.
fn cast_like<'a, 'py, T: numpy::Element>(
    obj: &'a Bound<'py, PyAny>,
    like: &Bound<'py, PyArrayDyn<T>>,
) -> Option<&'a Bound<'py, PyArrayDyn<T>>> {
    if let Ok(untyped) = obj.cast::<PyUntypedArray>() {
        // SAFETY: both are live ndarrays (the casts checked it) and we hold the GIL, so their
        // PyArrayObject headers are valid to read.
        let same_descr = unsafe { (*untyped.as_array_ptr()).fields.descr == (*like.as_array_ptr()).fields.descr };
        if same_descr {
            // SAFETY: `obj` is an ndarray whose dtype is `like`'s, i.e. `T`; a dynamic-rank array
            // of element type `T` is all that `PyArrayDyn<T>` requires.
            return Some(unsafe { obj.cast_unchecked::<PyArrayDyn<T>>() });
        }
    }
    obj.cast::<PyArrayDyn<T>>().ok()
}

/// Check dtype, shape, layout and writeability of one triple whose parameter has dtype `T`;
/// `None` when the parameter is not of dtype `T`.
fn check_triple<'py, T: numpy::Element>(
    index: usize,
    param: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    momentum: &Bound<'py, PyAny>,
) -> PyResult<Option<Triple<'py, T>>> {
    let Ok(param) = param.cast::<PyArrayDyn<T>>() else {
        return Ok(None);
    };
    let grad = cast_like(grad, param).ok_or_else(|| {
        if let Err(not_an_array) = as_untyped(grad, Role::Grad, index) {
            return not_an_array;
        }
        PyTypeError::new_err(format!(
            "grads[{index}] has dtype {}, but params[{index}] has dtype {}; they must match",
            dtype_name(grad),
            dtype_name(param.as_any())
        ))
    })?;
    let momentum = cast_like(momentum, param).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "momentum buffer {index} has dtype {}, expected {}",
            dtype_name(momentum),
            dtype_name(param.as_any())
        ))
    })?;
    if grad.shape() != param.shape() {
        return Err(SgdmError::new_err(format!(
            "grads[{index}] has shape {}, but params[{index}] has shape {}",
            tuple(grad.shape()),
            tuple(param.shape())
        )));
    }
    if momentum.shape() != param.shape() {
        return Err(SgdmError::new_err(format!(
            "momentum buffer {index} has shape {}, but params[{index}] has shape {}",
            tuple(momentum.shape()),
            tuple(param.shape())
        )));
    }
    for (array, role) in [
        (param.as_untyped(), Role::Param),
        (grad.as_untyped(), Role::Grad),
        (momentum.as_untyped(), Role::Momentum),
    ] {
        if !array.is_contiguous() {
            return Err(SgdmError::new_err(format!(
                "{} is not contiguous; pass numpy.ascontiguousarray(...) (parameters must be \
                 contiguous to be updated in place)",
                role.name(index)
            )));
        }
        if !is_aligned(array) {
            return Err(SgdmError::new_err(format!(
                "{} is not aligned: its elements do not start at a multiple of their size (a view \
                 at an odd byte offset?); keep it in an aligned array, e.g. numpy.require(a, \
                 requirements='A')",
                role.name(index)
            )));
        }
        if role.written() && !is_writeable(array) {
            return Err(SgdmError::new_err(format!(
                "{} is read-only; the update is in place, so it must be writeable",
                role.name(index)
            )));
        }
    }
    // Elementwise pairing of flat slices needs one memory order: a C-ordered parameter with an
    // F-ordered gradient (both contiguous) would pair the wrong elements.
    if param.len() > 1
        && param.ndim() > 1
        && (grad.strides() != param.strides() || momentum.strides() != param.strides())
    {
        return Err(SgdmError::new_err(format!(
            "grads[{index}] has strides {} but params[{index}] has strides {}; \
             use the same memory order (C or Fortran) for both",
            tuple(grad.strides()),
            tuple(param.strides())
        )));
    }
    Ok(Some(Triple {
        index,
        param: param.clone(),
        grad: grad.clone(),
        momentum: momentum.clone(),
    }))
}

/// Refuse any overlap between an array that is written and any other array of the call.
fn check_no_aliasing(triples: &Triples<'_>) -> PyResult<()> {
    let mut extents = Vec::new();
    triples.f32.iter().for_each(|t| t.extents(&mut extents));
    triples.f64.iter().for_each(|t| t.extents(&mut extents));
    extents.sort_unstable_by_key(|e| e.start);
    // Sorted by start, an overlap always shows between an extent and the furthest-reaching
    // extent before it, so one sweep that remembers that extent finds every overlap.
    let mut reach: Option<&Extent> = None;
    for e in &extents {
        if let Some(prev) = reach {
            if e.start < prev.end && (e.role.written() || prev.role.written()) {
                return Err(SgdmError::new_err(format!(
                    "{} shares memory with {} (aliasing); parameters, gradients and momentum \
                     buffers must be distinct arrays",
                    e.role.name(e.index),
                    prev.role.name(prev.index)
                )));
            }
        }
        if reach.is_none_or(|prev| e.end > prev.end) {
            reach = Some(e);
        }
    }
    Ok(())
}

fn check_all<'py>(
    params: &Bound<'py, PyList>,
    grads: &Grads<'_, 'py>,
    momenta: &Bound<'py, PyList>,
) -> PyResult<Triples<'py>> {
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
    let mut triples = Triples::default();
    for index in 0..n {
        let grad = grads.get(index)?;
        let param = params.get_item(index)?;
        let momentum = momenta.get_item(index)?;
        if let Some(t) = check_triple::<f32>(index, &param, &grad, &momentum)? {
            triples.f32.push(t);
        } else if let Some(t) = check_triple::<f64>(index, &param, &grad, &momentum)? {
            triples.f64.push(t);
        } else {
            // Neither dtype: say why, in the order a user would look (not an array, then dtype).
            let untyped = as_untyped(&param, Role::Param, index)?;
            return Err(PyTypeError::new_err(format!(
                "params[{index}] has dtype {}; expected float32 or float64",
                dtype_name(untyped.as_any())
            )));
        }
    }
    check_no_aliasing(&triples)?;
    Ok(triples)
}

/// Flat slices of one dtype group, ready for the core.
fn tensors<'a, T: numpy::Element>(group: &'a [Triple<'_, T>]) -> PyResult<Vec<Tensor<'a, T>>> {
    group
        .iter()
        .map(|t| {
            let index = t.index;
            // Unreachable after `check_triple` (contiguity and alignment are checked there),
            // kept as an error rather than a panic.
            let unusable = |_| {
                SgdmError::new_err(format!(
                    "params[{index}] or its gradient is not aligned and contiguous"
                ))
            };
            // SAFETY: `check_all` proved that no written array overlaps any other array of this
            // call (so these slices do not alias each other), that the written ones are
            // writeable, and the `Bound`s in `group` keep every array alive for 'a. `as_slice*`
            // itself checks alignment and contiguity. As with rust-numpy's own borrow tracking,
            // Python code running in another thread while the GIL is released could still touch
            // the same memory; sgdm documents that arrays must not be used concurrently.
            unsafe {
                Ok(Tensor {
                    param: t.param.as_slice_mut().map_err(unusable)?,
                    grad: t.grad.as_slice().map_err(unusable)?,
                    momentum: t.momentum.as_slice_mut().map_err(unusable)?,
                })
            }
        })
        .collect()
}

/// The gradients, a list or a tuple, read in place (no copy of the sequence).
enum Grads<'a, 'py> {
    List(&'a Bound<'py, PyList>),
    Tuple(&'a Bound<'py, PyTuple>),
}

impl<'py> Grads<'_, 'py> {
    fn len(&self) -> usize {
        match self {
            Grads::List(l) => l.len(),
            Grads::Tuple(t) => t.len(),
        }
    }

    fn get(&self, index: usize) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Grads::List(l) => l.get_item(index),
            Grads::Tuple(t) => t.get_item(index),
        }
    }
}

/// Grads may come as a list or a tuple; anything else is a usage error.
fn grad_items<'a, 'py>(grads: &'a Bound<'py, PyAny>) -> PyResult<Grads<'a, 'py>> {
    if let Ok(list) = grads.cast::<PyList>() {
        Ok(Grads::List(list))
    } else if let Ok(tuple) = grads.cast::<PyTuple>() {
        Ok(Grads::Tuple(tuple))
    } else {
        Err(PyTypeError::new_err(format!(
            "grads must be a list or tuple of numpy arrays, got {}",
            type_name(grads)
        )))
    }
}

/// A scalar setting as f64. `True`/`False` are refused as the Python backend refuses them
/// (a bool is an `int` to Python, so PyO3 alone would take `lr=True` as 1.0).
fn real(name: &str, value: &Bound<'_, PyAny>, expected: &str) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>() {
        return Err(SgdmError::new_err(format!("{name} = {value} is invalid: expected {expected}")));
    }
    value.extract::<f64>()
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
    fn new(
        momentum: &Bound<'_, PyAny>,
        variant: &str,
        nesterov: bool,
        weight_decay: &Bound<'_, PyAny>,
        check_finite: bool,
    ) -> PyResult<Self> {
        let momentum = real("momentum", momentum, "a number in [0, 1)")?;
        let weight_decay = real("weight_decay", weight_decay, "a finite number >= 0")?;
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
        lr: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let lr = real("lr", lr, "a finite number >= 0")?;
        let config = StepConfig { lr, ..self.config };
        let grads = grad_items(grads)?;
        let triples = check_all(params, &grads, momenta)?;
        let mut t32 = tensors(&triples.f32)?;
        let mut t64 = tensors(&triples.f64)?;
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
