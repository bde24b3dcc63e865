//! Brute-force nearest neighbours (scores from the matrix products of
//! [`super::product`]), `project`'s product, and bounded top-k selection.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::codes::{self, widen_into, F16};
use super::element::Element;
use super::product::{gemm_product, ProductFloat, Queries};
use super::vector;

/// Rows gathered per matrix product: the block (and its scores) stay in cache.
pub const ROW_BLOCK: usize = 256;

/// At most this many queries are scored per product, so a block's scores
/// (`ROW_BLOCK × QUERY_CHUNK`) are still in cache when they are screened.
pub const QUERY_CHUNK: usize = 512;

/// `out (rows × k) = x (rows × d) · m (d × k)`, all row-major `f64`.
/// Returns `false` (and leaves `out` alone) if the lengths disagree.
pub fn matmul(x: &[f64], rows: usize, d: usize, m: &[f64], k: usize, out: &mut [f64]) -> bool {
    gemm_product(x, rows, d, m, k, false, out)
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
    /// The type the rows are scored in (and the queries converted to).
    #[doc(hidden)]
    type Scalar: ProductFloat + Element;

    #[doc(hidden)]
    fn search_part(
        queries: &SearchQueries<Self::Scalar>,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[Self])],
    ) -> Vec<TopK>;
}

impl SearchRow for f64 {
    type Scalar = f64;

    fn search_part(
        queries: &SearchQueries<f64>,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[f64])],
    ) -> Vec<TopK> {
        nearest_serial(queries, k, metric, rows)
    }
}

/// The queries of a search, prepared once for all its parts: their values
/// in the type the rows are scored in, their norms, and the chunks the
/// matrix products take.
#[doc(hidden)]
pub struct SearchQueries<S> {
    values: Vec<S>,
    m: usize,
    d: usize,
    sq: Vec<f64>,
    norm: Vec<f64>,
    /// `(first query, the chunk's queries)`, at most `QUERY_CHUNK` each.
    chunks: Vec<(usize, Queries<S>)>,
}

impl<S: ProductFloat + Element> SearchQueries<S> {
    fn new(queries: &[f64], m: usize, d: usize) -> Self {
        let values: Vec<S> = queries.iter().map(|&v| S::from_f64(v)).collect();
        let mut prepared = SearchQueries {
            m,
            d,
            sq: Vec::with_capacity(m),
            norm: Vec::with_capacity(m),
            chunks: Vec::new(),
            values,
        };
        for q in 0..m {
            let query = prepared.query(q);
            let (sq, norm) = (vector::sum_sq(query), vector::norm_l2(query));
            prepared.sq.push(sq);
            prepared.norm.push(norm);
        }
        // Chunks of equal size (a multiple of 32 queries, a panel of the
        // product) but the last.
        let count = m.div_ceil(QUERY_CHUNK);
        let size = m.div_ceil(count.max(1)).next_multiple_of(32).max(1);
        prepared.chunks = (0..m)
            .step_by(size)
            .filter_map(|q0| {
                let q1 = (q0 + size).min(m);
                let chunk = prepared.values.get(q0 * d..q1 * d)?;
                Some((q0, Queries::new(chunk, q1 - q0, d)?))
            })
            .collect();
        prepared
    }

