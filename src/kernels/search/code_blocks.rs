//! Exact Int8 and UInt8 search for many queries: blocks of rows against
//! panels of queries by the AVX-512 VNNI instruction `vpdpbusd` (four
//! `u8 × i8` products added into each `i32` lane).
//!
//! The instruction takes one unsigned and one signed operand. Int8 rows are
//! packed as `u8` codes `x + 128` (`x XOR 0x80`) and every sum corrected
//! by `128 · Σq` per query: `Σ (x + 128)·q = Σ x·q + 128 · Σ q`. UInt8
//! rows are packed as they are and the queries as `i8` codes `q - 128`,
//! corrected by `128 · Σx` per row: `Σ x·(q - 128) = Σ x·q - 128 · Σ x`.
//! A lane adds at most `d · 255 · 128` in magnitude, exact in `i32` while
//! `d <=` [`MAX_WIDTH`]; the dot products are therefore exact integers,
//! and the keys and scores come from [`CodeRanker`], bit for bit those of
//! the per-row scan ([`super::codes::nearest_codes_scan`]).
//!
//! Layout: the queries are packed once into panels of 32, `d` padded with
//! zeros to a multiple of 4, one group of 4 numbers of 32 queries per 128
//! bytes. A block of [`BLOCK_ROWS`] rows is packed with the same padding,
//! and a tile of 14 rows × 2 vectors of 16 queries stays in registers
//! while each step broadcasts 4 numbers of each row (28 `vpdpbusd` for 2
//! vector loads). The sums of a block are ranked 8 panels at a time, so
//! they stay in cache: a screen without division or square root (its
//! thresholds loosened well beyond rounding) drops the pairs that cannot
//! reach their query's worst kept key, and the pairs that pass are ranked
//! by [`CodeRanker::finish_with`] and offered to [`TopK`] as the scan
//! offers them, rows split over threads and merged as in the scan.
//!
//! Measured on the 2-core Xeon (Sapphire Rapids class) with `cargo run
//! --release --example int8_bench`: 1M × 384 random Int8 rows, cosine,
//! k = 10, two threads, wall / CPU seconds (the scan timed on 200k rows
//! and 1,000 queries on about 100k–520k rows, scaled to 1M):
//!
//! | queries | scan | blocked | `nearest::<i8>` (Float32 screen) | `nearest::<f32>` |
//! |---|---|---|---|---|
//! | 1 | 0.08 / 0.09 | 0.07 / 0.13 | 0.09 / 0.16 | 0.15 / 0.28 |
//! | 4 | 0.06 / 0.12 | 0.07 / 0.12 | 0.11 / 0.20 | 0.18 / 0.33 |
//! | 10 | 0.17 / 0.30 | 0.07 / 0.14 | 0.13 / 0.24 | 0.17 / 0.34 |
//! | 100 | 1.13 / 2.13 | 0.16 / 0.31 | 0.53 / 0.94 | 0.50 / 0.96 |
//! | 1,000 | 10.9 / 20.7 | 1.09 / 2.14 | 2.90 / 5.69 | 2.93 / 5.79 |
//!
//! The crossing with the scan is near 4 queries; [`MIN_QUERIES`] leaves a
//! margin.
//!
//! Where the CPU and OS offer Intel AMX ([`super::amx`]), the same blocks
//! are multiplied by its tile instructions instead: both operands keep
//! their own sign (`tdpbssd` for Int8, `tdpbuud` for UInt8), so there is
//! no shift to correct, rows and queries are padded to a multiple of 64
//! numbers, and a block has 256 rows (tiles of 16). The sums, and so the
//! answers, are the same integers. Blocked, wall / CPU seconds with AMX
//! (the VNNI figures above for comparison): 10 queries 0.04 / 0.08, 100
//! queries 0.08 / 0.16 (VNNI 0.15 / 0.30), 1,000 queries 0.52 / 1.01 (VNNI
//! 1.09 / 2.14). Tile loads must not straddle cache lines (3.4 against 16
//! ns per 1 KiB tile, measured), so the packed buffers are 64-byte aligned.

use crate::kernels::cpu::{self, Level};

