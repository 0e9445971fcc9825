//! Bindings of the schedules and the plan: `LrSchedule(spec)`, `BatchSchedule(spec)`,
//! `build_plan(n_samples, epochs, batch, lr)`.
//!
//! A schedule is built from its spec dict (`{"type": "cosine", "init_value": 0.1, ...}`, the
//! format `sgdm.schedules` writes); this module only translates the dict into the core's enums,
//! releases the GIL around large evaluations and maps errors to `sgdm.SgdmError`.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};

use sgdm_core::{BatchSchedule as CoreBatch, LrSchedule as CoreLr, Plan, Unit};

use crate::args::Int;
use crate::errors::{to_py, SgdmError};

/// Below this many clock values the GIL is kept.
const RELEASE_GIL_MIN_LEN: usize = 1 << 14;

fn bad(name: &str, value: &Bound<'_, PyAny>, expected: &str) -> PyErr {
    let shown = value
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    SgdmError::new_err(format!("{name} = {shown} is invalid: expected {expected}"))
}

/// Typed access to one spec dict; every error names the key.
struct Spec<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
    kind: String,
}

impl<'py> Spec<'_, 'py> {
    fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    fn missing(&self, key: &str, expected: &str) -> PyErr {
        SgdmError::new_err(format!(
            "{key} is missing: the {} schedule requires it ({expected})",
            self.kind
        ))
    }

    fn opt_f64(&self, key: &str) -> PyResult<Option<f64>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if v.is_instance_of::<PyBool>() => Err(bad(key, &v, "a number")),
            Some(v) => v.extract::<f64>().map(Some).map_err(|_| bad(key, &v, "a number")),
        }
    }

    fn f64(&self, key: &str) -> PyResult<f64> {
        self.opt_f64(key)?.ok_or_else(|| self.missing(key, "a number"))
    }

    fn f64_or(&self, key: &str, default: f64) -> PyResult<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    fn opt_u64(&self, key: &str) -> PyResult<Option<u64>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if v.is_instance_of::<PyBool>() => Err(bad(key, &v, "an integer >= 1")),
            Some(v) => v
                .extract::<u64>()
                .map(Some)
                .map_err(|_| bad(key, &v, "an integer >= 1")),
        }
    }

    fn u64(&self, key: &str) -> PyResult<u64> {
        self.opt_u64(key)?.ok_or_else(|| self.missing(key, "an integer >= 1"))
    }

    fn u64_list(&self, key: &str) -> PyResult<Vec<u64>> {
        let Some(v) = self.get(key)? else {
            return Ok(Vec::new());
        };
        let items: Vec<Bound<'py, PyAny>> = if let Ok(l) = v.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = v.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            return Err(bad(key, &v, "a list of integers"));
        };
        items
            .iter()
            .map(|x| {
                if x.is_instance_of::<PyBool>() {
                    return Err(bad(key, &v, "a list of integers >= 0"));
                }
                x.extract::<u64>().map_err(|_| bad(key, &v, "a list of integers >= 0"))
            })
            .collect()
    }

    fn unit(&self, default: Unit) -> PyResult<Unit> {
        match self.get("unit")? {
            None => Ok(default),
            Some(v) => {
                let s: String = v.extract().map_err(|_| bad("unit", &v, "'step' or 'epoch'"))?;
                Unit::parse("unit", &s).map_err(to_py)
            }
        }
    }
}

fn spec_of<'a, 'py>(dict: &'a Bound<'py, PyDict>, what: &str) -> PyResult<Spec<'a, 'py>> {
    let kind = match dict.get_item("type")? {
        None => {
            return Err(SgdmError::new_err(format!(
                "type is missing: a {what} spec needs a 'type' key"
            )))
        }
        Some(v) => v
            .extract::<String>()
            .map_err(|_| bad("type", &v, "a schedule name (a string)"))?,
    };
    Ok(Spec { dict, kind })
}

const LR_KINDS: &str = "'constant', 'diminishing', 'cosine', 'linear', 'polynomial', \
    'exp_growth', 'warmup_constant', 'warmup_cosine', 'step_decay', 'multi_step_decay', \
    'exponential_decay', 'one_cycle', 'cosine_restarts' or 'join'";

const BATCH_KINDS: &str = "'constant', 'exp_growth' or 'piecewise'";

