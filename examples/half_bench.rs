//! Timings of exact Float16 search: the row-by-row scan
//! (`codes::nearest_half_scan`) against the tiled kernel
//! (`half_tiles::nearest_half_tiled`, what `codes::nearest_half` runs), and
//! the Float32-screened product path `floats::nearest` on the same
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

use polars_mlkit::kernels::element::F16;
use polars_mlkit::kernels::search::half_tiles::{nearest_half_tiled, Kernel};
use polars_mlkit::kernels::search::scans::nearest_half_scan;
use polars_mlkit::kernels::search::{floats, Metric};

mod timing;
use timing::{median_time, numbers};

const K: usize = 10;

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
            floats::nearest::<f32>(&queries_f64, m, d, K, metric, wide_rows.iter().copied());
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
            product = floats::nearest::<F16>(&queries_f64, m, d, K, metric, rows.iter().copied())
        });
        report("nearest::<F16> (product)", t);
        assert_eq!(product, tiled, "product and tiled differ at m = {m}");
        report("nearest::<f32> (Float32 rows)", baseline);
    }
}
