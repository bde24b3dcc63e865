//! Timings of exact Float16 search: the row-by-row scan
//! (`codes::nearest_half_scan`) against the tiled kernel
//! (`half_tiles::nearest_half_tiled`, what `codes::nearest_half` runs), and
//! the Float32-screened product path `neighbors::nearest` on the same
//! Float16 rows and on the rows as Float32 (the baseline a Float16 column
//! is measured against).
//!
//! `cargo run --release --example half_bench [rows] [d] [queries] [runs]
//! [tiled]` (default 1,000,000 × 384, cosine, k = 10, queries 1, 2, 4, 8,
//! 12, 16, 32, five runs each; `tiled`: time only the tiled kernel;
//! `noscan`: leave out the scan).
//!
//! Every figure is the median of the runs, wall and CPU seconds (all
//! threads, from /proc/self/task/*/schedstat), since the machine may be
//! shared. The tiled kernel's result is checked against the scan's.

use std::time::Instant;

use polars_mlkit::kernels::codes::{nearest_half_scan, F16};
use polars_mlkit::kernels::half_tiles::{nearest_half_tiled, Kernel};
use polars_mlkit::kernels::neighbors::{self, Metric};

const K: usize = 10;

/// Reproducible numbers in [-1, 1).
fn numbers(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Seconds the process's threads have run on a CPU (Linux).
fn cpu_seconds() -> Option<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 * 1e-9)
}

/// Median wall and CPU seconds of `runs` runs.
fn median_time(runs: usize, mut run: impl FnMut()) -> (f64, f64) {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs.max(1) {
        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        run();
        let wall = start.elapsed().as_secs_f64();
        let cpu = match (cpu_start, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => wall,
        };
        walls.push(wall);
        cpus.push(cpu);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut walls), median(&mut cpus))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let d = args.get(1).copied().unwrap_or(384);
    let runs = args.get(3).copied().unwrap_or(5);
    let only_tiled = std::env::args().any(|a| a == "tiled");
    let no_scan = std::env::args().any(|a| a == "noscan");
    let metric = Metric::Cosine;
    let wide = numbers(n * d, 1);
    let corpus: Vec<F16> = wide
        .iter()
        .map(|&v| F16(half::f16::from_f32(v).to_bits()))
        .collect();
    // The Float32 rows hold the same numbers as the Float16 ones.
    let wide: Vec<f32> = corpus.iter().map(|x| x.to_f32()).collect();
    let rows: Vec<(u32, &[F16])> = corpus
        .chunks_exact(d)
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    let wide_rows: Vec<(u32, &[f32])> = wide
        .chunks_exact(d)
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    println!(
        "{n} x {d} Float16 rows, cosine, k = {K}, {} threads, kernel {:?}, median of {runs} runs",
        rayon::current_num_threads(),
        Kernel::detect()
    );
    println!("| queries | path | wall s | CPU s | Float32 / this (wall) | Float32 / this (CPU) |");
    println!("|---|---|---|---|---|---|");
    let ms: Vec<usize> = match args.get(2) {
        Some(&m) => vec![m],
        None => vec![1, 2, 4, 8, 12, 16, 32],
    };
    for m in ms {
        let queries = numbers(m * d, 1000 + m as u64);
        let queries_f64: Vec<f64> = queries.iter().map(|&v| f64::from(v)).collect();
        if only_tiled {
            let t = median_time(runs, || {
                nearest_half_tiled(&queries, m, d, K, metric, &rows);
            });
            println!("| {m} | tiled | {:.3} | {:.3} | | |", t.0, t.1);
            continue;
        }
        let baseline = median_time(runs, || {
            neighbors::nearest::<f32>(&queries_f64, m, d, K, metric, wide_rows.iter().copied());
        });
        let report = |path: &str, (wall, cpu): (f64, f64)| {
            println!(
                "| {m} | {path} | {wall:.3} | {cpu:.3} | {:.2} | {:.2} |",
                baseline.0 / wall,
                baseline.1 / cpu
            );
        };
        // The scan first, then the tiled kernel (which must agree with it).
        let mut scan = None;
        if !no_scan {
            let mut found = Vec::new();
            let t = median_time(runs, || {
                found = nearest_half_scan(&queries, m, d, K, metric, &rows)
            });
            report("scan (old nearest_half)", t);
            scan = Some(found);
        }
        let mut tiled = Vec::new();
        let t = median_time(runs, || {
            tiled = nearest_half_tiled(&queries, m, d, K, metric, &rows)
        });
        report("tiled", t);
        if let Some(scan) = scan {
            assert_eq!(tiled, scan, "tiled and scan differ at m = {m}");
        }
        let mut product = Vec::new();
        let t = median_time(runs, || {
            product = neighbors::nearest::<F16>(&queries_f64, m, d, K, metric, rows.iter().copied())
        });
        report("nearest::<F16> (product)", t);
        assert_eq!(product, tiled, "product and tiled differ at m = {m}");
        report("nearest::<f32> (Float32 rows)", baseline);
    }
}
