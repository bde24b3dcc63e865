//! What the timing examples share: reproducible data and wall / CPU timers.
//! CPU time (all threads, from /proc/self/task/*/schedstat) is reported
//! next to wall time, so that timings on a shared machine can leave out
//! what other processes took.

// Each example uses only some of these.
#![allow(dead_code)]

use std::time::Instant;

/// An xorshift generator's successive states from `seed`.
fn states(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Reproducible numbers in [-1, 1).
pub fn numbers(count: usize, seed: u64) -> Vec<f32> {
    let mut next = states(seed);
    (0..count)
        .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

/// Reproducible bytes.
pub fn bytes(count: usize, seed: u64) -> Vec<u8> {
    let mut next = states(seed);
    (0..count).map(|_| (next() >> 56) as u8).collect()
}

/// Seconds the process's threads have run on a CPU (Linux).
pub fn cpu_seconds() -> Option<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 * 1e-9)
}

/// Wall and CPU seconds of one run.
pub fn time(run: impl FnOnce()) -> (f64, f64) {
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    run();
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall,
    };
    (wall, cpu)
}

/// The median of `values` (NaN when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median wall and CPU seconds of `runs` runs (at least one; each median
/// on its own).
pub fn median_time(runs: usize, mut run: impl FnMut()) -> (f64, f64) {
    let (walls, cpus): (Vec<f64>, Vec<f64>) = (0..runs.max(1)).map(|_| time(&mut run)).unzip();
    (median(walls), median(cpus))
}
