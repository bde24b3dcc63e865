//! Matrix products (through the `gemm` crate) for `project` and `nearest`,
//! and bounded top-k selection.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::codes::{self, widen_into, F16};
use super::element::Element;
use super::vector;

/// Rows gathered per matrix product: the block (and its scores) stay in cache.
pub const ROW_BLOCK: usize = 256;

/// `out (rows × k) = x (rows × d) · m (d × k)`, all row-major `f64`.
/// Returns `false` (and leaves `out` alone) if the lengths disagree.
pub fn matmul(x: &[f64], rows: usize, d: usize, m: &[f64], k: usize, out: &mut [f64]) -> bool {
    product(x, rows, d, m, k, false, out)
}

/// `out (rows × cols) = lhs (rows × inner) · rhs`, where `rhs` is stored
/// row-major as `inner × cols`, or as `cols × inner` when `rhs_transposed`
/// (so `nearest` can multiply by a block of rows without copying it).
fn product<S: GemmFloat>(
    lhs: &[S],
    rows: usize,
    inner: usize,
    rhs: &[S],
    cols: usize,
    rhs_transposed: bool,
    out: &mut [S],
) -> bool {
    if lhs.len() != rows * inner || rhs.len() != inner * cols || out.len() != rows * cols {
        return false;
    }
    if rows == 0 || cols == 0 {
        return true;
    }
    if inner == 0 {
        out.fill(S::ZERO);
        return true;
    }
    let (rhs_cs, rhs_rs) = if rhs_transposed {
        (inner as isize, 1)
    } else {
        (1, cols as isize)
    };
    // SAFETY: the lengths were checked above, so every index gemm derives
    // from (rows, cols, inner) and the strides stays inside the three slices.
    unsafe {
        gemm(
            rows,
            cols,
            inner,
            out.as_mut_ptr(),
            1,
            cols as isize,
            false,
            lhs.as_ptr(),
            1,
            inner as isize,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            S::ZERO,
            S::ONE,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    true
}

/// The float types the matrix products run in.
trait GemmFloat: Copy + 'static {
    const ZERO: Self;
    const ONE: Self;
}

impl GemmFloat for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

impl GemmFloat for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

/// How neighbours are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Highest cosine similarity first.
    Cosine,
    /// Highest dot product first.
    Dot,
    /// Smallest Euclidean distance first.
    Euclidean,
}

/// A candidate: `key` is higher-is-better; ties go to the lower `index`.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: f64,
    index: u32,
    score: f64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// "Greater" means *worse*, so the heap's top is the worst kept candidate.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then(self.index.cmp(&other.index))
    }
}

/// The best `k` of a stream of scored rows, in O(n log k).
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }

    /// Offers row `index` with ranking `key` (higher is better) and the
    /// `score` to report. NaN keys are never kept.
    #[inline]
    pub fn push(&mut self, key: f64, index: u32, score: f64) {
        if key.is_nan() || self.k == 0 {
            return;
        }
        // -0.0 and +0.0 are the same score: ties must go to the lower index.
        let key = key + 0.0;
        let candidate = Candidate { key, index, score };
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(worst) = self.heap.peek() {
            if candidate < *worst {
                self.heap.pop();
                self.heap.push(candidate);
            }
        }
    }

    /// The key a new candidate must beat to be kept: the worst kept key
    /// once `k` are kept, else minus infinity.
    pub fn worst_key(&self) -> f64 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => worst.key,
            _ => f64::NEG_INFINITY,
        }
    }

    /// Adds every candidate kept by `other`. The kept set under a total order
    /// is unique, so merging partial searches in any order gives one answer.
    pub fn merge(&mut self, other: TopK) {
        for c in other.heap {
            self.push(c.key, c.index, c.score);
        }
    }

    /// `(index, score)` best first.
    pub fn into_sorted(self) -> Vec<(u32, f64)> {
        let mut kept = self.heap.into_vec();
        kept.sort();
        kept.into_iter().map(|c| (c.index, c.score)).collect()
    }
}

/// The ranking key and reported score of a row for a query.
#[inline]
pub fn rank_row<T: Element>(metric: Metric, row: &[T], query: &[T]) -> (f64, f64) {
    Ranker::new(metric, query).rank(row)
}

/// Ranks many rows against one query: the key (higher is better) and the
/// reported score of each row.
#[derive(Debug, Clone, Copy)]
pub struct Ranker<'q, T> {
    pub metric: Metric,
    pub query: &'q [T],
}

impl<'q, T: Element> Ranker<'q, T> {
    pub fn new(metric: Metric, query: &'q [T]) -> Self {
        Ranker { metric, query }
    }

    #[inline]
    pub fn rank(&self, row: &[T]) -> (f64, f64) {
        match self.metric {
            Metric::Cosine => {
                let s = vector::cosine(row, self.query);
                (s, s)
            }
            Metric::Dot => {
                let s = vector::dot(row, self.query);
                (s, s)
            }
            Metric::Euclidean => {
                let d = vector::euclidean(row, self.query);
                (-d, d)
            }
        }
    }
}