use super::amx::{self, Aligned, Bytes};
use super::codes::{int_dot, CodeRanker, IntCode, I32_LANE_MAX_WIDTH};
use super::topk::{search_in_parts, Metric, TopK, PART_ROWS};

/// Rows per packed block for VNNI (a multiple of its tile height).
pub const BLOCK_ROWS: usize = 252;
/// Rows per packed block for AMX (a multiple of [`amx::STEP_ROWS`]).
const AMX_BLOCK_ROWS: usize = 256;
/// Relative slack of the screen's thresholds: far above the few roundings
/// between them and the exact keys (each at most 2^-53).
const SLACK: f64 = 1e-12;
/// Rows per tile.
const TILE_ROWS: usize = 14;
/// Queries per panel.
const PANEL: usize = 32;
/// Panels whose scores are ranked together.
const PANELS_PER_PASS: usize = 8;

/// The widest rows whose `i32` lanes cannot overflow.
pub const MAX_WIDTH: usize = I32_LANE_MAX_WIDTH;

/// From this many queries on, [`nearest_blocked`] beats the per-row scan
/// (measured with `cargo run --release --example int8_bench`).
pub const MIN_QUERIES: usize = 6;

/// Whether this CPU runs the blocked kernel.
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && cpu::at_least(Level::Vnni)
}

/// Which instructions multiply the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// AVX-512 VNNI: `u8 × i8`, Int8 rows shifted by 128 (module doc).
    Vnni,
    /// AMX tiles: both operands as they are.
    Amx,
}

impl Engine {
    /// AMX when the CPU and OS offer it and its `i32` sums stay exact for
    /// `d` (UInt8: `d₆₄ · 255² < 2^31`), VNNI otherwise.
    fn for_width(d: usize) -> Engine {
        let exact = (d.next_multiple_of(amx::TILE_BYTES) as u64) * 255 * 255 <= i32::MAX as u64;
        if exact && amx::available() {
            Engine::Amx
        } else {
            Engine::Vnni
        }
    }

    /// What the rows and queries are padded to a multiple of.
    fn padding(self) -> usize {
        match self {
            Engine::Vnni => 4,
            Engine::Amx => amx::TILE_BYTES,
        }
    }

    fn block_rows(self) -> usize {
        match self {
            Engine::Vnni => BLOCK_ROWS,
            Engine::Amx => AMX_BLOCK_ROWS,
        }
    }

    /// A query code as the right operand: VNNI's is signed (UInt8 less
    /// 128); AMX takes the byte as it is.
    #[inline]
    fn query_code<C: IntCode>(self, x: C) -> u8 {
        match self {
            Engine::Amx => x.to_i32() as u8,
            Engine::Vnni if C::SIGNED_BYTE => x.to_i32() as i8 as u8,
            Engine::Vnni => (x.to_i32() - 128) as i8 as u8,
        }
    }

    /// A row code as the left operand: VNNI's is unsigned (Int8 plus 128);
    /// AMX takes the byte as it is.
    #[inline]
    fn row_code<C: IntCode>(self, x: C) -> u8 {
        match self {
            Engine::Amx => x.to_i32() as u8,
            Engine::Vnni if C::SIGNED_BYTE => (x.to_i32() + 128) as u8,
            Engine::Vnni => x.to_i32() as u8,
        }
    }

    /// Whether the packed sums exceed the dot products by `128 · Σ q`
    /// (VNNI, Int8) and fall short by `128 · Σ x` (VNNI, UInt8).
    fn shifts<C: IntCode>(self) -> (bool, bool) {
        match self {
            Engine::Amx => (false, false),
            Engine::Vnni => (C::SIGNED_BYTE, !C::SIGNED_BYTE),
        }
    }
}

/// Whether [`nearest_blocked`] serves `m` queries of width `d` on this CPU
/// (and is the faster path).
pub fn applies<C: IntCode>(m: usize, d: usize) -> bool {
    m >= MIN_QUERIES && (1..=MAX_WIDTH).contains(&d) && available()
}

/// The queries packed in panels, with their sums.
struct Panels {
    engine: Engine,
    /// How AMX reads the codes: signed (Int8) or unsigned (UInt8).
    bytes: Bytes,
    /// `panel_count · width · PANEL` codes.
    codes: Aligned<u8>,
    panel_count: usize,
    /// `d` padded to the engine's multiple (with zero codes).
    width: usize,
    /// What the packed sums exceed the dot products by, per query:
    /// `128 · Σ q` (VNNI, Int8), 0 otherwise.
    shift: Vec<i64>,
}

