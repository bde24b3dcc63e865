//! The screens of [`super::neighbors::nearest`]: scores computed in Float32
//! (or from 8-bit codes) let through every row that *could* reach a
//! query's top k, by proven bounds on their error; only those rows are
//! scored exactly. The bounds, the thresholds the threads share and the
//! screened searches live here; the exact ranking and the top-k selection
//! in `neighbors`.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

#[cfg(target_arch = "x86_64")]
use crate::kernels::cpu::{self, Level};
use crate::kernels::row_access::prefetch_row;
use crate::kernels::vector;

use super::product::{self, Bars, Kernel, Passed};
use super::rows::{F32Row, SearchQueries, ROW_BLOCK};
use super::screen8;
use super::topk::{Metric, TopK};

/// `nearest` for Float32 rows: a Float32 matrix product screens the rows
/// (twice as fast as Float64), letting through every row whose score
/// *could* reach the top k given a proven bound on the Float32 rounding
/// error; only those candidates are scored exactly (f64 accumulation, the
/// same kernel as `top_k_similar`), at once, from the block's copy while
/// it is in cache. The result is therefore exactly the top k of the exact
/// scores, ties to the lower position.
///
/// Rows whose key bound is below `shared`'s bound of the whole search's
/// k-th best key are dropped even if they would be in this part's top k;
/// every row of the search's top k is kept by its part's top k, so merging
/// the parts stays exact. The part raises `shared` as its own top k fills.
pub(super) fn nearest_screened<R: F32Row>(
    queries: &SearchQueries<f32>,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[R])],
    shared: &Thresholds,
) -> Vec<TopK> {
    let (m, d) = (queries.m, queries.d);
    let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    if rows.len() <= SMALL_PART {
        // A few rows (a group's, in `group_by().agg`): every pair ranked
        // as the screen's survivors are, without the screen's setup.
        let mut scratch = Vec::new();
        for &(position, row) in rows {
            let wide = R::widened(row, &mut scratch);
            for (q, top) in tops.iter_mut().enumerate() {
                let (key, score) = R::rank_widened(metric, wide, queries.query(q));
                top.push(key, position, score);
            }
        }
        return tops;
    }
    let bound = ScreenBound::new::<R>(d);
    let mut screen = Screen::new(metric, bound, queries);
    let block_rows = screened_block_rows(queries, d);
    // Chunks the fused product cannot take (too few queries for panels)
    // are scored into a block of scores and screened row by row.
    let plain_chunk = queries
        .chunks
        .iter()
        .filter(|(_, chunk)| chunk.kernel() != Kernel::Panels)
        .map(|(_, chunk)| chunk.count())
        .max()
        .unwrap_or(0);
    let mut scores = vec![0.0f32; plain_chunk * block_rows];
    let mut block = vec![0.0f32; block_rows * d];
    let mut row_sq = vec![0.0f64; block_rows];
    let mut row_norm = vec![0.0f64; block_rows];
    let (mut xn32, mut extra32, mut extra_abs32) = (Vec::new(), Vec::new(), Vec::new());
    let mut passed: Vec<u32> = Vec::new();
    let mut pairs: Vec<Passed> = Vec::new();
    let mut partial: Vec<f32> = Vec::new();
    let mut scratch = Vec::new();
    let mut lower: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let mut pending: Vec<Pending> = Vec::new();

    for block_part in ramped_blocks(rows, block_rows) {
        let b = block_part.len();
        pending.clear();
        // What the other parts found since the last block.
        for q in 0..m {
            let t = shared.get(q);
            if t > screen.threshold[q] {
                screen.set(q, t);
            }
        }
        xn32.clear();
        extra32.clear();
        extra_abs32.clear();
        for (slot, (_, row)) in block_part.iter().enumerate() {
            if let Some((_, ahead)) = block_part.get(slot + PREFETCH_ROWS) {
                prefetch_row(ahead);
            }
            let row = R::widened(row, &mut scratch);
            for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(row) {
                *dst = *src;
            }
            row_sq[slot] = vector::sum_sq(row);
            row_norm[slot] = vector::norm_l2_from_sum_sq(row, row_sq[slot]);
            let (xn, extra) = screen.row_terms(row_norm[slot], row_sq[slot]);
            xn32.push(xn);
            extra32.push(extra);
            extra_abs32.push(extra.abs());
        }
        let xb = &block[..b * d];
        // Keeps row `slot` of the block as a candidate for query `q` given
        // their Float32 product (see `Pending`).
        let offer = |screen: &mut Screen,
                     lower: &mut [TopK],
                     pending: &mut Vec<Pending>,
                     q: usize,
                     slot: usize,
                     approx: f32| {
            let (qn, qs) = (queries.norm[q], queries.sq[q]);
            let (xn, xs) = (row_norm[slot], row_sq[slot]);
            if R::nan_key(qs, xs) {
                return; // never kept
            }
            let product = bound.f32_product(approx, qn, xn);
            let bounds = bound.key_bounds(metric, product, (qn, qs), (xn, xs));
            let position = block_part.get(slot).map_or(0, |&(position, _)| position);
            if let Some(t) = Pending::keep(
                lower,
                pending,
                screen.threshold[q],
                (q, slot, position),
                bounds,
            ) {
                screen.set(q, t);
                shared.raise(q, t);
            }
        };
        for (q0, chunk) in &queries.chunks {
            let (q0, mc) = (*q0, chunk.count());
            let in_chunk = q0..q0 + mc;
            if chunk.kernel() == Kernel::Panels {
                pairs.clear();
                let bars = Bars {
                    a: &screen.a32[in_chunk.clone()],
                    a_abs: &screen.a_abs32[in_chunk.clone()],
                    c: &screen.c32[in_chunk.clone()],
                    c_abs: &screen.c_abs32[in_chunk.clone()],
                    xn: &xn32,
                    extra: &extra32,
                    extra_abs: &extra_abs32,
                };
                if chunk.screened_scores(xb, b, &bars, &mut partial, &mut pairs) {
                    for pair in &pairs {
                        let (slot, q) = (pair.row as usize, q0 + pair.query as usize);
                        offer(&mut screen, &mut lower, &mut pending, q, slot, pair.score);
                    }
                    continue;
                }
            }
            // scores (b × mc) = block (b × d) · chunkᵀ (d × mc)
            let s = &mut scores[..b * mc];
            if !chunk.scores(xb, b, s) {
                s.fill(f32::NAN);
            }
            for slot in 0..b {
                let row_scores = &s[slot * mc..(slot + 1) * mc];
                screen.pass(q0, row_scores, row_norm[slot], row_sq[slot], &mut passed);
                for &j in &passed {
                    let q = q0 + j as usize;
                    offer(
                        &mut screen,
                        &mut lower,
                        &mut pending,
                        q,
                        slot,
                        row_scores[j as usize],
                    );
                }
            }
        }
        // The candidates still in reach, scored exactly from the block.
        for &Pending { query, slot, hi } in &pending {
            let (q, slot) = (query as usize, slot as usize);
            if hi < screen.threshold[q] {
                continue;
            }
            let (Some(top), Some(&(position, _)), Some(wide)) = (
                tops.get_mut(q),
                block_part.get(slot),
                xb.get(slot * d..(slot + 1) * d),
            ) else {
                continue;
            };
            let (key, score) = R::rank_widened(metric, wide, queries.query(q));
            top.push(key, position, score);
            let t = top.worst_key();
            if t > screen.threshold[q] {
                screen.set(q, t);
                shared.raise(q, t);
            }
        }
    }
    tops
}

