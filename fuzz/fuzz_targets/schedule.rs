//! Schedules and plans from raw bytes: validation, evaluation at arbitrary clocks and small
//! plans must never panic or hang; valid schedules never give NaN or a negative rate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sgdm_core::{BatchSchedule, LrSchedule, Plan, Unit};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u64(&mut self) -> u64 {
        let (a, b) = self.0.split_at(self.0.len().min(8));
        self.0 = b;
        let mut x = [0u8; 8];
        x[..a.len()].copy_from_slice(a);
        u64::from_le_bytes(x)
    }
    fn f64(&mut self) -> f64 {
        f64::from_bits(self.u64())
    }
    fn small(&mut self) -> u64 {
        self.u64() % 64
    }
    fn opt(&mut self) -> Option<u64> {
        let x = self.u64();
        (x % 3 != 0).then_some(x >> 2)
    }
    fn unit(&mut self) -> Unit {
        if self.u64() % 2 == 0 { Unit::Step } else { Unit::Epoch }
    }
}

fn lr(b: &mut Bytes<'_>) -> LrSchedule {
    match b.u64() % 13 {
        0 => LrSchedule::Constant { value: b.f64() },
        1 => LrSchedule::Diminishing { init_value: b.f64() },
        2 => LrSchedule::Cosine { init_value: b.f64(), min_value: b.f64(), epochs: b.opt() },
        3 => LrSchedule::Linear { init_value: b.f64(), total_steps: b.opt() },
        4 => LrSchedule::Polynomial { init_value: b.f64(), power: b.f64(), total_steps: b.opt() },
        5 => LrSchedule::ExpGrowth { init_value: b.f64(), interval: b.u64(), max_value: Some(b.f64()), growth_rate: Some(b.f64()), epochs: b.opt() },
        6 => LrSchedule::WarmupConstant { init_value: b.f64(), warmup_epochs: b.small(), warmup_interval: b.small(), max_value: Some(b.f64()), growth_rate: None },
        7 => LrSchedule::WarmupCosine { init_value: b.f64(), warmup_epochs: b.small(), warmup_interval: b.small(), max_value: None, growth_rate: Some(b.f64()), min_value: b.f64(), epochs: b.opt() },
        8 => LrSchedule::StepDecay { init_value: b.f64(), decay_rate: b.f64(), step_size: b.u64(), unit: b.unit() },
        9 => LrSchedule::MultiStepDecay { init_value: b.f64(), decay_rate: b.f64(), milestones: vec![b.small(), b.u64()], unit: b.unit() },
        10 => LrSchedule::ExponentialDecay { init_value: b.f64(), decay_rate: b.f64(), unit: b.unit() },
        11 => LrSchedule::OneCycle { peak_value: b.f64(), pct_start: b.f64(), div_factor: b.f64(), final_div_factor: b.f64(), total: b.opt(), unit: b.unit() },
        _ => LrSchedule::CosineRestarts { init_value: b.f64(), min_value: b.f64(), period: b.u64(), period_mult: b.f64(), unit: b.unit() },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let s = lr(&mut b);
    let (t, e) = (b.u64(), b.u64());
    if s.validate().is_ok() && s.check_ready().is_ok() {
        let v = s.value(t, e);
        assert!(!v.is_nan() && v >= 0.0, "{s:?} at ({t}, {e}) gave {v}");
    }
    let batch = BatchSchedule::ExpGrowth { init_size: b.u64(), growth_rate: b.f64(), interval: b.u64(), max_size: b.opt(), epochs: b.opt() };
    if batch.validate().is_ok() && batch.check_ready().is_ok() {
        assert!(batch.size(e) >= 1);
    }
    let _ = Plan::build(b.u64() % 500 + 1, b.u64() % 20 + 1, &batch, &s);
});