impl Panels {
    fn new<C: IntCode>(queries: &[C], m: usize, d: usize, engine: Engine) -> Self {
        let width = d.next_multiple_of(engine.padding());
        let panel_count = m.div_ceil(PANEL);
        let mut codes = Aligned::zeroed(panel_count * width * PANEL);
        let mut shift = vec![0i64; m];
        for (q, query) in queries.chunks_exact(d).take(m).enumerate() {
            let (p, lane) = (q / PANEL, q % PANEL);
            let panel = &mut codes[p * width * PANEL..(p + 1) * width * PANEL];
            for (i, &x) in query.iter().enumerate() {
                // Group i / 4 holds numbers 4g .. 4g + 4 of the 32 queries,
                // 4 consecutive bytes per query.
                panel[(i / 4) * 4 * PANEL + lane * 4 + i % 4] = engine.query_code(x);
            }
            if engine.shifts::<C>().0 {
                shift[q] = 128 * query.iter().map(|x| i64::from(x.to_i32())).sum::<i64>();
            }
        }
        Panels {
            engine,
            bytes: if C::SIGNED_BYTE {
                Bytes::Signed
            } else {
                Bytes::Unsigned
            },
            codes,
            panel_count,
            width,
            shift,
        }
    }
}

/// The `k` best rows for each of `m` Int8 or UInt8 queries (`queries`: `m × d`),
/// exactly as the scan of [`super::codes::nearest_codes`] finds them, or
/// `None` when the blocked kernel does not apply: no AVX-512 VNNI, `d` beyond [`MAX_WIDTH`], too few queries, or a row of
/// another width.
pub fn nearest_blocked<C: IntCode>(
    queries: &[C],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[C])],
) -> Option<Vec<Vec<(u32, f64)>>> {
    nearest_blocked_with(Engine::for_width(d), queries, m, d, k, metric, rows)
}

/// [`nearest_blocked`] on the given engine.
fn nearest_blocked_with<C: IntCode>(
    engine: Engine,
    queries: &[C],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[C])],
) -> Option<Vec<Vec<(u32, f64)>>> {
    if m == 0
        || d == 0
        || d > MAX_WIDTH
        || queries.len() < m * d
        || !available()
        || rows.iter().any(|(_, row)| row.len() != d)
    {
        return None;
    }
    if k == 0 {
        return Some(vec![Vec::new(); m]);
    }
    let rankers: Vec<CodeRanker<'_, C>> = queries
        .chunks_exact(d)
        .take(m)
        .map(|query| CodeRanker::new(metric, query))
        .collect();
    let panels = Panels::new(queries, m, d, engine);
    let query_sq: Vec<f64> = queries
        .chunks_exact(d)
        .take(m)
        .map(|q| int_dot(q, q) as f64)
        .collect();
    let shift: Vec<f64> = panels.shift.iter().map(|&c| c as f64).collect();
    let query_norm: Vec<f64> = query_sq.iter().map(|s| s.sqrt()).collect();
    let context = Context {
        metric,
        m,
        panels: &panels,
        rankers: &rankers,
        shift: &shift,
        query_sq: &query_sq,
        query_norm: &query_norm,
    };
    search_in_parts(rows, PART_ROWS, m, k, |part| {
        Some(context.search_part(k, part))
    })
}

/// What every part of one search shares.
struct Context<'a, 'q, C> {
    metric: Metric,
    m: usize,
    panels: &'a Panels,
    rankers: &'a [CodeRanker<'q, C>],
    /// The packed sums' excess, `Σ q²` and its square root per query, as `f64`.
    shift: &'a [f64],
    query_sq: &'a [f64],
    query_norm: &'a [f64],
}

impl<C: IntCode> Context<'_, '_, C> {
    /// The screen's bound for query `q` given its worst kept key `w` (see
    /// `vnni::screen`): `w` (dot), `w·|q|` (cosine), `w²·(1 + SLACK)`
    /// (Euclidean, `w <= 0`).
    fn limit(&self, q: usize, w: f64) -> f64 {
        match self.metric {
            Metric::Dot => w,
            Metric::Cosine => w * self.query_norm[q],
            Metric::Euclidean => w * w * (1.0 + SLACK),
        }
    }