/// A candidate of a block: a (query, row) pair whose upper key bound `hi`
/// reached the query's threshold. Its lower bound has entered `lower`, the
/// k best lower bounds of the part's candidates, whose worst is a bound of
/// the k-th best key too (k rows reach it): so the threshold rises before
/// any exact score. At the end of the block, the candidates still in reach
/// are scored exactly while their rows are in cache; those that fell below
/// the risen threshold never are.
#[derive(Debug, Clone, Copy)]
struct Pending {
    query: u32,
    slot: u32,
    hi: f64,
}

impl Pending {
    /// Keeps `(query q, row slot of the block at position)` with key
    /// bounds `(lo, hi)` unless `hi` is below `threshold` (a NaN bound
    /// bounds nothing: kept). Returns the new threshold when `lo` raised it.
    #[inline]
    fn keep(
        lower: &mut [TopK],
        pending: &mut Vec<Pending>,
        threshold: f64,
        (q, slot, position): (usize, usize, u32),
        (lo, hi): (f64, f64),
    ) -> Option<f64> {
        if hi < threshold {
            return None; // cannot reach the top k
        }
        pending.push(Pending {
            query: q as u32,
            slot: slot as u32,
            hi,
        });
        let lower = lower.get_mut(q)?;
        lower.push(lo, position, lo);
        let t = lower.worst_key();
        (t > threshold).then_some(t)
    }
}

/// The queries quantized for the Int8 screen ([`screen8`]) of a search of
/// `rows` rows when it applies: a CPU with AVX2 or AVX-512 VNNI, at least
/// [`INT8_MIN_QUERIES`], at least the kernel's
/// [`min_rows`](screen8::Multiply::min_rows), and `d` within the exact
/// range of its lanes.
pub(super) fn quantized_queries(
    queries: &SearchQueries<f32>,
    rows: usize,
) -> Option<screen8::QuantQueries> {
    let multiply = screen8::Multiply::active()?;
    if queries.m < INT8_MIN_QUERIES || rows < multiply.min_rows() || queries.d > screen8::MAX_WIDTH
    {
        return None;
    }
    screen8::QuantQueries::new(&queries.values, queries.m, queries.d, multiply)
}

/// Parts of at most this many rows are ranked pair by pair: the screen's
/// setup costs more than it saves there (measured: `top_k_similar` in a
/// `group_by().agg` over 10,000 groups of 20 rows × 64, 120 ms screened,
/// 108 ms ranked pair by pair).
const SMALL_PART: usize = 64;