fn parse_lr(dict: &Bound<'_, PyDict>) -> PyResult<CoreLr> {
    let s = spec_of(dict, "learning-rate schedule")?;
    let lr = match s.kind.as_str() {
        "constant" => CoreLr::Constant { value: s.f64("value")? },
        "diminishing" => CoreLr::Diminishing { init_value: s.f64("init_value")? },
        "cosine" => CoreLr::Cosine {
            init_value: s.f64("init_value")?,
            min_value: s.f64_or("min_value", 0.0)?,
            epochs: s.opt_u64("epochs")?,
        },
        "linear" => CoreLr::Linear {
            init_value: s.f64("init_value")?,
            total_steps: s.opt_u64("total_steps")?,
        },
        "polynomial" => CoreLr::Polynomial {
            init_value: s.f64("init_value")?,
            power: s.f64_or("power", 2.0)?,
            total_steps: s.opt_u64("total_steps")?,
        },
        "exp_growth" => CoreLr::ExpGrowth {
            init_value: s.f64("init_value")?,
            interval: s.u64("interval")?,
            max_value: s.opt_f64("max_value")?,
            growth_rate: s.opt_f64("growth_rate")?,
            epochs: s.opt_u64("epochs")?,
        },
        "warmup_constant" => CoreLr::WarmupConstant {
            init_value: s.f64("init_value")?,
            warmup_epochs: s.u64("warmup_epochs")?,
            warmup_interval: s.u64("warmup_interval")?,
            max_value: s.opt_f64("max_value")?,
            growth_rate: s.opt_f64("growth_rate")?,
        },
        "warmup_cosine" => CoreLr::WarmupCosine {
            init_value: s.f64("init_value")?,
            warmup_epochs: s.u64("warmup_epochs")?,
            warmup_interval: s.u64("warmup_interval")?,
            max_value: s.opt_f64("max_value")?,
            growth_rate: s.opt_f64("growth_rate")?,
            min_value: s.f64_or("min_value", 0.0)?,
            epochs: s.opt_u64("epochs")?,
        },
        "step_decay" => CoreLr::StepDecay {
            init_value: s.f64("init_value")?,
            decay_rate: s.f64("decay_rate")?,
            step_size: s.u64("step_size")?,
            unit: s.unit(Unit::Epoch)?,
        },
        "multi_step_decay" => CoreLr::MultiStepDecay {
            init_value: s.f64("init_value")?,
            decay_rate: s.f64("decay_rate")?,
            milestones: s.u64_list("milestones")?,
            unit: s.unit(Unit::Epoch)?,
        },
        "exponential_decay" => CoreLr::ExponentialDecay {
            init_value: s.f64("init_value")?,
            decay_rate: s.f64("decay_rate")?,
            unit: s.unit(Unit::Epoch)?,
        },
        "one_cycle" => CoreLr::OneCycle {
            peak_value: s.f64("peak_value")?,
            pct_start: s.f64_or("pct_start", 0.3)?,
            div_factor: s.f64_or("div_factor", 25.0)?,
            final_div_factor: s.f64_or("final_div_factor", 1e4)?,
            total: s.opt_u64("total")?,
            unit: s.unit(Unit::Step)?,
        },
        "cosine_restarts" => CoreLr::CosineRestarts {
            init_value: s.f64("init_value")?,
            min_value: s.f64_or("min_value", 0.0)?,
            period: s.u64("period")?,
            period_mult: s.f64_or("period_mult", 1.0)?,
            unit: s.unit(Unit::Epoch)?,
        },
        "join" => {
            let pieces = match s.get("pieces")? {
                None => return Err(s.missing("pieces", "a list of schedule specs")),
                Some(v) => {
                    let list = v
                        .cast::<PyList>()
                        .map_err(|_| bad("pieces", &v, "a list of schedule specs (dicts)"))?;
                    list.iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let d = p.cast::<PyDict>().map_err(|_| {
                                bad(&format!("pieces[{i}]"), &p, "a schedule spec (a dict)")
                            })?;
                            parse_lr(d)
                        })
                        .collect::<PyResult<Vec<_>>>()?
                }
            };
            CoreLr::join(pieces, s.u64_list("boundaries")?, s.unit(Unit::Epoch)?)
        }
        other => {
            return Err(SgdmError::new_err(format!(
                "type = {other:?} is invalid: expected {LR_KINDS}"
            )))
        }
    };
    lr.validate().map_err(to_py)?;
    Ok(lr)
}

