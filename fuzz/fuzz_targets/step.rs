//! The fused step on raw bytes: arbitrary settings, lengths and values. It must return Ok or
//! Err, never panic, and on Ok match the scalar recursion bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sgdm_core::{fused_step, StepConfig, Tensor, Variant};

fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 36 {
        return;
    }
    let (head, rest) = data.split_at(36);
    let s = f64s(&head[..32]);
    let c = StepConfig {
        lr: s[0],
        momentum: s[1],
        weight_decay: s[2],
        variant: if head[32] & 1 == 0 { Variant::Shb } else { Variant::Nshb },
        nesterov: head[32] & 2 != 0,
        check_finite: head[32] & 4 != 0,
    };
    let n = (head[33] as usize) % 64;
    let (dg, dm) = (head[34] % 3, head[35] % 3);
    let vals = f64s(rest);
    let take = |k: usize, off: usize| -> Vec<f64> { (0..k).map(|i| vals.get(off + i).copied().unwrap_or(s[3])).collect() };
    let len = |d: u8| if d == 1 { n.saturating_sub(1) } else if d == 2 { n + 1 } else { n };
    let (mut p, g, mut m) = (take(n, 0), take(len(dg), n), take(len(dm), 2 * n));
    let (p0, m0) = (p.clone(), m.clone());
    let r = fused_step(&mut [Tensor { param: &mut p, grad: &g, momentum: &mut m }], &c);
    match r {
        Err(_) => assert!(p.iter().zip(&p0).all(|(a, b)| a.to_bits() == b.to_bits())),
        Ok(()) => {
            let beta = c.momentum;
            let scale = if c.variant == Variant::Shb { 1.0 } else { 1.0 - beta };
            for i in 0..n {
                let d = if c.weight_decay != 0.0 { g[i] + c.weight_decay * p0[i] } else { g[i] };
                let mi = beta * m0[i] + scale * d;
                let u = if c.nesterov { d + beta * mi } else { mi };
                let pi = p0[i] - c.lr * u;
                assert!(pi.to_bits() == p[i].to_bits() || (pi.is_nan() && p[i].is_nan()));
                assert!(mi.to_bits() == m[i].to_bits() || (mi.is_nan() && m[i].is_nan()));
            }
        }
    }
});
