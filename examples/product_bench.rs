//! Timings of the score products of `nearest`: the `gemm` crate (the
//! product before `kernels::product`) against the kernel `nearest` now
//! picks, then `nearest` itself.
//!
//! `cargo run --release --example product_bench [quick]`
//!
//! Every figure is the median of several runs. The corpus has 100,000 rows
//! in blocks of 256; with many queries only the first blocks are timed (the
//! rate is per block, so it does not change), to keep a run to minutes.

use polars_mlkit::kernels::search::product::{gemm_product, Kernel, ProductFloat, Queries};
use polars_mlkit::kernels::search::rows::{QUERY_CHUNK, ROW_BLOCK};
use polars_mlkit::kernels::search::{floats, Metric};
use rayon::prelude::*;

mod timing;
use timing::{median_time, numbers};

/// Median wall-clock and CPU seconds of `runs` runs, after a warm-up run.
fn median_seconds(runs: usize, mut run: impl FnMut()) -> (f64, f64) {
    run();
    median_time(runs, run)
}

const ROWS: usize = 100_000;
/// Floating-point operations per timed run, at most (about a second).
const WORK: f64 = 1e11;

/// How the blocks of `corpus` are multiplied.
#[derive(Clone, Copy, PartialEq)]
enum Method {
    /// `gemm_product(queries, blockᵀ)` into `m × b`, as before.
    Gemm,
    /// `Queries::scores` into `b × m` in chunks of queries, with the
    /// kernel `nearest` picks.
    New,
}

/// One pass of every block of `corpus` (row-major, `d` wide) against the
/// queries, on one thread or split into rayon parts of `PART` rows.
fn pass<S: ProductFloat>(
    method: Method,
    queries: &[S],
    m: usize,
    d: usize,
    corpus: &[S],
    parallel: bool,
) {
    let part = |rows: &[S]| {
        let mut out = vec![S::ZERO; m * ROW_BLOCK];
        // As `nearest`: chunks of at most QUERY_CHUNK queries.
        let chunks: Vec<Queries<S>> = match method {
            Method::Gemm => Vec::new(),
            Method::New => queries
                .chunks(QUERY_CHUNK * d.max(1))
                .filter_map(|chunk| Queries::new(chunk, chunk.len() / d.max(1), d))
                .collect(),
        };
        for block in rows.chunks(ROW_BLOCK * d) {
            let b = block.len() / d;
            match method {
                Method::Gemm => assert!(gemm_product(
                    queries,
                    m,
                    d,
                    block,
                    b,
                    true,
                    &mut out[..m * b]
                )),
                Method::New => {
                    for chunk in &chunks {
                        assert!(chunk.scores(block, b, &mut out[..chunk.count() * b]));
                    }
                }
            }
        }
    };
    if parallel {
        // Rows per rayon part, as in `nearest`.
        let rows = corpus.len() / d.max(1);
        let part_rows = (rows / (4 * rayon::current_num_threads()))
            .next_multiple_of(ROW_BLOCK)
            .max(ROW_BLOCK * 16);
        corpus.par_chunks(part_rows * d).for_each(part);
    } else {
        part(corpus);
    }
}

fn product_table<S: ProductFloat + From<f32>>(
    label: &str,
    ms: &[usize],
    ds: &[usize],
    runs: usize,
) {
    let threads = rayon::current_num_threads();
    println!("\n{label} scores, GFLOPS (gemm crate -> new; speed-up)");
    println!(
        "| m | d | kernel | blocks | 1 thread | 1 thread, CPU time | {threads} threads | {threads} threads, CPU time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &d in ds {
        let corpus: Vec<S> = numbers(ROWS * d, d as u64)
            .into_iter()
            .map(S::from)
            .collect();
        for &m in ms {
            let queries: Vec<S> = numbers(m * d, 7).into_iter().map(S::from).collect();
            let per_block = 2.0 * (m * ROW_BLOCK * d) as f64;
            let all_blocks = ROWS.div_ceil(ROW_BLOCK);
            let blocks = ((WORK / per_block).ceil() as usize).clamp(threads * 16, all_blocks);
            let runs = if m >= 2000 { 3 } else { runs };
            let rows = (blocks * ROW_BLOCK).min(ROWS);
            let corpus = &corpus[..rows * d];
            let flops = 2.0 * (m * rows * d) as f64;
            let mut cells = Vec::new();
            for parallel in [false, true] {
                let used = if parallel { threads } else { 1 };
                let old = median_seconds(runs, || {
                    pass(Method::Gemm, &queries, m, d, corpus, parallel)
                });
                let new =
                    median_seconds(runs, || pass(Method::New, &queries, m, d, corpus, parallel));
                // Wall clock, and CPU time per thread used.
                for (old, new) in [(old.0, new.0), (old.1 / used as f64, new.1 / used as f64)] {
                    cells.push(format!(
                        "{:.0} -> {:.0} ({:.2}x)",
                        flops / old / 1e9,
                        flops / new / 1e9,
                        old / new
                    ));
                }
            }
            println!(
                "| {m} | {d} | {:?} | {} | {} |",
                Kernel::fastest::<f32>(m),
                rows.div_ceil(ROW_BLOCK),
                cells.join(" | ")
            );
        }
    }
}

/// The whole `nearest` (cosine, k = 10) over Float32 rows.
fn nearest_table(ms: &[usize], ds: &[usize], runs: usize) {
    println!(
        "\nnearest, Float32 rows, cosine, k = 10, {} rows, all threads: seconds",
        ROWS
    );
    println!("| m | d | seconds | CPU seconds | GFLOPS of its product |");
    println!("|---|---|---|---|---|");
    for &d in ds {
        let corpus = numbers(ROWS * d, d as u64);
        for &m in ms {
            let queries: Vec<f64> = numbers(m * d, 7).into_iter().map(f64::from).collect();
            let runs = if m >= 2000 { 1 } else { runs };
            let (seconds, cpu) = median_seconds(runs, || {
                let rows = corpus
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(i, r)| (i as u32, r));
                let found = floats::nearest(&queries, m, d, 10, Metric::Cosine, rows);
                assert_eq!(found.len(), m);
            });
            let flops = 2.0 * (m * ROWS * d) as f64;
            println!(
                "| {m} | {d} | {seconds:.3} | {cpu:.3} | {:.0} |",
                flops / seconds / 1e9
            );
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let (ms, ds, runs): (&[usize], &[usize], usize) = if quick {
        (&[1, 10, 200, 2000], &[384], 3)
    } else {
        (&[1, 10, 200, 2000, 20000], &[384, 768], 5)
    };
    let only = std::env::args().nth(1).unwrap_or_default();
    if only != "nearest" {
        product_table::<f32>("f32", ms, ds, runs);
        product_table::<f64>("f64", ms, ds, runs);
    }
    if only != "products" {
        nearest_table(ms, ds, runs);
    }
}
