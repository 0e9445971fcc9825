//! STREAM triad (a = b + s·c) in f32, the memory-bandwidth yardstick of `benches/bench_step.py`.
//!
//! Usage: `stream_triad [n_elements] [threads] [repeats]`; prints the median bandwidth in GB/s
//! counting three streams (read b, read c, write a), as STREAM does.

use std::time::Instant;

use rayon::prelude::*;

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg(1, 10_000_000);
    let threads = arg(2, 1);
    let repeats = arg(3, 15);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let (mut a, b, c) = (vec![0.0f32; n], vec![1.0f32; n], vec![2.0f32; n]);
    let s = 3.0f32;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        pool.install(|| {
            a.par_chunks_mut(1 << 16)
                .zip(b.par_chunks(1 << 16))
                .zip(c.par_chunks(1 << 16))
                .for_each(|((a, b), c)| {
                    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + s * c;
                    }
                })
        });
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(|x, y| x.total_cmp(y));
    let median = times[times.len() / 2];
    println!("{:.3}", 3.0 * 4.0 * n as f64 / median / 1e9);
    std::hint::black_box(&a);
    Ok(())
}