/// A row type `nearest` can search, with the strategy that suits it:
/// Float64 rows are scored by a Float64 matrix product; Float32 rows and
/// the narrower Float16, Int8 and UInt8 ones are screened by a Float32
/// product and their candidates scored exactly.
pub trait SearchRow: Copy + Send + Sync + 'static {
    #[doc(hidden)]
    fn search_part(
        queries: &[f64],
        m: usize,
        d: usize,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[Self])],
    ) -> Vec<TopK>;
}

impl SearchRow for f64 {
    fn search_part(
        queries: &[f64],
        m: usize,
        d: usize,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[f64])],
    ) -> Vec<TopK> {
        nearest_serial(queries, m, d, k, metric, rows.iter().copied())
    }
}

/// Rows whose values are exactly `f32` numbers (read in place or widened).
pub trait F32Row: Copy + Send + Sync + 'static {
    /// `row` as `f32` values, widened into `scratch` when it is narrower.
    fn widened<'s>(row: &'s [Self], scratch: &'s mut Vec<f32>) -> &'s [f32];

    /// The ranking key and score of a row: by default the exact `f64`
    /// accumulation of [`rank_row`] on the widened row.
    #[inline]
    fn rank(metric: Metric, row: &[Self], query: &[f32], scratch: &mut Vec<f32>) -> (f64, f64) {
        rank_row(metric, Self::widened(row, scratch), query)
    }

    /// How far [`F32Row::rank`]'s scores may be from the exact ones, per
    /// unit of `|q|·|x|` (cosine: in its own units), for vectors of length `d`.
    fn rank_error(_d: usize) -> f64 {
        0.0
    }
}

impl F32Row for f32 {
    #[inline(always)]
    fn widened<'s>(row: &'s [f32], _scratch: &'s mut Vec<f32>) -> &'s [f32] {
        row
    }
}

macro_rules! screened_rows {
    ($($t:ty),*) => {$(
        impl SearchRow for $t {
            fn search_part(
                queries: &[f64],
                m: usize,
                d: usize,
                k: usize,
                metric: Metric,
                rows: &[(u32, &[$t])],
            ) -> Vec<TopK> {
                nearest_screened(queries, m, d, k, metric, rows)
            }
        }
    )*};
}
screened_rows!(f32, F16, i8, u8);

macro_rules! integer_rows {
    ($($t:ty),*) => {$(
        impl F32Row for $t {
            #[inline(always)]
            fn widened<'s>(row: &'s [$t], scratch: &'s mut Vec<f32>) -> &'s [f32] {
                widen_into(row, scratch);
                scratch.as_slice()
            }
        }
    )*};
}
integer_rows!(i8, u8);

/// Float16 rows are ranked in `f32` lanes (see [`codes::rank_half`]).
impl F32Row for F16 {
    #[inline(always)]
    fn widened<'s>(row: &'s [F16], scratch: &'s mut Vec<f32>) -> &'s [f32] {
        codes::widen_f16(row, scratch);
        scratch.as_slice()
    }

    #[inline]
    fn rank(metric: Metric, row: &[F16], query: &[f32], scratch: &mut Vec<f32>) -> (f64, f64) {
        codes::rank_half(metric, row, query, scratch)
    }

    fn rank_error(d: usize) -> f64 {
        codes::half_rank_error(d)
    }
}

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
    let rows: Vec<(u32, &[R])> = rows.collect();
    // Row ranges are searched on several threads and their top-k merged;
    // the result is the same as a serial search (see `TopK::merge`).
    let tops = rows
        .par_chunks(ROW_BLOCK * 16)
        .map(|part| R::search_part(queries, m, d, k, metric, part))
        .reduce_with(|mut left, right| {
            for (l, r) in left.iter_mut().zip(right) {
                l.merge(r);
            }
            left
        })
        .unwrap_or_else(|| (0..m).map(|_| TopK::new(k)).collect());
    tops.into_iter().map(TopK::into_sorted).collect()
}

fn nearest_serial<'a, T: Element + 'a>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: impl Iterator<Item = (u32, &'a [T])>,
) -> Vec<TopK> {
    let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let query = |q: usize| queries.get(q * d..(q + 1) * d).unwrap_or(&[]);
    let query_sq: Vec<f64> = (0..m).map(|q| vector::sum_sq(query(q))).collect();
    let query_norm: Vec<f64> = (0..m).map(|q| vector::norm_l2(query(q))).collect();
    let mut block = vec![0.0f64; ROW_BLOCK * d];
    let mut positions: Vec<u32> = Vec::with_capacity(ROW_BLOCK);
    let mut scores = vec![0.0f64; m * ROW_BLOCK];
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
        let s = &mut scores[..m * b];
        // scores (m × b) = queries (m × d) · blockᵀ (d × b)
        if !product(queries, m, d, xb, b, true, s) {
            s.fill(0.0);
        }
        for q in 0..m {
            let top = &mut tops[q];
            for (r, &position) in positions.iter().enumerate() {
                let dot = s[q * b + r];
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
                top.push(key, position, score);
            }
        }
        positions.clear();
    };

    for (position, row) in rows {
        let slot = positions.len();
        for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(row) {
            *dst = src.to_f64();
        }
        positions.push(position);
        if positions.len() == ROW_BLOCK {
            flush(&mut positions, &block);
        }
    }
    flush(&mut positions, &block);
    tops
}