fn parse_batch(dict: &Bound<'_, PyDict>) -> PyResult<CoreBatch> {
    let s = spec_of(dict, "batch-size schedule")?;
    let b = match s.kind.as_str() {
        "constant" => CoreBatch::Constant { size: s.u64("size")? },
        "exp_growth" => CoreBatch::ExpGrowth {
            init_size: s.u64("init_size")?,
            growth_rate: s.f64("growth_rate")?,
            interval: s.u64("interval")?,
            max_size: s.opt_u64("max_size")?,
            epochs: s.opt_u64("epochs")?,
        },
        "piecewise" => CoreBatch::Piecewise {
            sizes: s.u64_list("sizes")?,
            boundaries: s.u64_list("boundaries")?,
        },
        other => {
            return Err(SgdmError::new_err(format!(
                "type = {other:?} is invalid: expected {BATCH_KINDS}"
            )))
        }
    };
    b.validate().map_err(to_py)?;
    Ok(b)
}

fn check_scalar_clock(name: &str, x: i64) -> PyResult<u64> {
    u64::try_from(x).map_err(|_| {
        SgdmError::new_err(format!(
            "{name} = {x} is invalid: expected an integer >= 0 (clock values count from 0)"
        ))
    })
}

/// A learning-rate schedule evaluated in the core; built from its spec dict.
#[derive(Debug)]
#[pyclass(frozen, module = "sgdm._sgdm")]
pub struct LrSchedule {
    inner: CoreLr,
}

#[pymethods]
impl LrSchedule {
    #[new]
    fn new(spec: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(LrSchedule { inner: parse_lr(spec)? })
    }

    /// The family name (`"cosine"`, ...).
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// Whether the value can change within an epoch.
    #[getter]
    fn uses_step(&self) -> bool {
        self.inner.uses_step()
    }

    /// Whether the value reads the epoch clock.
    #[getter]
    fn uses_epoch(&self) -> bool {
        self.inner.uses_epoch()
    }

    /// Raise unless every run length the schedule needs is known.
    fn check_ready(&self) -> PyResult<()> {
        self.inner.check_ready().map_err(to_py)
    }

    /// The learning rate at global step `step` in epoch `epoch`.
    fn value(&self, step: Int<i64>, epoch: Int<i64>) -> PyResult<f64> {
        let t = check_scalar_clock("step", step.0)?;
        let e = check_scalar_clock("epoch", epoch.0)?;
        self.inner.check_ready().map_err(to_py)?;
        Ok(self.inner.value(t, e))
    }

    /// Vectorised `value` over equal-length int64 arrays.
    fn values<'py>(
        &self,
        py: Python<'py>,
        steps: PyReadonlyArray1<'py, i64>,
        epochs: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let s = steps.as_slice().map_err(|_| SgdmError::new_err("steps must be contiguous"))?;
        let e = epochs.as_slice().map_err(|_| SgdmError::new_err("epochs must be contiguous"))?;
        let mut out = vec![0.0f64; s.len()];
        let inner = &self.inner;
        let result = if s.len() >= RELEASE_GIL_MIN_LEN {
            py.detach(|| inner.values(s, e, &mut out))
        } else {
            inner.values(s, e, &mut out)
        };
        result.map_err(to_py)?;
        Ok(PyArray1::from_vec(py, out))
    }
}

/// A batch-size schedule evaluated in the core; built from its spec dict.
#[derive(Debug)]
#[pyclass(frozen, module = "sgdm._sgdm")]
pub struct BatchSchedule {
    inner: CoreBatch,
}

#[pymethods]
impl BatchSchedule {
    #[new]
    fn new(spec: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(BatchSchedule { inner: parse_batch(spec)? })
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn check_ready(&self) -> PyResult<()> {
        self.inner.check_ready().map_err(to_py)
    }

    /// The batch size of epoch `epoch` (before capping at the dataset size).
    fn size(&self, epoch: Int<i64>) -> PyResult<i64> {
        let e = check_scalar_clock("epoch", epoch.0)?;
        self.inner.check_ready().map_err(to_py)?;
        Ok(self.inner.size(e).min(i64::MAX as u64) as i64)
    }

    /// Vectorised `size` over an int64 array of epochs.
    fn sizes<'py>(
        &self,
        py: Python<'py>,
        epochs: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let e = epochs.as_slice().map_err(|_| SgdmError::new_err("epochs must be contiguous"))?;
        let mut out = vec![0i64; e.len()];
        self.inner.sizes(e, &mut out).map_err(to_py)?;
        Ok(PyArray1::from_vec(py, out))
    }
}