/// Rows ahead whose cache lines are asked for while a block is copied
/// (a filter's passing rows lie far apart in memory).
const PREFETCH_ROWS: usize = 4;

/// From this many queries on, quantizing the rows for the Int8 screen pays
/// (`cargo run --release --example nearest_bench`: with VNNI, at 32
/// queries the search is memory-bound and the Float32 screen 5–10% faster,
/// at 64 the Int8 screen 15–20% faster, 100k × 384 and × 768; with AVX2 on
/// a 2-core EPYC, 16–48 queries the two within the machine's noise,
/// uniform and clustered rows).
const INT8_MIN_QUERIES: usize = 48;

/// `nearest_screened` with the Int8 screen of [`screen8`] in place of the
/// Float32 product: each block of rows is quantized, the exact products of
/// the codes are screened in registers against bars derived from
/// `QuantScreen`, and the pairs that pass are scored exactly, as in
/// `nearest_screened` (and with the same sharing of thresholds).
pub(super) fn nearest_quantized<R: F32Row>(
    queries: &SearchQueries<f32>,
    quantized: &screen8::QuantQueries,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[R])],
    shared: &Thresholds,
) -> Vec<TopK> {
    let (m, d) = (queries.m, queries.d);
    let bound = ScreenBound::new::<R>(d);
    let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let mut screen = QuantScreen::new(metric, bound, queries, quantized);
    let multiply = quantized.multiply();
    let block_rows = screen8::slice_rows(d, multiply).clamp(ROW_BLOCK, 4 * ROW_BLOCK);
    let mut block = screen8::QuantRows::new(d, multiply);
    let (mut row_sq, mut row_norm) = (Vec::new(), Vec::new());
    let (mut residual32, mut norm32, mut extra32) = (Vec::new(), Vec::new(), Vec::new());
    let mut bars = BarsOfBlock::default();
    let mut hits: Vec<screen8::Hit> = Vec::new();
    let mut partial: Vec<i32> = Vec::new();
    let mut scratch = Vec::new();
    let mut lower: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    let mut pending: Vec<Pending> = Vec::new();

    for block_part in ramped_blocks(rows, block_rows) {
        pending.clear();
        // What the other parts found since the last block.
        for q in 0..m {
            let t = shared.get(q);
            if t > screen.threshold[q] {
                screen.set(q, t);
            }
        }
        block.clear();
        row_sq.clear();
        row_norm.clear();
        residual32.clear();
        norm32.clear();
        extra32.clear();
        // The largest row terms of the quantized rows (the others pass
        // every bar), for the bars' rounding slack.
        let mut largest = [0.0f64; 3];
        for (_, row) in block_part {
            let row = R::widened(row, &mut scratch);
            // Σx² as quantizing adds it up (another order of the same
            // sum), else as elsewhere.
            let sq = block.push(row).unwrap_or_else(|| vector::sum_sq(row));
            let norm = vector::norm_l2_from_sum_sq(row, sq);
            let residual = block.residual.last().copied().unwrap_or(f64::NAN);
            let terms = [residual as f32, norm as f32, (screen.e * sq) as f32];
            if residual.is_finite() {
                for (top, &term) in largest.iter_mut().zip(&terms) {
                    *top = top.max(f64::from(term).abs());
                }
            }
            row_sq.push(sq);
            row_norm.push(norm);
            residual32.push(terms[0]);
            norm32.push(terms[1]);
            extra32.push(terms[2]);
        }
        screen.bars(largest, &mut bars);
        let quant_bars = screen8::Bars {
            a: &bars.a,
            c1: &bars.c1,
            c2: &bars.c2,
            c3: &bars.c3,
            residual: &residual32,
            norm: &norm32,
            extra: &extra32,
        };
        hits.clear();
        if !screen8::screened_dots(quantized, &block, &quant_bars, &mut partial, &mut hits) {
            // Not expected (the lengths agree by construction): every pair
            // is then scored exactly.
            hits.clear();
            for slot in 0..block_part.len() {
                for q in 0..m {
                    hits.push(screen8::Hit {
                        row: slot as u32,
                        query: q as u32,
                        dot: 0,
                    });
                }
            }
            for r in block.residual.iter_mut() {
                *r = f64::NAN;
            }
        }
        for hit in &hits {
            let (slot, q) = (hit.row as usize, hit.query as usize);
            let (Some(&(position, row)), Some(&xn), Some(&xs), Some(&sx), Some(&rx)) = (
                block_part.get(slot),
                row_norm.get(slot),
                row_sq.get(slot),
                block.scale.get(slot),
                block.residual.get(slot),
            ) else {
                continue;
            };
            let (qn, qs) = (queries.norm[q], queries.sq[q]);
            if R::nan_key(qs, xs) {
                continue; // never kept
            }
            let product = screen.product(q, hit.dot, f64::from(sx), rx, xn);
            let (_, hi) = bound.key_bounds(metric, product, (qn, qs), (xn, xs));
            // A NaN bound (a row or query not quantized) bounds nothing.
            if hi < screen.threshold[q] {
                continue;
            }
            // The Float32 product, within a far smaller bound, screens the
            // pair once more (see `Pending`).
            let wide = R::widened(row, &mut scratch);
            let approx = screen8::dot_f32(queries.query(q), wide);
            let product = bound.f32_product(approx, qn, xn);
            let bounds = bound.key_bounds(metric, product, (qn, qs), (xn, xs));
            let candidate = (q, slot, position);
            if let Some(t) = Pending::keep(
                &mut lower,
                &mut pending,
                screen.threshold[q],
                candidate,
                bounds,
            ) {
                screen.set(q, t);
                shared.raise(q, t);
            }
        }
        // The candidates still in reach, scored exactly.
        for &Pending { query, slot, hi } in &pending {
            let (q, slot) = (query as usize, slot as usize);
            if hi < screen.threshold[q] {
                continue;
            }
            let (Some(top), Some(&(position, row))) = (tops.get_mut(q), block_part.get(slot))
            else {
                continue;
            };
            let wide = R::widened(row, &mut scratch);
            let (key, score) = R::rank_widened(metric, wide, queries.query(q));
            top.push(key, position, score);
            let t = top.worst_key();
            if t > screen.threshold[q] {
                screen.set(q, t);
                shared.raise(q, t);
            }
        }
    }
    tops
}

