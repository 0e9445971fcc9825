use sgdm_core::{BatchSchedule, LrSchedule, Plan};
use std::time::Instant;
fn med(mut f: impl FnMut()) -> f64 {
    let mut ts = vec![];
    for _ in 0..30 {
        let t = Instant::now();
        f();
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ts[15]
}
fn main() {
    let b = BatchSchedule::ExpGrowth { init_size: 8, growth_rate: 2.0, interval: 30, max_size: None, epochs: None };
    let l = LrSchedule::Polynomial { init_value: 0.1, power: 2.0, total_steps: None };
    println!("plan poly {:.3} ms", med(|| { std::hint::black_box(Plan::build(50_000, 300, &b, &l).unwrap()); }));
    let steps: Vec<i64> = (0..1_000_000).collect();
    let epochs: Vec<i64> = steps.iter().map(|t| t / 1000).collect();
    let mut out = vec![0.0; steps.len()];
    println!("raw copy-convert {:.3}", med(|| { for (o, &t) in out.iter_mut().zip(&steps) { *o = t as f64; } std::hint::black_box(&out); }));
    println!("raw sum {:.3}", med(|| { std::hint::black_box(steps.iter().sum::<i64>()); }));
    let small: Vec<i64> = (0..16384).collect();
    let mut so = vec![0.0; 16384];
    println!("cached 16k x61 {:.3}", med(|| { for _ in 0..61 { for (o, &t) in so.iter_mut().zip(&small) { *o = 0.1 * (1.0 - t as f64 / 1e6); } std::hint::black_box(&so); } }));
    for l in [
        LrSchedule::Linear { init_value: 0.1, total_steps: Some(1_000_000) },
        LrSchedule::Diminishing { init_value: 0.1 },
        LrSchedule::Polynomial { init_value: 0.1, power: 2.0, total_steps: Some(1_000_000) },
        LrSchedule::Cosine { init_value: 0.1, min_value: 0.0, epochs: Some(1000) },
    ] {
        let mut out = vec![0.0; steps.len()];
        let t1 = med(|| l.values(&steps, &epochs, &mut out).unwrap());
        let t2 = med(|| { let mut o = vec![0.0; steps.len()]; l.values(&steps, &epochs, &mut o).unwrap(); std::hint::black_box(o); });
        println!("{} reuse {:.3} fresh {:.3}", l.kind(), t1, t2);
    }
}
#[allow(dead_code)]
fn raw() {}