    fn search_part(&self, k: usize, part: &[(u32, &[C])]) -> Vec<TopK> {
        let (m, width) = (self.m, self.panels.width);
        let engine = self.panels.engine;
        let block_rows = engine.block_rows();
        let (_, row_shift) = engine.shifts::<C>();
        let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
        let mut worst = vec![f64::NEG_INFINITY; m];
        let mut limit: Vec<f64> = (0..m).map(|q| self.limit(q, f64::NEG_INFINITY)).collect();
        let pass_width = PANELS_PER_PASS * PANEL;
        // The padding past d meets zero query codes.
        let mut packed = Aligned::<u8>::zeroed(block_rows * width);
        let mut scores = Aligned::<i32>::zeroed(block_rows * pass_width);
        let mut hits: Vec<u32> = Vec::with_capacity(pass_width);
        let mut row_sq = vec![0i64; block_rows];
        let mut row_offset = vec![0i64; block_rows];
        for block in part.chunks(block_rows) {
            // Rows past the block (left from the last one) are never read back.
            for (i, (_, row)) in block.iter().enumerate() {
                let dst = &mut packed[i * width..i * width + row.len()];
                for (p, &x) in dst.iter_mut().zip(row.iter()) {
                    *p = engine.row_code(x);
                }
                // VNNI, UInt8: the packed sums fall short by 128 · Σ x.
                row_offset[i] = if !row_shift {
                    0
                } else {
                    128 * row.iter().map(|x| i64::from(x.to_i32())).sum::<i64>()
                };
                row_sq[i] = if self.metric == Metric::Dot {
                    0
                } else {
                    int_dot(row, row)
                };
            }
            let packed_rows = match engine {
                Engine::Vnni => block.len().next_multiple_of(TILE_ROWS),
                Engine::Amx => block.len().next_multiple_of(amx::STEP_ROWS),
            };
            for p0 in (0..self.panels.panel_count).step_by(PANELS_PER_PASS) {
                let p1 = (p0 + PANELS_PER_PASS).min(self.panels.panel_count);
                let width = (p1 - p0) * PANEL;
                score_block(self.panels, p0, p1, &packed, packed_rows, &mut scores[..]);
                let q0 = p0 * PANEL;
                let valid = width.min(m - q0);
                for (i, &(position, _)) in block.iter().enumerate() {
                    let row_scores = &scores[i * width..i * width + valid];
                    let run = q0..q0 + valid;
                    let screen = Screen {
                        metric: self.metric,
                        shift: &self.shift[run.clone()],
                        norms: &self.query_norm[run.clone()],
                        sq: &self.query_sq[run.clone()],
                        worst: &worst[run.clone()],
                        limit: &limit[run],
                    };
                    screen.pass(row_scores, row_sq[i], row_offset[i], &mut hits);
                    for &j in &hits {
                        let q = q0 + j as usize;
                        let ab = i64::from(row_scores[j as usize]) - self.panels.shift[q]
                            + row_offset[i];
                        let (key, score) = self.rankers[q].finish_with(ab, row_sq[i]);
                        tops[q].push(key, position, score);
                        worst[q] = tops[q].worst_key();
                        limit[q] = self.limit(q, worst[q]);
                    }
                }
            }
        }
        tops
    }
}

/// The screen of one row against a run of queries: which pairs may enter
/// their query's top k. It never leaves out a pair whose exact key (as
/// `CodeRanker::finish_with` computes it) reaches the query's worst kept
/// key; pairs it lets through are ranked exactly before they are offered.
struct Screen<'a> {
    metric: Metric,
    /// The packed sums' excess, `√Σ q²`, `Σ q²` and the worst kept key
    /// per query.
    shift: &'a [f64],
    norms: &'a [f64],
    sq: &'a [f64],
    worst: &'a [f64],
    /// The worst kept key in the form the vectorized screen compares.
    limit: &'a [f64],
}

