//! Timings of exact Int8 search (`codes::nearest_codes`): the per-row scan
//! against the blocked AVX-512 VNNI kernel and `nearest_codes` itself (on
//! AVX2, the tiled kernel), with the Float32-screened
//! `floats::nearest` on the same Int8 rows and on the rows as Float32.
//!
//! `cargo run --release --example int8_bench [rows] [d] [queries] [blocked]`
//! (default 1,000,000 × 384, cosine, k = 10, queries 1 … 1,000; `blocked`:
//! time only the blocked kernel).
//!
//! Slow configurations are timed on the first rows only (so that each run
//! does at most about `WORK` multiply-adds) and scaled linearly to the
//! whole corpus; those rows are marked "scaled". Wall and CPU seconds (all
//! threads, from /proc/self/task/*/schedstat) are reported, since the
//! machine may be shared.

use polars_mlkit::kernels::search::code_blocks;
use polars_mlkit::kernels::search::scans::nearest_codes_scan;
use polars_mlkit::kernels::search::{floats, nearest_codes, Metric};

mod timing;
use timing::time;

fn codes(count: usize, seed: u64) -> Vec<i8> {
    timing::bytes(count, seed)
        .into_iter()
        .map(|b| b as i8)
        .collect()
}

/// Multiply-adds per timed run, at most (each path's whole corpus otherwise).
const WORK: f64 = 2e11;
const K: usize = 10;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let d = args.get(1).copied().unwrap_or(384);
    let only_blocked = std::env::args().any(|a| a == "blocked");
    let metric = Metric::Cosine;
    let corpus = codes(n * d, 1);
    let wide: Vec<f32> = corpus.iter().map(|&x| f32::from(x)).collect();
    let rows: Vec<(u32, &[i8])> = corpus
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
        "{n} x {d} Int8 rows, cosine, k = {K}, {} threads, VNNI: {}",
        rayon::current_num_threads(),
        code_blocks::available()
    );
    println!("| queries | path | rows timed | wall s | CPU s | wall s per {n} rows | CPU s per {n} rows |");
    println!("|---|---|---|---|---|---|---|");
    let ms: Vec<usize> = match args.get(2) {
        Some(&m) => vec![m],
        None => vec![1, 4, 8, 10, 16, 32, 100, 1000],
    };
    for m in ms {
        let queries = codes(m * d, 1000 + m as u64);
        let queries_f64: Vec<f64> = queries.iter().map(|&x| f64::from(x)).collect();
        let sample = ((WORK / (m * d) as f64) as usize).clamp(1, n);
        let report = |path: &str, timed: usize, (wall, cpu): (f64, f64)| {
            let scale = n as f64 / timed as f64;
            let mark = if timed < n { " (scaled)" } else { "" };
            println!(
                "| {m} | {path} | {timed}{mark} | {wall:.3} | {cpu:.3} | {:.3} | {:.3} |",
                wall * scale,
                cpu * scale
            );
        };
        if only_blocked {
            let t = time(|| {
                code_blocks::nearest_blocked(&queries, m, d, K, metric, &rows[..sample]);
            });
            report("blocked (AMX or VNNI)", sample, t);
            continue;
        }
        // The scan costs about 5x more per pair: fewer rows for it.
        let scan_rows = (sample / 5).max(1);
        let mut scan = Vec::new();
        let t = time(|| scan = nearest_codes_scan(&queries, m, d, K, metric, &rows[..scan_rows]));
        report("scan", scan_rows, t);
        // What Int8 `nearest` runs for few queries: the blocked kernel with
        // VNNI, the tiled kernel on AVX2, else the scan.
        let mut searched = Vec::new();
        let t = time(|| searched = nearest_codes(&queries, m, d, K, metric, &rows[..sample]));
        report("nearest_codes", sample, t);
        if sample == scan_rows {
            assert_eq!(searched, scan, "nearest_codes and scan differ at m = {m}");
        }
        let mut blocked = None;
        let t = time(|| {
            blocked = code_blocks::nearest_blocked(&queries, m, d, K, metric, &rows[..sample])
        });
        if blocked.is_some() {
            report("blocked (AMX or VNNI)", sample, t);
        }
        // Same answer on the scan's rows.
        if let Some(check) =
            code_blocks::nearest_blocked(&queries, m, d, K, metric, &rows[..scan_rows])
        {
            assert_eq!(check, scan, "blocked and scan differ at m = {m}");
        }
        let t = time(|| {
            floats::nearest::<i8>(
                &queries_f64,
                m,
                d,
                K,
                metric,
                rows[..sample].iter().copied(),
            );
        });
        report("nearest::<i8> (f32 screen)", sample, t);
        let t = time(|| {
            floats::nearest::<f32>(
                &queries_f64,
                m,
                d,
                K,
                metric,
                wide_rows[..sample].iter().copied(),
            );
        });
        report("nearest::<f32>", sample, t);
    }
}