/// Lay out a run in the core; returns a dict of NumPy arrays and totals.
#[pyfunction]
fn build_plan<'py>(
    py: Python<'py>,
    n_samples: Int<i64>,
    epochs: Int<i64>,
    batch: &BatchSchedule,
    lr: &LrSchedule,
) -> PyResult<Bound<'py, PyDict>> {
    let (n_samples, epochs) = (n_samples.0, epochs.0);
    let n = u64::try_from(n_samples)
        .map_err(|_| SgdmError::new_err(format!("n_samples = {n_samples} is invalid: expected an integer >= 1")))?;
    let e = u64::try_from(epochs)
        .map_err(|_| SgdmError::new_err(format!("epochs = {epochs} is invalid: expected an integer >= 1")))?;
    let (b, l) = (&batch.inner, &lr.inner);
    let plan = py.detach(|| Plan::build(n, e, b, l)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("n_samples", plan.n_samples)?;
    d.set_item("epochs", plan.epochs)?;
    d.set_item("total_steps", plan.total_steps)?;
    d.set_item("sfo", plan.sfo)?;
    d.set_item("batch_sizes", PyArray1::from_vec(py, plan.batch_sizes))?;
    d.set_item("steps_per_epoch", PyArray1::from_vec(py, plan.steps_per_epoch))?;
    d.set_item("epoch_starts", PyArray1::from_vec(py, plan.epoch_starts))?;
    d.set_item("learning_rates", PyArray1::from_vec(py, plan.learning_rates))?;
    d.set_item("lr_schedule", Bound::new(py, LrSchedule { inner: plan.lr })?)?;
    d.set_item("batch_schedule", Bound::new(py, BatchSchedule { inner: plan.batch })?)?;
    Ok(d)
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| SgdmError::new_err(format!("{name} must be a contiguous 1-D array")))
}

/// The epoch of every step, from the plan's `steps_per_epoch`.
#[pyfunction]
fn plan_epoch_of_step<'py>(
    py: Python<'py>,
    steps_per_epoch: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let s = slice(&steps_per_epoch, "steps_per_epoch")?;
    let out = py.detach(|| sgdm_core::plan::epoch_of_step(s)).map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

/// The actual batch size of every step (partial last batches included).
#[pyfunction]
fn plan_batch_size_of_step<'py>(
    py: Python<'py>,
    n_samples: Int<i64>,
    batch_sizes: PyReadonlyArray1<'py, i64>,
    steps_per_epoch: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let b = slice(&batch_sizes, "batch_sizes")?;
    let s = slice(&steps_per_epoch, "steps_per_epoch")?;
    let out = py
        .detach(|| sgdm_core::plan::batch_size_of_step(n_samples.0, b, s))
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, out))
}

type Sums<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Running sums (Σ η, Σ η/b, Σ η²/b), inclusive of each step.
#[pyfunction]
fn plan_running_sums<'py>(
    py: Python<'py>,
    learning_rates: PyReadonlyArray1<'py, f64>,
    batch_size_of_step: PyReadonlyArray1<'py, i64>,
) -> PyResult<Sums<'py>> {
    let l = slice(&learning_rates, "learning_rates")?;
    let b = slice(&batch_size_of_step, "batch_size_of_step")?;
    let (a, w, v) = py.detach(|| sgdm_core::plan::running_sums(l, b)).map_err(to_py)?;
    Ok((PyArray1::from_vec(py, a), PyArray1::from_vec(py, w), PyArray1::from_vec(py, v)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LrSchedule>()?;
    m.add_class::<BatchSchedule>()?;
    m.add_function(wrap_pyfunction!(build_plan, m)?)?;
    m.add_function(wrap_pyfunction!(plan_epoch_of_step, m)?)?;
    m.add_function(wrap_pyfunction!(plan_batch_size_of_step, m)?)?;
    m.add_function(wrap_pyfunction!(plan_running_sums, m)?)?;
    Ok(())
}