impl Screen<'_> {
    /// Positions (in the run) of the pairs of `scores` (the packed sums of
    /// one row) that pass, into `hits`; `row_sq`: the row's `Σ x²`;
    /// `offset`: what its packed sums fall short by.
    fn pass(&self, scores: &[i32], row_sq: i64, offset: i64, hits: &mut Vec<u32>) {
        hits.clear();
        let n = scores.len();
        if self.shift.len() < n
            || self.norms.len() < n
            || self.sq.len() < n
            || self.worst.len() < n
            || self.limit.len() < n
        {
            // Never expected: let every pair through (ranked exactly).
            hits.extend(0..n as u32);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if available() {
            // SAFETY: the CPU has AVX-512F and VL (`available`); every
            // slice holds at least n numbers.
            unsafe { vnni::screen(self, scores, row_sq as f64, offset as f64, hits) };
            return;
        }
        // Portable: the exact keys, by the operations of `CodeRanker`
        // (every integer involved is below 2^53, so exact in `f64`).
        let aa = row_sq as f64;
        for (j, &s) in scores.iter().enumerate() {
            let ab = f64::from(s) - self.shift[j] + offset as f64;
            let key = match self.metric {
                Metric::Dot => ab,
                Metric::Cosine => {
                    let den = aa.sqrt() * self.norms[j];
                    if den == 0.0 {
                        0.0
                    } else {
                        ab / den
                    }
                }
                Metric::Euclidean => -(aa - 2.0 * ab + self.sq[j]).sqrt(),
            };
            if key >= self.worst[j] {
                hits.push(j as u32);
            }
        }
    }
}

