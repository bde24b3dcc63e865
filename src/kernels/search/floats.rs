//! The search of float rows by matrix products: Float64 rows scored by a
//! Float64 product ([`nearest_serial`]), Float32 and narrower rows screened
//! by a Float32 (or 8-bit) product with their candidates scored exactly
//! ([`super::screened`]); `project`'s product.

use crate::kernels::element::{Element, F16};
use crate::kernels::vector;

use super::product::{gemm_product, ProductFloat};
use super::rows::{SearchQueries, QUERY_CHUNK, ROW_BLOCK};
use super::screen8;
use super::screened::{nearest_quantized, nearest_screened, quantized_queries, Thresholds};
use super::topk::{search_in_parts, Metric, TopK};

/// `out (rows × k) = x (rows × d) · m (d × k)`, all row-major `f64`.
/// Returns `false` (and leaves `out` alone) if the lengths disagree.
pub fn matmul(x: &[f64], rows: usize, d: usize, m: &[f64], k: usize, out: &mut [f64]) -> bool {
    gemm_product(x, rows, d, m, k, false, out)
}

/// A row type `nearest` can search, with the strategy that suits it:
/// Float64 rows are scored by a Float64 matrix product; Float32 rows and
/// the narrower Float16, Int8 and UInt8 ones are screened by a Float32
/// product and their candidates scored exactly.
pub trait SearchRow: Copy + Send + Sync + 'static {
    /// The type the rows are scored in (and the queries converted to).
    #[doc(hidden)]
    type Scalar: ProductFloat + Element;

    /// The top k of each query among `rows`, skipping rows below a
    /// query's shared threshold (see [`Shared`]).
    #[doc(hidden)]
    fn search_part(
        queries: &SearchQueries<Self::Scalar>,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[Self])],
        shared: &Shared,
    ) -> Vec<TopK>;

    /// What the parts of a search share: thresholds that start at minus
    /// infinity, and (if `int8` allows, for a search of `rows` rows) the
    /// queries quantized, by default not.
    #[doc(hidden)]
    fn shared(queries: &SearchQueries<Self::Scalar>, _int8: Int8Screen, _rows: usize) -> Shared {
        Shared {
            thresholds: Thresholds::new(queries.m),
            quantized: None,
        }
    }
}

/// What the parts of a search share: lower bounds of each query's k-th best
/// key, and the queries quantized for the Int8 screen when it applies
/// (see [`quantized_queries`]).
#[doc(hidden)]
pub struct Shared {
    thresholds: Thresholds,
    quantized: Option<screen8::QuantQueries>,
}

impl SearchRow for f64 {
    type Scalar = f64;

    fn search_part(
        queries: &SearchQueries<f64>,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[f64])],
        _shared: &Shared,
    ) -> Vec<TopK> {
        nearest_serial(queries, k, metric, rows)
    }
}

macro_rules! screened_rows {
    ($($t:ty),*) => {$(
        impl SearchRow for $t {
            type Scalar = f32;

            fn search_part(
                queries: &SearchQueries<f32>,
                k: usize,
                metric: Metric,
                rows: &[(u32, &[$t])],
                shared: &Shared,
            ) -> Vec<TopK> {
                match &shared.quantized {
                    Some(quantized) => {
                        nearest_quantized(queries, quantized, k, metric, rows, &shared.thresholds)
                    }
                    None => nearest_screened(queries, k, metric, rows, &shared.thresholds),
                }
            }

            fn shared(queries: &SearchQueries<f32>, int8: Int8Screen, rows: usize) -> Shared {
                let quantized = match int8 {
                    Int8Screen::Off => None,
                    Int8Screen::Auto => quantized_queries(queries, rows),
                    Int8Screen::Always => quantized_queries(queries, usize::MAX),
                };
                Shared {
                    thresholds: Thresholds::new(queries.m),
                    quantized,
                }
            }
        }
    )*};
}
screened_rows!(f32, F16, i8, u8);

