//! Timings of the whole exact search `floats::nearest` on Float32 rows:
//! query preparation, the score products, the Float32 screen, the exact
//! rescoring of the candidates and the merge of the threads' parts.
//!
//! `cargo run --release --example nearest_bench [rows] [d …] [queries=Q …]
//! [metric=cosine|dot|euclidean] [runs=R] [clusters=C]`
//!
//! Defaults: 100,000 rows, d = 384 and 768, 1, 10, 200, 2,000 and 20,000
//! queries, cosine, k = 10, the median of 3 runs (after one warm-up run
//! below 20,000 queries). Rows and queries are uniform in [-1, 1)^d, or
//! with `clusters=C` a random one of C centres plus noise a third as large
//! (neighbours then crowd near each query's k-th score, as in real
//! embeddings). Wall and CPU seconds (all threads, from
//! /proc/self/task/*/schedstat) are reported, since the machine may be
//! shared.

use polars_mlkit::kernels::search::{floats, Metric};

mod timing;
use timing::{median, numbers, time};

const K: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .filter_map(|a| a.strip_prefix(name)?.strip_prefix('='))
            .collect::<Vec<_>>()
    };
    let plain: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let n = plain.first().copied().unwrap_or(100_000);
    let ds: Vec<usize> = match plain.get(1..) {
        Some(rest) if !rest.is_empty() => rest.to_vec(),
        _ => vec![384, 768],
    };
    let ms: Vec<usize> = {
        let given: Vec<usize> = value("queries")
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        if given.is_empty() {
            vec![1, 10, 200, 2_000, 20_000]
        } else {
            given
        }
    };
    let metric = match value("metric").first().copied() {
        Some("dot") => Metric::Dot,
        Some("euclidean") => Metric::Euclidean,
        _ => Metric::Cosine,
    };
    let runs: usize = value("runs")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let clusters: usize = value("clusters")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Each vector (of `count`) a centre plus noise, or uniform.
    let vectors = |count: usize, d: usize, seed: u64| -> Vec<f32> {
        let mut values = numbers(count * d, seed);
        if clusters > 0 {
            let centres = numbers(clusters * d, 7);
            let picks = numbers(count, seed + 1);
            for (row, pick) in values.chunks_exact_mut(d).zip(picks) {
                let c = ((pick + 1.0) / 2.0 * clusters as f32) as usize % clusters;
                for (v, &m) in row.iter_mut().zip(&centres[c * d..(c + 1) * d]) {
                    *v = m + *v / 3.0;
                }
            }
        }
        values
    };
    println!(
        "{n} Float32 rows, {metric:?}, k = {K}, {} threads, median of {runs}, clusters: {clusters}",
        rayon::current_num_threads()
    );
    println!("| d | queries | wall ms | CPU ms |");
    println!("|---|---|---|---|");
    for &d in &ds {
        let mut corpus = vectors(n, d, 1 + d as u64);
        if metric == Metric::Cosine {
            // Unit rows, as embeddings usually are.
            for row in corpus.chunks_exact_mut(d) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
        }
        let rows: Vec<(u32, &[f32])> = corpus
            .chunks_exact(d)
            .enumerate()
            .map(|(i, r)| (i as u32, r))
            .collect();
        for &m in &ms {
            let queries: Vec<f64> = vectors(m, d, 1000 + m as u64)
                .into_iter()
                .map(f64::from)
                .collect();
            let search = || {
                let found = floats::nearest::<f32>(&queries, m, d, K, metric, rows.iter().copied());
                std::hint::black_box(found);
            };
            if m < 20_000 {
                search();
            }
            let (mut wall, mut cpu) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                let (w, c) = time(search);
                wall.push(w);
                cpu.push(c);
            }
            println!(
                "| {d} | {m} | {:.1} | {:.1} |",
                median(wall) * 1e3,
                median(cpu) * 1e3
            );
        }
    }
}