/// `out[r · width + j]` = the packed sum `Σ x'·q'` of packed row `r`
/// (of `packed_rows`, a multiple of the engine's tile height) and query
/// `p0 · 32 + j`, for panels `p0 .. p1` (`width = (p1 - p0) · 32`). Does
/// nothing if a slice is too short.
fn score_block(
    panels: &Panels,
    p0: usize,
    p1: usize,
    packed: &[u8],
    packed_rows: usize,
    out: &mut [i32],
) {
    let (d4, width) = (panels.width, (p1 - p0) * PANEL);
    let tiles = packed_rows / TILE_ROWS;
    if p1 > panels.panel_count
        || p0 >= p1
        || packed.len() < packed_rows * d4
        || out.len() < packed_rows * width
        || panels.codes.len() < panels.panel_count * d4 * PANEL
    {
        return;
    }
    if panels.engine == Engine::Amx {
        let mut done = true;
        for p in p0..p1 {
            let panel = &panels.codes[p * d4 * PANEL..(p + 1) * d4 * PANEL];
            let out = &mut out[(p - p0) * PANEL..];
            done &= amx::panel_products(panels.bytes, packed, packed_rows, d4, panel, out, width);
        }
        if done {
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if panels.engine == Engine::Vnni && available() {
        for p in p0..p1 {
            let panel = &panels.codes[p * d4 * PANEL..(p + 1) * d4 * PANEL];
            for t in 0..tiles {
                let rows = &packed[t * TILE_ROWS * d4..(t + 1) * TILE_ROWS * d4];
                let at = t * TILE_ROWS * width + (p - p0) * PANEL;
                // SAFETY: the CPU has AVX-512F, BW and VNNI; `panel` holds
                // d4 · 32 codes, `rows` 14 rows of d4, and `out[at..]` 14
                // rows of stride `width` of which the first 32 lanes are
                // written (at + 13 · width + 32 <= tiles · 14 · width).
                unsafe {
                    let args = (
                        panel.as_ptr().cast::<i8>(),
                        rows.as_ptr(),
                        d4,
                        out.as_mut_ptr().add(at),
                        width,
                    );
                    match d4 {
                        128 => vnni::tile::<128>(args),
                        256 => vnni::tile::<256>(args),
                        384 => vnni::tile::<384>(args),
                        512 => vnni::tile::<512>(args),
                        768 => vnni::tile::<768>(args),
                        1024 => vnni::tile::<1024>(args),
                        _ => vnni::tile::<0>(args),
                    }
                }
            }
        }
        return;
    }
    // Portable (only reached if the kernels above decline): the same sums.
    type Value = fn(u8) -> i32;
    let (row_value, query_value): (Value, Value) = match panels.bytes {
        _ if panels.engine == Engine::Vnni => (|x| i32::from(x), |q| i32::from(q as i8)),
        Bytes::Signed => (|x| i32::from(x as i8), |q| i32::from(q as i8)),
        Bytes::Unsigned => (|x| i32::from(x), |q| i32::from(q)),
    };
    for p in p0..p1 {
        for r in 0..packed_rows {
            for lane in 0..PANEL {
                let mut sum = 0i32;
                for i in 0..d4 {
                    let q = panels.codes[p * d4 * PANEL + (i / 4) * 4 * PANEL + lane * 4 + i % 4];
                    sum += row_value(packed[r * d4 + i]) * query_value(q);
                }
                out[r * width + (p - p0) * PANEL + lane] = sum;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{Metric, Screen, PANEL, SLACK, TILE_ROWS};

    /// [`Screen::pass`] eight queries at a time. The thresholds avoid
    /// division and square root and are loosened by [`SLACK`], so they
    /// let through every pair whose exact key reaches the worst kept one:
    ///
    /// * dot: `ab >= w` (exact: `ab` is an integer below 2^53);
    /// * cosine, `key = ab / (|x|·|q|)`: not `ab < t - SLACK·|t|`, `t =
    ///   (w·|q|)·|x|` (a NaN threshold, from `-inf · 0`, passes);
    /// * Euclidean, `key = -√v`, `w <= 0`: not `v > w²·(1 + SLACK)`.
    ///
    /// The screen's `limit` holds `w`, `w·|q|` and `w²·(1 + SLACK)`.
    ///
    /// # Safety
    /// The CPU has AVX-512F and VL; the screen's slices hold at least
    /// `scores.len()` numbers.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) unsafe fn screen(
        screen: &Screen<'_>,
        scores: &[i32],
        aa: f64,
        offset: f64,
        hits: &mut Vec<u32>,
    ) {
        let n = scores.len();
        let norm_x = _mm512_set1_pd(aa.sqrt());
        let aa = _mm512_set1_pd(aa);
        let offset = _mm512_set1_pd(offset);
        let slack = _mm512_set1_pd(SLACK);
        let two = _mm512_set1_pd(2.0);
        let mut j = 0;
        while j < n {
            let lanes: __mmask8 = if n - j >= 8 {
                0xff
            } else {
                (1u8 << (n - j)) - 1
            };
            // SAFETY: the masked lanes are below n in every slice; masked
            // loads touch nothing else.
            let passed = unsafe {
                let s = _mm512_cvtepi32_pd(_mm256_maskz_loadu_epi32(lanes, scores.as_ptr().add(j)));
                let shift = _mm512_maskz_loadu_pd(lanes, screen.shift.as_ptr().add(j));
                // Exact: integers below 2^53.
                let ab = _mm512_add_pd(_mm512_sub_pd(s, shift), offset);
                let limit = _mm512_maskz_loadu_pd(lanes, screen.limit.as_ptr().add(j));
                match screen.metric {
                    Metric::Dot => _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(lanes, ab, limit),
                    Metric::Cosine => {
                        let t = _mm512_mul_pd(limit, norm_x);
                        let threshold = _mm512_fnmadd_pd(slack, _mm512_abs_pd(t), t);
                        _mm512_mask_cmp_pd_mask::<_CMP_NLT_UQ>(lanes, ab, threshold)
                    }
                    Metric::Euclidean => {
                        let bb = _mm512_maskz_loadu_pd(lanes, screen.sq.as_ptr().add(j));
                        let v = _mm512_add_pd(_mm512_fnmadd_pd(two, ab, aa), bb);
                        _mm512_mask_cmp_pd_mask::<_CMP_NGT_UQ>(lanes, v, limit)
                    }
                }
            };
            let mut bits = passed;
            while bits != 0 {
                hits.push((j + bits.trailing_zeros() as usize) as u32);
                bits &= bits - 1;
            }
            j += 8;
        }
    }

    /// `(panel, rows, d4, out, out stride)`.
    pub(super) type TileArgs = (*const i8, *const u8, usize, *mut i32, usize);

    /// One tile: 14 packed rows (stride `d4`, or `STRIDE` when nonzero)
    /// against one panel of 32 queries; writes 14 × 32 `i32` sums.
    ///
    /// # Safety
    /// The CPU has AVX-512F, BW and VNNI; `panel` points at `d4 · 32`
    /// codes, `rows` at `14 · d4` codes, `out` at 14 rows of stride
    /// `stride` with 32 writable lanes each; `d4` is a multiple of 4 and
    /// equals `STRIDE` when that is nonzero.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    pub(super) unsafe fn tile<const STRIDE: usize>((panel, rows, d4, out, stride): TileArgs) {
        let d4 = if STRIDE > 0 { STRIDE } else { d4 };
        let mut acc = [[_mm512_setzero_si512(); 2]; TILE_ROWS];
        for g in 0..d4 / 4 {
            // SAFETY: group g < d4 / 4: 128 bytes inside the panel, and 4
            // bytes at 4g inside each of the 14 rows.
            unsafe {
                let low = _mm512_loadu_si512(panel.add(g * 4 * PANEL).cast());
                let high = _mm512_loadu_si512(panel.add(g * 4 * PANEL + 64).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = rows.add(r * d4 + 4 * g).cast::<i32>().read_unaligned();
                    let x = _mm512_set1_epi32(x);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, low);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, high);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r < 14 of `out` has 32 writable lanes.
            unsafe {
                _mm512_storeu_si512(out.add(r * stride).cast(), acc[0]);
                _mm512_storeu_si512(out.add(r * stride + 16).cast(), acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::search::scans::nearest_codes_scan;
    use crate::kernels::test_data::random_bytes;

    fn random_codes(n: usize, seed: u64) -> Vec<i8> {
        random_bytes(n, seed).into_iter().map(|b| b as i8).collect()
    }

    /// Rows with extremes (all -128, all 127, zero) and repeats (ties).
    fn corpus(n: usize, d: usize, seed: u64) -> Vec<i8> {
        let mut codes = random_codes(n * d, seed);
        for (i, row) in codes.chunks_exact_mut(d).enumerate() {
            match i % 11 {
                0 => row.fill(-128),
                1 => row.fill(127),
                2 => row.fill(0),
                // UInt8: 255.
                4 => row.fill(-1),
                3 => row.iter_mut().enumerate().for_each(|(j, x)| {
                    *x = if j % 2 == 0 { -128 } else { 127 };
                }),
                _ => {}
            }
        }
        // Repeats of an earlier row: equal keys, ties to the lower position.
        for i in (7..n).step_by(13) {
            let (head, tail) = codes.split_at_mut(i * d);
            tail[..d].copy_from_slice(&head[(i - 7) * d..(i - 6) * d]);
        }
        codes
    }

    fn queries(m: usize, d: usize, seed: u64) -> Vec<i8> {
        let mut codes = random_codes(m * d, seed);
        for (q, query) in codes.chunks_exact_mut(d).enumerate() {
            match q % 7 {
                0 => query.fill(-128),
                1 => query.fill(127),
                2 => query.fill(0),
                3 => query.fill(-1),
                _ => {}
            }
        }
        codes
    }

    /// The blocked search equals the scan, bit for bit, on Int8 codes and
    /// on the same bytes as UInt8 codes.
    fn check(n: usize, d: usize, m: usize, k: usize) {
        let codes = corpus(n, d, (n * 31 + d) as u64);
        let queries = queries(m, d, (m * 17 + d) as u64);
        check_codes(&codes, &queries, n, d, m, k);
        let unsigned = |v: &[i8]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
        check_codes(&unsigned(&codes), &unsigned(&queries), n, d, m, k);
    }

    fn check_codes<C: IntCode + std::fmt::Debug>(
        codes: &[C],
        queries: &[C],
        n: usize,
        d: usize,
        m: usize,
        k: usize,
    ) {
        // Positions with gaps: every fifth row is null (absent).
        let rows: Vec<(u32, &[C])> = codes
            .chunks_exact(d)
            .enumerate()
            .filter(|(i, _)| i % 5 != 4)
            .map(|(i, row)| (i as u32, row))
            .collect();
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let expected = nearest_codes_scan(queries, m, d, k, metric, &rows);
            for engine in engines() {
                let Some(got) = nearest_blocked_with(engine, queries, m, d, k, metric, &rows)
                else {
                    panic!("the blocked kernel declined n={n} d={d} m={m}");
                };
                assert_eq!(got.len(), expected.len());
                for (q, (g, e)) in got.iter().zip(&expected).enumerate() {
                    let g: Vec<(u32, u64)> = g.iter().map(|&(i, s)| (i, s.to_bits())).collect();
                    let e: Vec<(u32, u64)> = e.iter().map(|&(i, s)| (i, s.to_bits())).collect();
                    assert_eq!(
                        g, e,
                        "{engine:?} {metric:?} n={n} d={d} m={m} k={k} query {q}"
                    );
                }
            }
        }
    }

    /// VNNI, and AMX where this machine has it.
    fn engines() -> Vec<Engine> {
        let mut engines = vec![Engine::Vnni];
        if amx::available() {
            engines.push(Engine::Amx);
        } else {
            eprintln!("no AMX: only the VNNI kernel is tested");
        }
        engines
    }

    /// The blocked kernel's tests run at the highest level this machine
    /// has (VNNI, and AMX where present), whatever `POLARS_MLKIT_ISA` says.
    fn vnni_or_above() -> cpu::ForcedLevel {
        let level = cpu::force_level(Level::Amx);
        assert!(available(), "the VNNI level is not active");
        level
    }

    #[test]
    #[cfg_attr(not(test_cpu_vnni), ignore = "the test machine has no AVX-512 VNNI")]
    fn blocked_equals_scan_bit_for_bit() {
        let _level = vnni_or_above();
        for d in [1, 3, 4, 63, 64, 65, 384, 1000] {
            for m in [1, 17, 33, 100] {
                check(BLOCK_ROWS + 61, d, m, 10);
            }
        }
    }

    #[test]
    #[cfg_attr(not(test_cpu_vnni), ignore = "the test machine has no AVX-512 VNNI")]
    fn blocked_handles_k_beyond_rows_and_tiny_corpora() {
        let _level = vnni_or_above();
        for n in [0, 1, 13, 14, 15, 31, 32, 33, BLOCK_ROWS, AMX_BLOCK_ROWS + 1] {
            check(n, 65, 33, n + 5);
        }
        check(40, 384, 100, 1000);
        check(100, 65, 17, 0);
        check(100, 65, 17, 1);
    }

    #[test]
    #[cfg_attr(not(test_cpu_vnni), ignore = "the test machine has no AVX-512 VNNI")]
    fn blocked_merges_parts_exactly() {
        let _level = vnni_or_above();
        check(2 * PART_ROWS + 1000, 20, 40, 25);
    }

    #[test]
    #[cfg_attr(not(test_cpu_vnni), ignore = "the test machine has no AVX-512 VNNI")]
    fn nearest_codes_takes_either_path_with_one_result() {
        let _level = vnni_or_above();
        let (n, d, m) = (700, 96, MIN_QUERIES + 3);
        let codes = corpus(n, d, 5);
        let rows: Vec<(u32, &[i8])> = codes
            .chunks_exact(d)
            .enumerate()
            .map(|(i, r)| (i as u32, r))
            .collect();
        let queries = queries(m, d, 9);
        assert!(applies::<i8>(m, d));
        assert!(applies::<u8>(m, d));
        assert!(!applies::<i8>(MIN_QUERIES - 1, d));
        assert!(!applies::<i8>(m, MAX_WIDTH + 1));
        let got = crate::kernels::search::nearest_codes(&queries, m, d, 7, Metric::Cosine, &rows);
        let expected = nearest_codes_scan(&queries, m, d, 7, Metric::Cosine, &rows);
        assert_eq!(got, expected);
        // Rows of another width: the blocked kernel declines.
        let mut short = rows.clone();
        short[3].1 = &codes[..d - 1];
        assert!(nearest_blocked(&queries, m, d, 7, Metric::Cosine, &short).is_none());
    }

    #[test]
    fn width_bound_keeps_lanes_exact() {
        assert!((MAX_WIDTH as u64) * 255 * 128 <= i32::MAX as u64);
        assert!(((MAX_WIDTH + 1) as u64) * 255 * 128 > i32::MAX as u64);
    }
}