/// The bars of one block for [`screen8::screened_dots`], per query.
#[derive(Debug, Default)]
struct BarsOfBlock {
    a: Vec<f32>,
    c1: Vec<f32>,
    c2: Vec<f32>,
    c3: Vec<f32>,
}

/// The Int8 screen's bars, query by query. The product of query `q` and
/// row `x` is approximated by `s_q s_x I` within `E = (|q| + R_q)·R_x +
/// R_q·|x| + η·(|q| + R_q)·(|x| + R_x)` ([`screen8`]; `η = 2⁻³⁰` of room
/// for the `f64` roundings of the bars and bounds, all of them relative
/// errors of a few `ε` of terms at most `(|q| + R_q)·(|x| + R_x)` in size,
/// or of a threshold no pair near it can reach), and the key bounds follow
/// as in `ScreenBound::key_bounds`. The bar of a pair is a rearrangement
/// of `hi >= threshold` for `P = s_x I`, with `E` widened by another
/// `η·(|q| + R_q)·(|x| + R_x)` for the roundings of both forms:
///
/// * dot: `P >= t/s_q - K1/s_q · R_x - (K2 + re·|q|)/s_q · |x|`;
/// * cosine: `P >= ((t - re)·|q| - K2)/s_q · |x| - K1/s_q · R_x`;
/// * Euclidean, `t' = -t²·(1 + 8ε)` (see `Screen::set`): `P >= (t' +
///   2e·|q|²)/(2 s_q) + e·|x|²/s_q - K1/s_q · R_x - (K2 + re·|q|)/s_q ·
///   |x|`, with `e` as in `Screen`;
///
/// where `K1 = (|q| + R_q)(1 + 2η)`, `K2 = R_q + 2η(|q| + R_q)`, `re` the
/// ranking's error. So every pair whose exact bound passes has `P >= B`
/// with the `f64` bar `B`; lowering `a` by [`screen8::BAR_SLACK`] times the
/// bar's largest magnitude over the block (plus `2⁻¹⁰⁰` for underflow)
/// covers the `f32` roundings of the bar's numbers (`2.02u·M`) and the
/// kernel's own `5.1u·M`. A query that is not quantized has NaN bars:
/// every pair with it passes.
struct QuantScreen {
    metric: Metric,
    bound: ScreenBound,
    norm: Vec<f64>,
    sq: Vec<f64>,
    scale: Vec<f64>,
    residual: Vec<f64>,
    /// Each query's threshold: a key below it cannot reach the top k.
    threshold: Vec<f64>,
    /// Each query's bar coefficients `a, c1, c2, c3` before the slack.
    coefficients: Vec<[f64; 4]>,
    /// The factor of `|x|²` (Euclidean only).
    e: f64,
}

/// The room `η` of [`QuantScreen`] for `f64` roundings.
const QUANT_ROOM: f64 = 1.0 / (1u64 << 30) as f64;

impl QuantScreen {
    fn new(
        metric: Metric,
        bound: ScreenBound,
        queries: &SearchQueries<f32>,
        quantized: &screen8::QuantQueries,
    ) -> Self {
        let e = match metric {
            Metric::Euclidean => (1.0 - 12.0 * f64::EPSILON - bound.rank_error) / 2.0,
            Metric::Cosine | Metric::Dot => 0.0,
        };
        let m = queries.m;
        let mut screen = QuantScreen {
            metric,
            bound,
            norm: queries.norm.clone(),
            sq: queries.sq.clone(),
            scale: quantized.scale.iter().map(|&s| f64::from(s)).collect(),
            residual: quantized.residual.clone(),
            threshold: vec![f64::NEG_INFINITY; m],
            coefficients: vec![[f64::NAN; 4]; m],
            e,
        };
        for q in 0..m {
            screen.set(q, f64::NEG_INFINITY);
        }
        screen
    }