/// `nearest` for Float32 rows: a Float32 matrix product screens the rows
/// (twice as fast as Float64), keeping every row whose score *could* reach
/// the top k given a proven bound on the Float32 rounding error; only those
/// candidates are scored exactly (f64 accumulation, the same kernel as
/// `top_k_similar`). The result is therefore exactly the top k of the exact
/// scores, ties to the lower position.
fn nearest_screened<R: F32Row>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[R])],
) -> Vec<TopK> {
    // The queries follow the column's dtype (Float32 for the narrower
    // types), as in `top_k_similar`.
    let queries_32: Vec<f32> = queries.iter().map(|&v| v as f32).collect();
    let query = |q: usize| queries_32.get(q * d..(q + 1) * d).unwrap_or(&[]);
    let query_sq: Vec<f64> = (0..m).map(|q| vector::sum_sq(query(q))).collect();
    let query_norm: Vec<f64> = (0..m).map(|q| vector::norm_l2(query(q))).collect();
    // |fl32(q·x) - q·x| <= gamma_d * |q| |x| for any summation order (with
    // FMA or not); doubled for the f64 rounding of everything else.
    let unit = f64::from(f32::EPSILON) / 2.0;
    let gamma = 2.0 * (d as f64 * unit) / (1.0 - d as f64 * unit).max(0.5);
    // Rows ranked other than exactly (Float16) widen every bound by the
    // ranking's own error, so no row that ranking would keep is dropped.
    let rank_error = R::rank_error(d);

    let mut lower: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let mut candidates: Vec<Vec<(f64, usize)>> = vec![Vec::new(); m];
    let mut block = vec![0.0f32; ROW_BLOCK * d];
    let mut scores = vec![0.0f32; m * ROW_BLOCK];
    let mut row_sq = vec![0.0f64; ROW_BLOCK];
    let mut row_norm = vec![0.0f64; ROW_BLOCK];
    let mut scratch = Vec::new();

    for (block_index, block_rows) in rows.chunks(ROW_BLOCK).enumerate() {
        let b = block_rows.len();
        for (slot, (_, row)) in block_rows.iter().enumerate() {
            let row = R::widened(row, &mut scratch);
            for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(row) {
                *dst = *src;
            }
            row_sq[slot] = vector::sum_sq(row);
            row_norm[slot] = vector::norm_l2_from_sum_sq(row, row_sq[slot]);
        }
        let s = &mut scores[..m * b];
        if !product(&queries_32, m, d, &block[..b * d], b, true, s) {
            s.fill(f32::NAN);
        }
        for q in 0..m {
            let threshold = lower[q].worst_key();
            let (qn, qs) = (query_norm[q], query_sq[q]);
            for slot in 0..b {
                let approx = f64::from(s[q * b + slot]);
                let scale = qn * row_norm[slot];
                let err = gamma * scale;
                let (lo, hi) = match metric {
                    Metric::Dot => (
                        approx - err - rank_error * scale,
                        approx + err + rank_error * scale,
                    ),
                    Metric::Cosine => {
                        if scale == 0.0 {
                            (0.0, 0.0)
                        } else {
                            (
                                (approx - err) / scale - rank_error,
                                (approx + err) / scale + rank_error,
                            )
                        }
                    }
                    Metric::Euclidean => {
                        // key = -|q - x|² = 2 q·x - |q|² - |x|²
                        let rest = qs + row_sq[slot];
                        let slack = 4.0 * f64::EPSILON * rest + rank_error * (rest + 2.0 * scale);
                        (
                            2.0 * (approx - err) - rest - slack,
                            2.0 * (approx + err) - rest + slack,
                        )
                    }
                };
                if hi.is_nan() || hi < threshold {
                    continue; // cannot reach the top k (or NaN)
                }
                let row_index = block_index * ROW_BLOCK + slot;
                lower[q].push(lo, row_index as u32, lo);
                candidates[q].push((hi, row_index));
            }
            let threshold = lower[q].worst_key();
            if candidates[q].len() > 8 * k + 256 {
                candidates[q].retain(|&(hi, _)| hi >= threshold);
            }
        }
    }
    // Exact scores for the survivors.
    (0..m)
        .map(|q| {
            let threshold = lower[q].worst_key();
            let query = query(q);
            let mut top = TopK::new(k);
            for &(hi, row_index) in &candidates[q] {
                if hi < threshold {
                    continue;
                }
                if let Some(&(position, row)) = rows.get(row_index) {
                    let (key, score) = R::rank(metric, row, query, &mut scratch);
                    top.push(key, position, score);
                }
            }
            top
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