/// The `k` best rows for each of `m` queries (`queries`: m × d row-major).
/// `rows` yields `(position, row)` for every candidate row (null rows left
/// out). Scores come from one matrix product per block of `ROW_BLOCK` rows:
/// cosine and dot directly, Euclidean as `sqrt(|q|² + |x|² - 2 q·x)` (the
/// formula of scikit-learn's `euclidean_distances`).
pub fn nearest<'a, R: SearchRow + 'a>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: impl Iterator<Item = (u32, &'a [R])>,
) -> Vec<Vec<(u32, f64)>> {
    nearest_with(queries, m, d, k, metric, rows, Int8Screen::Auto)
}

/// Whether a search may take the Int8 screen: never, where it pays
/// ([`quantized_queries`]), or whenever the queries allow it (tests: so
/// that small searches reach it too).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Screen {
    Off,
    Auto,
    Always,
}

/// [`nearest`], with the Int8 screen allowed or not (the Float32 screen
/// then serves every search; for tests).
fn nearest_with<'a, R: SearchRow + 'a>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: impl Iterator<Item = (u32, &'a [R])>,
    int8: Int8Screen,
) -> Vec<Vec<(u32, f64)>> {
    if k == 0 {
        return vec![Vec::new(); m];
    }
    let rows: Vec<(u32, &[R])> = rows.collect();
    let queries = SearchQueries::<R::Scalar>::new(queries, m, d);
    // Row ranges are searched on several threads and their top-k merged;
    // the result is the same as a serial search (see `TopK::merge`). The
    // parts share lower bounds of each query's k-th best key, so that a
    // part's blocks let through few rows although its own top k starts
    // empty.
    let shared = R::shared(&queries, int8, rows.len());
    let part = (rows.len() / (4 * rayon::current_num_threads()))
        .next_multiple_of(ROW_BLOCK)
        .max(ROW_BLOCK * 16);
    search_in_parts(&rows, part, m, k, |part| {
        Some(R::search_part(&queries, k, metric, part, &shared))
    })
    .unwrap_or_default()
}