    /// Query `q`'s threshold is now the key `t`.
    fn set(&mut self, q: usize, t: f64) {
        let (Some(&qn), Some(&qs), Some(&sq), Some(&rq)) = (
            self.norm.get(q),
            self.sq.get(q),
            self.scale.get(q),
            self.residual.get(q),
        ) else {
            return;
        };
        let re = self.bound.rank_error;
        let k1 = (qn + rq) * (1.0 + 2.0 * QUANT_ROOM);
        let k2 = rq + 2.0 * QUANT_ROOM * (qn + rq);
        let c1 = -k1 / sq;
        let coefficients = match self.metric {
            Metric::Dot => [t / sq, c1, -(k2 + re * qn) / sq, 0.0],
            Metric::Cosine => [0.0, c1, ((t - re) * qn - k2) / sq, 0.0],
            Metric::Euclidean => {
                // As `Screen::set`: the screen bounds -distance².
                let square = -(t * t) * (1.0 + 8.0 * f64::EPSILON);
                [
                    (square + 2.0 * self.e * qs) / (2.0 * sq),
                    c1,
                    -(k2 + re * qn) / sq,
                    1.0 / sq,
                ]
            }
        };
        if let (Some(threshold), Some(slot)) =
            (self.threshold.get_mut(q), self.coefficients.get_mut(q))
        {
            *threshold = t;
            *slot = coefficients;
        }
    }

    /// The `f32` bars of every query for a block whose quantized rows have
    /// row terms (`R_x`, `|x|`, `e·|x|²`) of at most `largest`.
    fn bars(&self, largest: [f64; 3], out: &mut BarsOfBlock) {
        out.a.clear();
        out.c1.clear();
        out.c2.clear();
        out.c3.clear();
        let tiny = 1.0 / (1u128 << 100) as f64;
        for &[a, c1, c2, c3] in &self.coefficients {
            let size =
                a.abs() + c1.abs() * largest[0] + c2.abs() * largest[1] + c3.abs() * largest[2];
            out.a.push((a - screen8::BAR_SLACK * (size + tiny)) as f32);
            out.c1.push(c1 as f32);
            out.c2.push(c2 as f32);
            out.c3.push(c3 as f32);
        }
    }

    /// Query `q`'s product with a row (scale `sx`, residual bound `rx`,
    /// norm `xn`) whose codes' product is `dot`, as `(approx, err)`.
    #[inline]
    fn product(&self, q: usize, dot: i32, sx: f64, rx: f64, xn: f64) -> (f64, f64) {
        let (qn, sq, rq) = (self.norm[q], self.scale[q], self.residual[q]);
        let approx = sq * sx * f64::from(dot);
        let err = (qn + rq) * rx + rq * xn + QUANT_ROOM * (qn + rq) * (xn + rx);
        (approx, err)
    }
}

/// Rows per block of the screened search: with queries in panels, as many
/// as the product keeps in L2 at once (each block re-reads the packed
/// queries); else `ROW_BLOCK`.
fn screened_block_rows(queries: &SearchQueries<f32>, d: usize) -> usize {
    let panels = queries
        .chunks
        .iter()
        .any(|(_, chunk)| chunk.kernel() == Kernel::Panels);
    if panels {
        product::screened_slice_rows(d).clamp(ROW_BLOCK, 4 * ROW_BLOCK)
    } else {
        ROW_BLOCK
    }
}

/// The error allowances of the Float32 screen for vectors of length `d`.
#[derive(Debug, Clone, Copy)]
struct ScreenBound {
    /// `|fl32(q·x) - q·x| <= gamma/2 · |q| |x|` for any summation order
    /// (with FMA or not); doubled for the f64 rounding of everything else.
    gamma: f64,
    /// Rows ranked other than exactly (Float16) widen every bound by the
    /// ranking's own error, so no row that ranking would keep is dropped.
    rank_error: f64,
}

impl ScreenBound {
    fn new<R: F32Row>(d: usize) -> Self {
        let unit = f64::from(f32::EPSILON) / 2.0;
        let gamma = 2.0 * (d as f64 * unit) / (1.0 - d as f64 * unit).max(0.5);
        ScreenBound {
            gamma,
            rank_error: R::rank_error(d),
        }
    }

    /// The Float32 product of a query of norm `qn` and a row of norm `xn`
    /// as `(approx, err)`: the product and a bound of its error.
    #[inline]
    fn f32_product(&self, approx: f32, qn: f64, xn: f64) -> (f64, f64) {
        (f64::from(approx), self.gamma * (qn * xn))
    }