    fn query(&self, q: usize) -> &[S] {
        self.values.get(q * self.d..(q + 1) * self.d).unwrap_or(&[])
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
            type Scalar = f32;

            fn search_part(
                queries: &SearchQueries<f32>,
                k: usize,
                metric: Metric,
                rows: &[(u32, &[$t])],
            ) -> Vec<TopK> {
                nearest_screened(queries, k, metric, rows)
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
    let queries = SearchQueries::<R::Scalar>::new(queries, m, d);
    // Row ranges are searched on several threads and their top-k merged;
    // the result is the same as a serial search (see `TopK::merge`). A few
    // parts per thread: each part starts with an empty top k, which lets
    // more candidates through its first blocks.
    let part = (rows.len() / (4 * rayon::current_num_threads()))
        .next_multiple_of(ROW_BLOCK)
        .max(ROW_BLOCK * 16);
    let tops = rows
        .par_chunks(part)
        .map(|part| R::search_part(&queries, k, metric, part))
        .reduce_with(|mut left, right| {
            for (l, r) in left.iter_mut().zip(right) {
                l.merge(r);
            }
            left
        })
        .unwrap_or_else(|| (0..m).map(|_| TopK::new(k)).collect());
    tops.into_iter().map(TopK::into_sorted).collect()
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

/// `nearest` for Float32 rows: a Float32 matrix product screens the rows
/// (twice as fast as Float64), keeping every row whose score *could* reach
/// the top k given a proven bound on the Float32 rounding error; only those
/// candidates are scored exactly (f64 accumulation, the same kernel as
/// `top_k_similar`). The result is therefore exactly the top k of the exact
/// scores, ties to the lower position.
fn nearest_screened<R: F32Row>(
    queries: &SearchQueries<f32>,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[R])],
) -> Vec<TopK> {
    let (m, d) = (queries.m, queries.d);
    // The queries follow the column's dtype (Float32 for the narrower
    // types), as in `top_k_similar`.
    let (query_sq, query_norm) = (&queries.sq, &queries.norm);
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
    let mut scores = vec![0.0f32; m.min(QUERY_CHUNK) * ROW_BLOCK];
    let mut screen = Screen::new(metric, gamma, rank_error);
    let mut passed: Vec<u32> = Vec::with_capacity(m.min(QUERY_CHUNK));
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
        for (q0, chunk) in &queries.chunks {
            let (q0, mc) = (*q0, chunk.count());
            // scores (b × mc) = block (b × d) · chunkᵀ (d × mc)
            let s = &mut scores[..b * mc];
            if !chunk.scores(&block[..b * d], b, s) {
                s.fill(f32::NAN);
            }
            let in_chunk = q0..q0 + mc;
            screen.prepare(
                &lower[in_chunk.clone()],
                &query_norm[in_chunk.clone()],
                &query_sq[in_chunk.clone()],
            );
            for slot in 0..b {
                let row_scores = &s[slot * mc..(slot + 1) * mc];
                screen.pass(row_scores, row_norm[slot], row_sq[slot], &mut passed);
                for &j in &passed {
                    let (j, q) = (j as usize, q0 + j as usize);
                    let approx = f64::from(row_scores[j]);
                    let (qn, qs) = (query_norm[q], query_sq[q]);
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
                            let slack =
                                4.0 * f64::EPSILON * rest + rank_error * (rest + 2.0 * scale);
                            (
                                2.0 * (approx - err) - rest - slack,
                                2.0 * (approx + err) - rest + slack,
                            )
                        }
                    };
                    if hi.is_nan() || hi < screen.threshold[j] {
                        continue; // cannot reach the top k (or NaN)
                    }
                    let row_index = block_index * ROW_BLOCK + slot;
                    lower[q].push(lo, row_index as u32, lo);
                    candidates[q].push((hi, row_index));
                    // The threshold only rises, and any worst kept lower
                    // bound is a safe cut: raise it at once.
                    let t = lower[q].worst_key();
                    if t > screen.threshold[j] {
                        screen.set(j, t, qn, qs);
                    }
                }
            }
            for q in in_chunk {
                let threshold = lower[q].worst_key();
                if candidates[q].len() > 8 * k + 256 {
                    candidates[q].retain(|&(hi, _)| hi >= threshold);
                }
            }
        }
    }
    // Exact scores for the survivors.
    (0..m)
        .map(|q| {
            let threshold = lower[q].worst_key();
            let query = queries.query(q);
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

/// A cheap first test of the Float32 screen, query by query for one row:
/// it lets through every query whose bound `hi` (computed exactly as in
/// `nearest_screened`) could reach the query's threshold, and most others
/// not. It compares `approx` with `a + c · |x| + e·|x|²`, a rearrangement
/// of `hi >= threshold` with twice the rounding allowance `gamma` (and
/// three times the `f64` allowance of the Euclidean bound), so the `f64`
/// roundings of the two forms cannot make it drop a row the exact test
/// keeps; NaN anywhere lets the query through to the exact test.
struct Screen {
    metric: Metric,
    gamma: f64,
    rank_error: f64,
    /// Each query's threshold: the worst lower bound its top k keeps.
    threshold: Vec<f64>,
    a: Vec<f64>,
    c: Vec<f64>,
    /// The factor of `|x|²` (Euclidean only).
    e: f64,
}

impl Screen {
    fn new(metric: Metric, gamma: f64, rank_error: f64) -> Self {
        let e = match metric {
            Metric::Euclidean => (1.0 - 12.0 * f64::EPSILON - rank_error) / 2.0,
            Metric::Cosine | Metric::Dot => 0.0,
        };
        Screen {
            metric,
            gamma,
            rank_error,
            threshold: Vec::new(),
            a: Vec::new(),
            c: Vec::new(),
            e,
        }
    }

    /// The thresholds of a chunk of queries.
    fn prepare(&mut self, lower: &[TopK], query_norm: &[f64], query_sq: &[f64]) {
        let count = lower.len();
        self.threshold.resize(count, f64::NEG_INFINITY);
        self.a.resize(count, 0.0);
        self.c.resize(count, 0.0);
        for (j, ((top, &qn), &qs)) in lower.iter().zip(query_norm).zip(query_sq).enumerate() {
            self.set(j, top.worst_key(), qn, qs);
        }
    }

    /// Query `j`'s threshold is now `t` (its norm `qn`, squared norm `qs`).
    fn set(&mut self, j: usize, t: f64, qn: f64, qs: f64) {
        let (margin, re) = (2.0 * self.gamma, self.rank_error);
        let (a, c) = match self.metric {
            // hi = (approx + γ qn xn) / (qn xn) + re  >=  t
            Metric::Cosine => (0.0, (t - re - margin) * qn),
            // hi = approx + (γ + re) qn xn  >=  t
            Metric::Dot => (t, -(margin + re) * qn),
            // hi = 2 (approx + γ qn xn) - rest + slack  >=  t, with
            // rest = qs + xs and slack = 4ε rest + re (rest + 2 qn xn)
            Metric::Euclidean => ((t + qs * 2.0 * self.e) / 2.0, -(margin + re) * qn),
        };
        if let (Some(threshold), Some(a_j), Some(c_j)) = (
            self.threshold.get_mut(j),
            self.a.get_mut(j),
            self.c.get_mut(j),
        ) {
            (*threshold, *a_j, *c_j) = (t, a, c);
        }
    }

    /// The queries (indices into this chunk) whose scores against a row of
    /// norm `xn` and squared norm `xs` pass the cheap test.
    fn pass(&self, scores: &[f32], xn: f64, xs: f64, passed: &mut Vec<u32>) {
        passed.clear();
        let extra = self.e * xs;
        let n = scores.len().min(self.a.len()).min(self.c.len());
        let (scores, a, c) = (&scores[..n], &self.a[..n], &self.c[..n]);
        #[cfg(target_arch = "x86_64")]
        let done = if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the three slices have length n.
            unsafe { screen_pass_avx512(scores, a, c, xn, extra, passed) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for j in done..n {
            let below = f64::from(scores[j]) < a[j] + c[j] * xn + extra;
            // NaN compares false: not below, so it passes.
            if !below {
                passed.push(j as u32);
            }
        }
    }
}

/// [`Screen::pass`] eight queries at a time, with the same operations in
/// the same order (so the same bits); returns how many queries it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn screen_pass_avx512(
    scores: &[f32],
    a: &[f64],
    c: &[f64],
    xn: f64,
    extra: f64,
    passed: &mut Vec<u32>,
) -> usize {
    use std::arch::x86_64::*;
    let n = scores.len().min(a.len()).min(c.len());
    let whole = n / 8 * 8;
    let (xn, extra) = (_mm512_set1_pd(xn), _mm512_set1_pd(extra));
    for j in (0..whole).step_by(8) {
        // SAFETY: j + 8 <= whole <= n numbers of each slice; unaligned loads.
        let below = unsafe {
            let score = _mm512_cvtps_pd(_mm256_loadu_ps(scores.as_ptr().add(j)));
            let scaled = _mm512_mul_pd(_mm512_loadu_pd(c.as_ptr().add(j)), xn);
            let bar = _mm512_add_pd(
                _mm512_add_pd(_mm512_loadu_pd(a.as_ptr().add(j)), scaled),
                extra,
            );
            _mm512_cmp_pd_mask::<_CMP_LT_OQ>(score, bar)
        };
        // NaN compares false: not below, so it passes.
        let mut pass = !below;
        while pass != 0 {
            passed.push((j + pass.trailing_zeros() as usize) as u32);
            pass &= pass - 1;
        }
    }
    whole
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