fn nearest_serial(
    queries: &SearchQueries<f64>,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[f64])],
) -> Vec<TopK> {
    let (m, d) = (queries.m, queries.d);
    let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let (query_sq, query_norm) = (&queries.sq, &queries.norm);
    let mut block = vec![0.0f64; ROW_BLOCK * d];
    let mut positions: Vec<u32> = Vec::with_capacity(ROW_BLOCK);
    let mut scores = vec![0.0f64; m.min(QUERY_CHUNK) * ROW_BLOCK];
    let mut thresholds = vec![0.0f64; m.min(QUERY_CHUNK)];
    let mut row_sq = vec![0.0f64; ROW_BLOCK];
    let mut row_norm = vec![0.0f64; ROW_BLOCK];

    let mut flush = |positions: &mut Vec<u32>, block: &[f64]| {
        let b = positions.len();
        if b == 0 {
            return;
        }
        let xb = &block[..b * d];
        for (r, x) in xb.chunks_exact(d.max(1)).enumerate().take(b) {
            row_sq[r] = vector::sum_sq(x);
            row_norm[r] = vector::norm_l2_from_sum_sq(x, row_sq[r]);
        }
        for (q0, chunk) in &queries.chunks {
            let mc = chunk.count();
            // scores (b × mc) = block (b × d) · chunkᵀ (d × mc)
            let s = &mut scores[..b * mc];
            if !chunk.scores(xb, b, s) {
                s.fill(0.0);
            }
            let tops = &mut tops[*q0..*q0 + mc];
            // A key below the worst kept one when the block starts would
            // be refused by `TopK::push` anyway (the worst only improves).
            for (t, top) in thresholds.iter_mut().zip(tops.iter()) {
                *t = top.worst_key();
            }
            for (r, &position) in positions.iter().enumerate() {
                let row_scores = &s[r * mc..(r + 1) * mc];
                for (j, &dot) in row_scores.iter().enumerate() {
                    let q = q0 + j;
                    let (key, score) = match metric {
                        Metric::Dot => (dot, dot),
                        Metric::Cosine => {
                            let denom = query_norm[q] * row_norm[r];
                            let c = if denom == 0.0 { 0.0 } else { dot / denom };
                            (c, c)
                        }
                        Metric::Euclidean => {
                            let sq = (query_sq[q] + row_sq[r] - 2.0 * dot).max(0.0);
                            (-sq, sq.sqrt())
                        }
                    };
                    if key >= thresholds[j] {
                        tops[j].push(key, position, score);
                    }
                }
            }
        }
        positions.clear();
    };

    for &(position, row) in rows {
        let slot = positions.len();
        for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(row) {
            *dst = *src;
        }
        positions.push(position);
        if positions.len() == ROW_BLOCK {
            flush(&mut positions, &block);
        }
    }
    flush(&mut positions, &block);
    tops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::search::rows::F32Row;
    use crate::kernels::search::topk::rank_row;

    #[test]
    fn screened_f32_search_is_exact() {
        let d = 24;
        let data: Vec<Vec<f32>> = (0..5000)
            .map(|i| {
                (0..d)
                    .map(|j| (((i * 131 + j * 17) % 61) as f32 - 30.0) * 0.37)
                    .collect()
            })
            .collect();
        let mut data = data;
        data[7] = vec![0.0; d]; // a zero vector
        data[11] = data[10].clone(); // an exact tie
        let queries: Vec<f64> = (0..3 * d).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let got = nearest(
                &queries,
                3,
                d,
                7,
                metric,
                data.iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.as_slice())),
            );
            for (q, found) in got.iter().enumerate() {
                let query: Vec<f32> = queries[q * d..(q + 1) * d]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                let mut top = TopK::new(7);
                for (i, row) in data.iter().enumerate() {
                    let (key, score) = rank_row(metric, row, &query);
                    top.push(key, i as u32, score);
                }
                assert_eq!(found, &top.into_sorted(), "{metric:?} query {q}");
            }
        }
    }

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

    /// The top k of a scan of every row with `F32Row::rank_widened`, the
    /// ranking `nearest` reproduces.
    fn scan<R: F32Row>(
        rows: &[Vec<R>],
        query: &[f32],
        k: usize,
        metric: Metric,
    ) -> Vec<(u32, f64)> {
        let mut top = TopK::new(k);
        let mut scratch = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let (key, score) = R::rank_widened(metric, R::widened(row, &mut scratch), query);
            top.push(key, i as u32, score);
        }
        top.into_sorted()
    }

    /// `nearest` on one thread and on the default pool, both checked
    /// against [`scan`].
    fn check_against_scan<R: F32Row + SearchRow>(
        rows: &[Vec<R>],
        queries: &[f64],
        m: usize,
        k: usize,
        what: &str,
    ) {
        let d = queries.len().checked_div(m).unwrap_or(0);
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
        let metrics = [Metric::Cosine, Metric::Dot, Metric::Euclidean];
        let screens = [Int8Screen::Always, Int8Screen::Off];
        for (metric, int8) in metrics.into_iter().flat_map(|m| screens.map(|s| (m, s))) {
            let search = || {
                let candidates = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.as_slice()));
                nearest_with(queries, m, d, k, metric, candidates, int8)
            };
            let what = format!("{what} (Int8 screen: {int8:?})");
            let got = search();
            if let Some(pool) = &single {
                assert_eq!(pool.install(search), got, "{what} {metric:?}: one thread");
            }
            for (q, found) in got.iter().enumerate() {
                let query: Vec<f32> = queries[q * d..(q + 1) * d]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                assert_eq!(
                    found,
                    &scan(rows, &query, k, metric),
                    "{what} {metric:?} query {q}"
                );
            }
        }
    }

    /// Rows for a large search: random values with exact
    /// duplicates (ties), a zero row, a NaN row and an infinite one; the
    /// count is not a multiple of any block.
    fn large_rows(n: usize, d: usize) -> Vec<Vec<f32>> {
        let values = numbers(n * d, 7);
        let mut rows: Vec<Vec<f32>> = values.chunks_exact(d).map(<[f32]>::to_vec).collect();
        for i in (999..n).step_by(1000) {
            rows[i] = rows[i - 17 * (i / 1000)].clone();
        }
        rows[5] = vec![0.0; d];
        rows[100][3] = f32::NAN;
        rows[2000][1] = f32::INFINITY;
        rows
    }

    /// Queries, some equal to rows, one zero, one with a NaN and one with
    /// an infinite number.
    fn large_queries(rows: &[Vec<f32>], m: usize, d: usize) -> Vec<f64> {
        let mut queries: Vec<f64> = numbers(m * d, 11).into_iter().map(f64::from).collect();
        for (q, i) in [(0, 981), (1, 999), (7, 30_000)] {
            for (dst, &src) in queries[q * d..(q + 1) * d].iter_mut().zip(&rows[i]) {
                *dst = f64::from(src);
            }
        }
        queries[3 * d..4 * d].fill(0.0);
        queries[5 * d + 1] = f64::NAN;
        queries[6 * d + 2] = f64::INFINITY;
        queries
    }

    #[test]
    fn large_search_is_exact() {
        // Rows in many parts and blocks, queries in panels with a tail (77
        // = 2 · 32 + 13; 45 = 32 + 13, too few for the Int8 screen): the
        // fused screens with shared thresholds.
        let (n, d, m, k) = (33_333, 12, 77, 7);
        let rows = large_rows(n, d);
        let queries = large_queries(&rows, m, d);
        check_against_scan(&rows, &queries, m, k, "f32");
        check_against_scan(&rows, &queries[..45 * d], 45, 10, "f32, 45 queries");
        check_against_scan(&rows, &queries[..17 * d], 17, 10, "f32, 17 queries");
    }

    #[test]
    fn large_search_of_narrow_rows_is_exact() {
        let (n, d, m, k) = (33_000, 9, 50, 5);
        let wide = large_rows(n, d);
        let halves: Vec<Vec<F16>> = wide
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&v| F16(half::f16::from_f32(v * 3.0).to_bits()))
                    .collect()
            })
            .collect();
        let bytes: Vec<Vec<i8>> = wide
            .iter()
            .map(|r| r.iter().map(|&v| (v * 127.0) as i8).collect())
            .collect();
        let queries = large_queries(&wide, m, d);
        check_against_scan(&halves, &queries, m, k, "f16");
        check_against_scan(&halves, &queries[..5 * d], 5, k, "f16, 5 queries");
        let byte_queries: Vec<f64> = queries.iter().map(|&v| (v * 127.0).trunc()).collect();
        check_against_scan(&bytes, &byte_queries, m, k, "i8");
    }

    #[test]
    fn fused_search_tails_and_degenerate_shapes() {
        let d = 21;
        let rows: Vec<Vec<f32>> = numbers(50 * d, 3)
            .chunks_exact(d)
            .map(<[f32]>::to_vec)
            .collect();
        let queries: Vec<f64> = numbers(60 * d, 4).into_iter().map(f64::from).collect();
        // k larger than the rows: every row, best first.
        check_against_scan(&rows, &queries, 60, 80, "k > rows");
        check_against_scan(&rows, &queries[..20 * d], 20, 80, "k > rows, 20 queries");
        // Either side of the parts ranked pair by pair (`SMALL_PART` rows):
        // ties and a zero row, one query and a few.
        let mut edge: Vec<Vec<f32>> = numbers(65 * d, 5)
            .chunks_exact(d)
            .map(<[f32]>::to_vec)
            .collect();
        edge[40] = edge[3].clone();
        edge[9] = vec![0.0; d];
        for count in [64, 65] {
            check_against_scan(&edge[..count], &queries[..d], 1, 5, "one query");
            check_against_scan(&edge[..count], &queries[..3 * d], 3, 70, "k > rows");
        }
        // Rows not a multiple of the tile or block, queries of a panel and
        // a tail, many ties (few distinct values).
        let ties: Vec<Vec<f32>> = (0..1500)
            .map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 5) as f32 - 2.0).collect())
            .collect();
        check_against_scan(&ties, &queries[..49 * d], 49, 9, "ties");
        check_against_scan(&ties, &queries[..33 * d], 33, 9, "ties, 33 queries");
        // No rows; zero-length vectors (every score 0: the first k rows).
        check_against_scan::<f32>(&[], &queries[..50 * d], 50, 3, "no rows");
        let empty: Vec<Vec<f32>> = vec![Vec::new(); 30];
        for m in [20, 50] {
            let got = nearest(
                &[],
                m,
                0,
                4,
                Metric::Cosine,
                empty
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.as_slice())),
            );
            for found in got {
                assert_eq!(
                    found.iter().map(|x| x.0).collect::<Vec<_>>(),
                    vec![0, 1, 2, 3]
                );
            }
        }
    }

    #[test]
    fn top_k_orders_and_breaks_ties_low() {
        let mut top = TopK::new(3);
        for (i, key) in [1.0, 5.0, 3.0, 5.0, f64::NAN, 4.0].into_iter().enumerate() {
            top.push(key, i as u32, key);
        }
        let got: Vec<u32> = top.into_sorted().into_iter().map(|(i, _)| i).collect();
        assert_eq!(got, vec![1, 3, 5]);
    }

    #[test]
    fn matmul_matches_naive() {
        let (rows, d, k) = (5, 3, 2);
        let x: Vec<f64> = (0..rows * d).map(|i| i as f64 - 4.0).collect();
        let m: Vec<f64> = (0..d * k).map(|i| (i as f64) * 0.5).collect();
        let mut out = vec![0.0; rows * k];
        assert!(matmul(&x, rows, d, &m, k, &mut out));
        for r in 0..rows {
            for j in 0..k {
                let e: f64 = (0..d).map(|i| x[r * d + i] * m[i * k + j]).sum();
                assert!((out[r * k + j] - e).abs() < 1e-12);
            }
        }
        assert!(!matmul(&x, rows, d, &m, k + 1, &mut out));
    }

    #[test]
    fn nearest_matches_brute_force() {
        let d = 4;
        let data: Vec<Vec<f64>> = (0..9000)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * 31 + j * 7) % 97) as f64 - 48.0)
                    .collect()
            })
            .collect();
        let queries: Vec<f64> = vec![1.0, -2.0, 0.5, 3.0, 0.0, 1.0, 1.0, -1.0];
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let got = nearest(
                &queries,
                2,
                d,
                5,
                metric,
                data.iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.as_slice())),
            );
            for (q, found) in got.iter().enumerate() {
                let query = &queries[q * d..(q + 1) * d];
                let mut top = TopK::new(5);
                for (i, row) in data.iter().enumerate() {
                    let (key, score) = rank_row(metric, row, query);
                    top.push(key, i as u32, score);
                }
                let expected = top.into_sorted();
                let ids: Vec<u32> = found.iter().map(|x| x.0).collect();
                let eids: Vec<u32> = expected.iter().map(|x| x.0).collect();
                assert_eq!(ids, eids, "{metric:?}");
                for (a, b) in found.iter().zip(&expected) {
                    assert!((a.1 - b.1).abs() < 1e-9 * b.1.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn many_queries_in_chunks_match_brute_force() {
        // 600 queries take two chunks; near-ties and repeated rows test the
        // screen's bounds, a zero row and a zero query the degenerate cases.
        let (d, n, m, k) = (19, 3000, 600, 6);
        let value = |i: usize, j: usize| (((i * 37 + j * 11) % 23) as f64 - 11.0) * 0.25;
        let mut data64: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..d).map(|j| value(i, j)).collect())
            .collect();
        data64[5] = vec![0.0; d];
        data64[900] = data64[17].clone();
        let data32: Vec<Vec<f32>> = data64
            .iter()
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect();
        let mut queries: Vec<f64> = (0..m * d).map(|i| value(i / d + 7, i % d) * 1.5).collect();
        queries[3 * d..4 * d].fill(0.0);
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let rows32 = data32
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u32, r.as_slice()));
            let got32 = nearest(&queries, m, d, k, metric, rows32);
            let rows64 = data64
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u32, r.as_slice()));
            let got64 = nearest(&queries, m, d, k, metric, rows64);
            for q in 0..m {
                let query64 = &queries[q * d..(q + 1) * d];
                let query32: Vec<f32> = query64.iter().map(|&v| v as f32).collect();
                let (mut top32, mut top64) = (TopK::new(k), TopK::new(k));
                for i in 0..n {
                    let (key, score) = rank_row(metric, &data32[i], &query32);
                    top32.push(key, i as u32, score);
                    let (key, score) = rank_row(metric, &data64[i], query64);
                    top64.push(key, i as u32, score);
                }
                assert_eq!(got32[q], top32.into_sorted(), "f32 {metric:?} query {q}");
                let expected = top64.into_sorted();
                let ids: Vec<u32> = got64[q].iter().map(|x| x.0).collect();
                let expected_ids: Vec<u32> = expected.iter().map(|x| x.0).collect();
                assert_eq!(ids, expected_ids, "f64 {metric:?} query {q}");
            }
        }
    }
}