    /// Bounds `(lo, hi)` of the key of a row of norm `xn` and squared norm
    /// `xs` for a query of norm `qn` and squared norm `qs`, from an
    /// approximation `approx` of their dot product within `err` of it (see
    /// [`ScreenBound::f32_product`]), as `TopK` ranks it: cosine and dot
    /// directly; Euclidean as `-distance`, from the bounds of
    /// [`ScreenBound::square_bounds`] on `-distance²`.
    #[inline]
    fn key_bounds(
        &self,
        metric: Metric,
        (approx, err): (f64, f64),
        (qn, qs): (f64, f64),
        (xn, xs): (f64, f64),
    ) -> (f64, f64) {
        let (lo, hi) = self.square_bounds(metric, (approx, err), (qn, qs), (xn, xs));
        match metric {
            Metric::Cosine | Metric::Dot => (lo, hi),
            // The key is -fl(√s) for the squared distance s, and
            // `-hi <= s <= -lo`. With `fl(√x)` within `ε/2` of `√x`, the
            // factors `1 ± 2ε` (their own roundings included) keep the
            // bounds on the outer side of every rounding of `√`. NaN stays
            // NaN (`f64::max` would drop it).
            Metric::Euclidean => {
                let root = |x: f64| if x.is_nan() { x } else { x.max(0.0).sqrt() };
                (
                    -(root(-lo) * (1.0 + 2.0 * f64::EPSILON)),
                    -(root(-hi) * (1.0 - 2.0 * f64::EPSILON)),
                )
            }
        }
    }

    /// Bounds `(lo, hi)` as [`ScreenBound::key_bounds`], but of
    /// `-distance²` for Euclidean, which the screen compares.
    #[inline]
    fn square_bounds(
        &self,
        metric: Metric,
        (approx, err): (f64, f64),
        (qn, qs): (f64, f64),
        (xn, xs): (f64, f64),
    ) -> (f64, f64) {
        let scale = qn * xn;
        let rank_error = self.rank_error;
        match metric {
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
                let rest = qs + xs;
                let slack = 4.0 * f64::EPSILON * rest + rank_error * (rest + 2.0 * scale);
                (
                    2.0 * (approx - err) - rest - slack,
                    2.0 * (approx + err) - rest + slack,
                )
            }
        }
    }
}

/// Lower bounds of each query's k-th best key over the whole search,
/// shared by its parts: minus infinity at first, raised by each part to the
/// worst key its own top k keeps once it keeps k (k rows of the search
/// reach it). When the parts read it does not change their results, only
/// how many rows they score exactly.
#[doc(hidden)]
pub struct Thresholds {
    /// Keys as [`order_bits`], so that `fetch_max` takes the higher key.
    keys: Vec<AtomicU64>,
}

impl Thresholds {
    /// Minus infinity for each of `m` queries.
    pub(super) fn new(m: usize) -> Self {
        let keys = (0..m)
            .map(|_| AtomicU64::new(order_bits(f64::NEG_INFINITY)))
            .collect();
        Thresholds { keys }
    }

    /// Query `q`'s bound (minus infinity for an unknown query).
    #[inline]
    fn get(&self, q: usize) -> f64 {
        self.keys.get(q).map_or(f64::NEG_INFINITY, |key| {
            from_order_bits(key.load(AtomicOrdering::Relaxed))
        })
    }

    /// Raises query `q`'s bound to `t` (no-op if lower, or NaN).
    #[inline]
    fn raise(&self, q: usize, t: f64) {
        if let (Some(key), false) = (self.keys.get(q), t.is_nan()) {
            key.fetch_max(order_bits(t), AtomicOrdering::Relaxed);
        }
    }
}

/// `x`'s bits mapped so that unsigned order is numeric order (-0 below +0).
fn order_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The inverse of [`order_bits`].
fn from_order_bits(bits: u64) -> f64 {
    if bits >> 63 == 1 {
        f64::from_bits(bits & !(1 << 63))
    } else {
        f64::from_bits(!bits)
    }
}

/// `rows` in blocks of `block` rows, the first ones smaller (from
/// `RAMP_FIRST` rows, doubling): a part's top k starts empty, and its
/// thresholds (or those the other parts share) only rise between blocks.
fn ramped_blocks<T>(rows: &[T], block: usize) -> impl Iterator<Item = &[T]> {
    let block = block.max(1);
    let mut size = RAMP_FIRST.min(block);
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (head, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        size = (2 * size).min(block);
        Some(head)
    })
}

/// The first block of a part in [`ramped_blocks`].
const RAMP_FIRST: usize = 64;

