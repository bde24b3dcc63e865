//! Medians of exact Int8 search on the whole corpus, at the CPU level this
//! process runs (`POLARS_MLKIT_ISA` caps it): the integer search
//! (`codes::nearest_codes`, which Int8 `nearest` takes for few queries),
//! the Float32-screened `floats::nearest::<i8>` (which it takes for
//! many) and `floats::nearest::<f32>` on the same rows as Float32; and
//! the integer dot products themselves, per call.
//!
//! `cargo run --release --example int8_scan_bench [rows] [d] [runs] [queries...]`
//! (default 1,000,000 × 384, 5 runs, queries 1, 10, 100; cosine, k = 10).
//! A `kernels` argument times only the dot products; `noscreen` leaves out
//! the two screened searches; `pairs` adds the pair-by-pair scan
//! (`codes::nearest_codes_scan`, the reference of the tiled kernel). The
//! 1-minute load average is printed before and after, since the machine
//! may be shared; CPU seconds (all threads) are reported next to wall
//! seconds.

use polars_mlkit::kernels::cpu;
use polars_mlkit::kernels::search::codes::{int_dot, int_dot_sq};
use polars_mlkit::kernels::search::scans::nearest_codes_scan;
use polars_mlkit::kernels::search::{floats, nearest_codes, Metric};

mod timing;
use timing::median_time;

const K: usize = 10;

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// Median CPU nanoseconds per call of `dot` on successive rows of `d` codes.
fn per_call<C: Copy>(codes: &[C], d: usize, runs: usize, dot: impl Fn(&[C], &[C]) -> i64) -> f64 {
    let rows: Vec<&[C]> = codes.chunks_exact(d).collect();
    let calls = rows.len().saturating_sub(1).max(1);
    let mut sink = 0i64;
    // CPU seconds of this one thread: what other processes take is left out.
    // Many passes per run, so that a run lasts long enough for the counter.
    let passes = (10_000_000 / calls).max(1);
    let (_, cpu) = median_time(runs, || {
        for _ in 0..passes {
            for pair in rows.windows(2) {
                sink = sink.wrapping_add(dot(pair[0], std::hint::black_box(pair[1])));
            }
        }
    });
    std::hint::black_box(sink);
    cpu * 1e9 / (calls * passes) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let n = numbers.first().copied().unwrap_or(1_000_000);
    let d = numbers.get(1).copied().unwrap_or(384);
    let runs = numbers.get(2).copied().unwrap_or(5).max(1);
    let ms: Vec<usize> = match numbers.get(3..) {
        Some(ms) if !ms.is_empty() => ms.to_vec(),
        _ => vec![1, 10, 100],
    };
    let only_kernels = args.iter().any(|a| a == "kernels");
    let screens = !args.iter().any(|a| a == "noscreen");
    let pairs = args.iter().any(|a| a == "pairs");
    println!(
        "level {} (detected {}), {} threads, load before {}",
        cpu::level().name(),
        cpu::detected().name(),
        rayon::current_num_threads(),
        load()
    );

    let bytes = timing::bytes(n * d, 1);
    let signed: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
    {
        let some = (1 << 22) / d.max(1) * d; // 4 MiB of codes: in L2/L3
        let s = &signed[..some.min(signed.len())];
        let u = &bytes[..some.min(bytes.len())];
        println!(
            "ns per call, d = {d}: int_dot i8 {:.1}, int_dot_sq i8 {:.1}, int_dot u8 {:.1}, int_dot_sq u8 {:.1}",
            per_call(s, d, runs, int_dot),
            per_call(s, d, runs, |a, b| int_dot_sq(a, b).0),
            per_call(u, d, runs, int_dot),
            per_call(u, d, runs, |a, b| int_dot_sq(a, b).0),
        );
    }
    if only_kernels {
        println!("load after {}", load());
        return;
    }
    drop(bytes);
    let rows: Vec<(u32, &[i8])> = signed
        .chunks_exact(d)
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    let wide: Vec<f32> = if screens {
        signed.iter().map(|&x| f32::from(x)).collect()
    } else {
        Vec::new()
    };
    let wide_rows: Vec<(u32, &[f32])> = wide
        .chunks_exact(d)
        .enumerate()
        .map(|(i, r)| (i as u32, r))
        .collect();
    println!("{n} x {d} Int8 rows, cosine, k = {K}, median of {runs} runs");
    println!("| queries | path | wall s | CPU s |");
    println!("|---|---|---|---|");
    let metric = Metric::Cosine;
    for m in ms {
        let queries: Vec<i8> = timing::bytes(m * d, 1000 + m as u64)
            .into_iter()
            .map(|b| b as i8)
            .collect();
        let queries_f64: Vec<f64> = queries.iter().map(|&x| f64::from(x)).collect();
        let report = |path: &str, (wall, cpu): (f64, f64)| {
            println!("| {m} | {path} | {wall:.3} | {cpu:.3} |");
        };
        let mut scanned = Vec::new();
        let t = median_time(runs, || {
            scanned = nearest_codes(&queries, m, d, K, metric, &rows);
        });
        report("integer search (codes::nearest_codes)", t);
        if pairs {
            let mut paired = Vec::new();
            let t = median_time(runs, || {
                paired = nearest_codes_scan(&queries, m, d, K, metric, &rows);
            });
            report("pair-by-pair scan (codes::nearest_codes_scan)", t);
            assert_eq!(scanned, paired, "search and scan differ at m = {m}");
        }
        if !screens {
            continue;
        }
        let mut screened = Vec::new();
        let t = median_time(runs, || {
            screened = floats::nearest::<i8>(&queries_f64, m, d, K, metric, rows.iter().copied());
        });
        report("Float32 screen (nearest::<i8>)", t);
        assert_eq!(scanned, screened, "scan and screen differ at m = {m}");
        let t = median_time(runs, || {
            floats::nearest::<f32>(&queries_f64, m, d, K, metric, wide_rows.iter().copied());
        });
        report("Float32 rows (nearest::<f32>)", t);
    }
    println!("load after {}", load());
}
