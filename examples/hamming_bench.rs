//! Timings of exact Hamming search over packed binary codes: the per-row
//! scan (`scans::nearest_hamming_scan`) against the blocked kernel
//! (`hamming_blocks::nearest_blocked`: AVX-512 VPOPCNTDQ at the VNNI level,
//! a row's words in registers below it; `POLARS_MLKIT_ISA` picks the level).
//!
//! `cargo run --release --example hamming_bench [rows] [width] [queries] [runs] [float]`
//! (default 1,000,000 codes of 48 bytes, k = 10, queries 1, 10, 100, 1,000,
//! 5 runs; `float`: also time `floats::nearest::<f32>` on rows of
//! `8 · width` Float32 numbers, cosine, as the search the codes replace).
//!
//! Each figure is the median of the runs. The scan is timed on the first
//! rows only when the whole corpus would take more than `SCAN_PAIRS`
//! (row, query) pairs, and scaled linearly to the whole corpus; those rows
//! are marked "scaled". Wall and CPU seconds (all threads, from
//! /proc/self/task/*/schedstat) are reported, since the machine may be
//! shared.

use polars_mlkit::kernels::search::hamming_blocks;
use polars_mlkit::kernels::search::scans::nearest_hamming_scan;
use polars_mlkit::kernels::search::{floats, Metric};

mod timing;
use timing::{bytes, median_time};

/// (row, query) pairs per timed scan run, at most.
const SCAN_PAIRS: usize = 200_000_000;
const K: usize = 10;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let width = args.get(1).copied().unwrap_or(48);
    let runs = args.get(3).copied().unwrap_or(5);
    let with_float = std::env::args().any(|a| a == "float");
    let corpus = bytes(n * width, 1);
    let rows: Vec<(u32, &[u8])> = corpus
        .chunks_exact(width)
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    let d = 8 * width;
    let wide: Vec<f32> = if with_float {
        bytes(n * d, 2)
            .iter()
            .map(|&x| f32::from(x) - 127.5)
            .collect()
    } else {
        Vec::new()
    };
    let wide_rows: Vec<(u32, &[f32])> = wide
        .chunks_exact(d.max(1))
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    println!(
        "{n} codes x {width} bytes, k = {K}, {} threads, level {:?}, median of {runs}",
        rayon::current_num_threads(),
        polars_mlkit::kernels::cpu::level()
    );
    println!(
        "| queries | path | rows timed | wall ms | CPU ms | wall ms per {n} rows | CPU ms per {n} rows | wall ns per pair | CPU ns per pair |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let ms: Vec<usize> = match args.get(2) {
        Some(&m) if m > 0 => vec![m],
        _ => vec![1, 10, 100, 1000],
    };
    for m in ms {
        let queries = bytes(m * width, 1000 + m as u64);
        let report = |path: &str, timed: usize, (wall, cpu): (f64, f64)| {
            let scale = n as f64 / timed as f64;
            let mark = if timed < n { " (scaled)" } else { "" };
            let pairs = (timed * m) as f64;
            println!(
                "| {m} | {path} | {timed}{mark} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {:.3} |",
                wall * 1e3,
                cpu * 1e3,
                wall * scale * 1e3,
                cpu * scale * 1e3,
                wall * 1e9 / pairs,
                cpu * 1e9 / pairs
            );
        };
        let scan_rows = (SCAN_PAIRS / m).clamp(1, n);
        let mut scan = Vec::new();
        let t = median_time(runs, || {
            scan = nearest_hamming_scan(&queries, m, width, K, &rows[..scan_rows])
        });
        report("scan", scan_rows, t);
        let mut blocked = None;
        let t = median_time(runs, || {
            blocked = hamming_blocks::nearest_blocked(&queries, m, width, K, &rows)
        });
        if blocked.is_some() {
            report("blocked", n, t);
            // Same answer on the scan's rows.
            let check = hamming_blocks::nearest_blocked(&queries, m, width, K, &rows[..scan_rows]);
            assert_eq!(check, Some(scan), "blocked and scan differ at m = {m}");
        }
        if with_float && m <= 100 {
            let queries_f64: Vec<f64> = bytes(m * d, 3000 + m as u64)
                .iter()
                .map(|&x| f64::from(x) - 127.5)
                .collect();
            let t = median_time(runs.min(3), || {
                floats::nearest::<f32>(
                    &queries_f64,
                    m,
                    d,
                    K,
                    Metric::Cosine,
                    wide_rows.iter().copied(),
                );
            });
            report(&format!("nearest::<f32>, d = {d}"), n, t);
        }
    }
}