/// The Float32 screen, query by query: it lets through every pair whose
/// bound `hi` (of [`ScreenBound::square_bounds`]) could reach the query's
/// threshold, and most others not. Per query it keeps `a` and `c` so that
/// the test is `approx >= a + c · |x| + e·|x|²`, a rearrangement of
/// `hi >= threshold` with twice the rounding allowance `gamma` (and three
/// times the `f64` allowance of the Euclidean bound), so the `f64`
/// roundings of the two forms cannot make it drop a row the exact test
/// keeps; NaN anywhere lets the pair through to the exact test.
///
/// The product's fused screen ([`Queries::screened_scores`]) takes the
/// same bars in `f32`: `a32`, `c32`, `xn32`, `extra32 = fl32(e·|x|²)`,
/// each within `u = 2⁻²⁴` (relative) of its `f64` value, so the bar `B` of
/// those `f32` numbers is within `2.02u·M` of the `f64` bar `B64` that
/// [`Screen::pass`] computes (`M = |a| + |c·xn| + |extra|`; the `f64`
/// evaluation adds `2.01 ε·M`). The fused screen lets through every score
/// `s >= B - 4.9u·M`, hence every `s >= B64`: every pair this screen lets
/// through. `a_abs32` carries `2⁻¹⁰⁰` more than `|a32|`, so that the
/// fused screen's own slack covers the absolute error of `f32` underflow.
struct Screen {
    metric: Metric,
    bound: ScreenBound,
    /// Each query's norm and squared norm.
    norm: Vec<f64>,
    sq: Vec<f64>,
    /// Each query's threshold: a key below it cannot reach the top k.
    threshold: Vec<f64>,
    a: Vec<f64>,
    c: Vec<f64>,
    a32: Vec<f32>,
    a_abs32: Vec<f32>,
    c32: Vec<f32>,
    c_abs32: Vec<f32>,
    /// The factor of `|x|²` (Euclidean only).
    e: f64,
}

impl Screen {
    /// The screen of `queries`, every threshold minus infinity.
    fn new(metric: Metric, bound: ScreenBound, queries: &SearchQueries<f32>) -> Self {
        let e = match metric {
            Metric::Euclidean => (1.0 - 12.0 * f64::EPSILON - bound.rank_error) / 2.0,
            Metric::Cosine | Metric::Dot => 0.0,
        };
        let m = queries.m;
        let mut screen = Screen {
            metric,
            bound,
            norm: queries.norm.clone(),
            sq: queries.sq.clone(),
            threshold: vec![f64::NEG_INFINITY; m],
            a: vec![0.0; m],
            c: vec![0.0; m],
            a32: vec![0.0; m],
            a_abs32: vec![0.0; m],
            c32: vec![0.0; m],
            c_abs32: vec![0.0; m],
            e,
        };
        for q in 0..m {
            screen.set(q, f64::NEG_INFINITY);
        }
        screen
    }

    /// Query `q`'s threshold is now the key `t`.
    fn set(&mut self, q: usize, t: f64) {
        let (Some(&qn), Some(&qs)) = (self.norm.get(q), self.sq.get(q)) else {
            return;
        };
        let (margin, re) = (2.0 * self.bound.gamma, self.bound.rank_error);
        // Euclidean keys are -distance; the screen bounds -distance². A row
        // whose key bound `hi_key` (of `ScreenBound::key_bounds`) reaches
        // `t <= 0` has `-distance²` bounded by `hi >= -t²·(1 + 4.1ε)`, so
        // `-t²·(1 + 8ε)` (rounded three times) is below every such `hi`.
        let square = match self.metric {
            Metric::Euclidean => -(t * t) * (1.0 + 8.0 * f64::EPSILON),
            Metric::Cosine | Metric::Dot => t,
        };
        let (a, c) = match self.metric {
            // hi = (approx + γ qn xn) / (qn xn) + re  >=  t
            Metric::Cosine => (0.0, (square - re - margin) * qn),
            // hi = approx + (γ + re) qn xn  >=  t
            Metric::Dot => (square, -(margin + re) * qn),
            // hi = 2 (approx + γ qn xn) - rest + slack  >=  t, with
            // rest = qs + xs and slack = 4ε rest + re (rest + 2 qn xn)
            Metric::Euclidean => ((square + qs * 2.0 * self.e) / 2.0, -(margin + re) * qn),
        };
        let (a32, c32) = (a as f32, c as f32);
        let slots = (
            self.threshold.get_mut(q),
            self.a.get_mut(q),
            self.c.get_mut(q),
            self.a32.get_mut(q),
            self.a_abs32.get_mut(q),
            self.c32.get_mut(q),
            self.c_abs32.get_mut(q),
        );
        if let (
            Some(t_q),
            Some(a_q),
            Some(c_q),
            Some(a32_q),
            Some(a_abs_q),
            Some(c32_q),
            Some(c_abs_q),
        ) = slots
        {
            (*t_q, *a_q, *c_q) = (t, a, c);
            (*a32_q, *a_abs_q) = (a32, a32.abs() + TINY);
            (*c32_q, *c_abs_q) = (c32, c32.abs());
        }
    }

    /// A row's terms of the fused screen: `fl32(|x|)` and `fl32(e·|x|²)`
    /// (as [`Screen::pass`] computes `e·|x|²`).
    fn row_terms(&self, xn: f64, xs: f64) -> (f32, f32) {
        (xn as f32, (self.e * xs) as f32)
    }

