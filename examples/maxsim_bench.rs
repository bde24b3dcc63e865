//! Single-thread timing of the MaxSim kernel (`kernels::maxsim`) on
//! Float32 tokens: `cargo run --release --example maxsim_bench [docs]
//! [tokens] [d] [query tokens]` (default 4,000 documents of 40 tokens of
//! 128 numbers, a 32-token query). Prints G multiply-adds per second of the
//! screen's products (per CPU second of this thread) and the CPU level.

use polars_mlkit::kernels::cpu;
use polars_mlkit::kernels::maxsim::{MaxSimQuery, MaxSimToken, Scratch};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let get = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (docs, tokens, d, n_q) = (get(0, 4_000), get(1, 40), get(2, 128), get(3, 32));
    let numbers = |count: usize, seed: usize| -> Vec<f32> {
        (0..count)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 500.0)
            .collect()
    };
    let corpus = numbers(docs * tokens * d, 1);
    let query = MaxSimQuery::new(numbers(n_q * d, 2), n_q, d).expect("query shape");
    let mut scratch = Scratch::default();
    let mut best = f64::INFINITY;
    let mut sink = 0.0;
    let mut best_cpu = f64::INFINITY;
    for _ in 0..7 {
        let (start, start_cpu) = (Instant::now(), thread_cpu_seconds());
        for doc in corpus.chunks_exact(tokens * d) {
            sink += f32::maxsim(&query, doc, &mut scratch).unwrap_or(0.0);
        }
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(thread_cpu_seconds() - start_cpu);
    }
    let macs = (docs * tokens * d * n_q) as f64;
    println!(
        "level {:?}: {docs} docs x {tokens} x {d}, {n_q} query tokens: {:.1} ms ({:.1} ms CPU), {:.1} G MAC/s (one thread) [{sink:.1}]",
        cpu::level(),
        best * 1e3,
        best_cpu * 1e3,
        macs / best_cpu / 1e9
    );
}

/// This thread's CPU time (less disturbed than wall time on a busy machine).
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}