    /// The queries (indices from `q0`) whose scores against a row of norm
    /// `xn` and squared norm `xs` pass the cheap test.
    fn pass(&self, q0: usize, scores: &[f32], xn: f64, xs: f64, passed: &mut Vec<u32>) {
        passed.clear();
        let extra = self.e * xs;
        let (a, c) = (
            self.a.get(q0..).unwrap_or(&[]),
            self.c.get(q0..).unwrap_or(&[]),
        );
        let n = scores.len().min(a.len()).min(c.len());
        let (scores, a, c) = (&scores[..n], &a[..n], &c[..n]);
        #[cfg(target_arch = "x86_64")]
        let done = if cpu::at_least(Level::Avx512) {
            // SAFETY: the CPU has AVX-512F; the three slices have length n.
            unsafe { screen_pass_avx512(scores, a, c, xn, extra, passed) }
        } else if cpu::at_least(Level::Avx2) {
            // SAFETY: the CPU has AVX2; the three slices have length n.
            unsafe { screen_pass_avx2(scores, a, c, xn, extra, passed) }
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

/// The absolute allowance in `Screen::a_abs32`: `2⁻¹⁰⁰`, a normal `f32`.
const TINY: f32 = f32::from_bits(27 << 23);

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

/// [`Screen::pass`] four queries at a time on AVX2, as
/// [`screen_pass_avx512`] does eight.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn screen_pass_avx2(
    scores: &[f32],
    a: &[f64],
    c: &[f64],
    xn: f64,
    extra: f64,
    passed: &mut Vec<u32>,
) -> usize {
    use std::arch::x86_64::*;
    let n = scores.len().min(a.len()).min(c.len());
    let whole = n / 4 * 4;
    let (xn, extra) = (_mm256_set1_pd(xn), _mm256_set1_pd(extra));
    for j in (0..whole).step_by(4) {
        // SAFETY: j + 4 <= whole <= n numbers of each slice; unaligned loads.
        let below = unsafe {
            let score = _mm256_cvtps_pd(_mm_loadu_ps(scores.as_ptr().add(j)));
            let scaled = _mm256_mul_pd(_mm256_loadu_pd(c.as_ptr().add(j)), xn);
            let bar = _mm256_add_pd(
                _mm256_add_pd(_mm256_loadu_pd(a.as_ptr().add(j)), scaled),
                extra,
            );
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(score, bar))
        };
        // NaN compares false: not below, so it passes.
        let mut pass = !below & 0b1111;
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

    /// The queries of `scores` that pass, by the scalar rule of `pass`.
    #[cfg(target_arch = "x86_64")]
    fn scalar_pass(scores: &[f32], a: &[f64], c: &[f64], xn: f64, extra: f64) -> Vec<u32> {
        (0..scores.len())
            // Not below the bar (NaN on either side is not below): passes.
            .filter(|&j| {
                let bar = a[j] + c[j] * xn + extra;
                f64::from(scores[j]).partial_cmp(&bar) != Some(std::cmp::Ordering::Less)
            })
            .map(|j| j as u32)
            .collect()
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_screen_passes_equal_the_scalar_pass() {
        let detected = cpu::detected();
        for n in 0..40usize {
            let wave = |i: usize, f: f64| ((i as f64 + 1.0) * f).sin();
            let a: Vec<f64> = (0..n).map(|i| wave(i, 0.7)).collect();
            let c: Vec<f64> = (0..n).map(|i| wave(i, 1.3) * 0.5).collect();
            let (xn, extra) = (1.25, -0.125);
            let scores: Vec<f32> = (0..n)
                .map(|i| match i % 7 {
                    0 => f32::NAN,
                    // Exactly on the bar: passes.
                    1 => (a[i] + c[i] * xn + extra) as f32,
                    _ => wave(i, 2.9) as f32,
                })
                .collect();
            let expected = scalar_pass(&scores, &a, &c, xn, extra);
            let mut passed = Vec::new();
            let check = |done: usize, passed: &mut Vec<u32>| {
                let rest = scalar_pass(&scores[done..], &a[done..], &c[done..], xn, extra);
                passed.extend(rest.iter().map(|&j| j + done as u32));
                assert_eq!(*passed, expected, "n = {n}");
                passed.clear();
            };
            if detected >= Level::Avx2 {
                // SAFETY: the CPU has AVX2; the slices have length n.
                let done = unsafe { screen_pass_avx2(&scores, &a, &c, xn, extra, &mut passed) };
                check(done, &mut passed);
            }
            if detected >= Level::Avx512 {
                // SAFETY: the CPU has AVX-512F; the slices have length n.
                let done = unsafe { screen_pass_avx512(&scores, &a, &c, xn, extra, &mut passed) };
                check(done, &mut passed);
            }
        }
    }

    #[test]
    fn order_bits_follow_the_numeric_order() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            1.0,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(order_bits(pair[0]) < order_bits(pair[1]), "{pair:?}");
        }
        for v in values {
            assert_eq!(from_order_bits(order_bits(v)).to_bits(), v.to_bits());
        }
        let shared = Thresholds::new(2);
        shared.raise(0, 0.5);
        shared.raise(0, 0.25);
        shared.raise(1, -3.0);
        shared.raise(1, f64::NAN);
        assert_eq!(
            (shared.get(0), shared.get(1), shared.get(2)),
            (0.5, -3.0, f64::NEG_INFINITY)
        );
    }
}
