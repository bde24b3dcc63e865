//! An Int8 screen for the exact search of Float32 rows against many
//! queries (`neighbors::nearest`): every query and row is quantized to
//! 8-bit codes with a scale of its own, the codes are multiplied exactly by
//! the AVX-512 VNNI instruction `vpdpbusd` (four `u8 × i8` products added
//! into each `i32` lane: about four times the multiply-adds per cycle of
//! Float32 FMA), and each integer dot product is compared, still in
//! registers, with a bar that accounts for the quantization error measured
//! for its query and row. Only the pairs that pass are scored exactly.
//!
//! Quantization: a vector `v` whose largest magnitude is in `[2⁻⁶⁰, 2⁵⁰]`
//! (and finite) gets the scale `s = fl32(max |v_i| / 127)`, codes `c_i =
//! round(v_i / s)` clamped to `[-127, 127]`, and a bound `R >= |v - s·c|₂`:
//! each `v_i - s·c_i` is exact in `f64` (`s·c_i` has at most 32
//! significant bits, and when `c_i ≠ 0`, `|v_i| >= s/2` keeps the two
//! operands' exponents within 9 of each other); the sum of squares and its
//! square root are rounded outward by the factor `1 + 2⁻³⁰` (far above
//! `(d + 2)·ε` for any `d` the lanes allow). A zero vector gets `s = 1`,
//! codes 0 and `R = 0`; any other vector (NaN, infinite, huge or tiny
//! numbers) is left unquantized with `R` NaN, which lets every pair with
//! it through the screen.
//!
//! Error: with `q̂ = s_q c_q`, `x̂ = s_x c_x` and `I = c_q · c_x` (exact),
//! `q·x - s_q s_x I = q̂·(x - x̂) + (q - q̂)·x`, so `|q·x - s_q s_x I| <=
//! (|q| + R_q)·R_x + R_q·|x|`.
//!
//! Layout: the queries are packed once into panels of 32, `d` padded with
//! zeros to a multiple of 4, one group of 4 numbers of 32 queries per 128
//! bytes (as [`super::code_blocks`] packs Int8 queries). Rows are packed as
//! `u8` codes `c + 128`, and every sum is corrected by `128 · Σ c_q` per
//! query. A tile of 14 rows × 2 vectors of 16 queries stays in registers
//! while each step broadcasts 4 codes of each row (28 `vpdpbusd` for 2
//! vector loads); `d` is cut into passes of at most 768 (the panel's part,
//! 24 KiB, stays in L1), whose `i32` sums add exactly.

use crate::kernels::cpu::{self, Level};

use super::codes::I32_LANE_MAX_WIDTH;

/// Queries per panel.
pub const PANEL: usize = 32;
/// Rows per register tile.
const TILE_ROWS: usize = 14;
/// Groups of 4 numbers per pass over `d`.
const PASS_GROUPS: usize = 192;
/// The most of a block of rows the panels pass over at once (in L2).
const ROW_SLICE_BYTES: usize = 1 << 20;
/// The widest vectors whose `i32` lanes cannot overflow.
pub const MAX_WIDTH: usize = I32_LANE_MAX_WIDTH;
/// The magnitudes a vector's largest number may have to be quantized.
const MAX_MAGNITUDE: f32 = (1u64 << 50) as f32;
const MIN_MAGNITUDE: f32 = 1.0 / (1u64 << 60) as f32;
/// The outward rounding of the residual bound.
const RESIDUAL_MARGIN: f64 = 1.0 + 1.0 / (1u64 << 30) as f64;

/// How much the caller must lower each bar below the exact one, per unit
/// of the bar's magnitude (see [`screened_dots`]): `12u`, `u = 2⁻²⁴`.
pub const BAR_SLACK: f64 = 12.0 / (1u64 << 24) as f64;

/// Whether this CPU runs the screen (AVX-512 F, BW, VL and VNNI).
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && cpu::at_least(Level::Vnni)
}

/// Quantizes `v` into `codes` (`codes[i] = c_i + bias`, wrapping, as
/// bytes; the rest of `codes` is set to `bias`): the scale `s` and the
/// residual bound `R` of the module docs, or `None` (codes all `bias`)
/// when `v` is not quantized.
pub fn quantize(v: &[f32], codes: &mut [u8], bias: u8) -> Option<(f32, f64)> {
    quantize_with_sum_sq(v, codes, bias).map(|(scale, residual, _)| (scale, residual))
}

/// [`quantize`], with `Σ v_i²` (in `f64`, in some order) as well.
pub fn quantize_with_sum_sq(v: &[f32], codes: &mut [u8], bias: u8) -> Option<(f32, f64, f64)> {
    codes.fill(bias);
    let (top, finite) = largest_magnitude(v);
    if !finite || top > MAX_MAGNITUDE {
        return None;
    }
    if top == 0.0 {
        return Some((1.0, 0.0, 0.0));
    }
    if top < MIN_MAGNITUDE {
        return None;
    }
    let scale = top / 127.0;
    let (residual, sum_sq) = encode(v, scale, codes, bias);
    let bound = (residual * RESIDUAL_MARGIN).sqrt() * RESIDUAL_MARGIN;
    Some((scale, bound, sum_sq))
}

/// `max |v_i|` and whether every number is finite.
fn largest_magnitude(v: &[f32]) -> (f32, bool) {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU has AVX-512F (`available`).
        return unsafe { avx512::largest_magnitude(v) };
    }
    let mut top = 0.0f32;
    let mut finite = true;
    for &x in v {
        let a = x.abs();
        // Not `f32::max`: NaN must not be dropped (it fails `finite`).
        top = if a > top { a } else { top };
        finite &= a <= f32::MAX;
    }
    (top, finite)
}

/// Writes the codes of `v` for `scale` (`round(v_i / scale)`, ties to
/// even, clamped to `[-127, 127]`, plus `bias`) and returns `Σ (v_i -
/// scale·c_i)²`, each difference exact in `f64` (see the module docs), and
/// `Σ v_i²`.
fn encode(v: &[f32], scale: f32, codes: &mut [u8], bias: u8) -> (f64, f64) {
    let n = v.len().min(codes.len());
    let (v, codes) = (&v[..n], &mut codes[..n]);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU has AVX-512 F, BW, VL and DQ (the VNNI level,
        // `available`); both slices hold n.
        return unsafe { avx512::encode(v, scale, codes, bias) };
    }
    let inverse = 1.0 / scale;
    let wide_scale = f64::from(scale);
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    for (&x, out) in v.iter().zip(codes.iter_mut()) {
        let c = (x * inverse).round_ties_even().clamp(-127.0, 127.0);
        *out = (c as i8 as u8).wrapping_add(bias);
        let residual = f64::from(x) - wide_scale * f64::from(c);
        sum += residual * residual;
        sum_sq += f64::from(x) * f64::from(x);
    }
    (sum, sum_sq)
}

/// `a · b` accumulated in `f32` (in some order, with FMA): within
/// `γ_d·|a|·|b|` of the exact product, like the Float32 scores of
/// [`super::product`]; NaN and infinities propagate as in a plain sum.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU has AVX-512F (`available`); both slices hold n.
        return unsafe { avx512::dot_f32(a, b) };
    }
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// Queries quantized and packed in panels of [`PANEL`].
#[derive(Debug, Clone)]
pub struct QuantQueries {
    m: usize,
    /// `d` rounded up to a multiple of 4.
    d4: usize,
    /// `ceil(m / PANEL) · d4 · PANEL` `i8` codes (as bytes): number `i` of
    /// query `p·PANEL + j` at `p·d4·PANEL + (i / 4)·4·PANEL + 4j + i % 4`.
    panels: Vec<u8>,
    /// Each query's scale `s_q` (1 when not quantized).
    pub scale: Vec<f32>,
    /// Each query's residual bound `R_q` (NaN when not quantized).
    pub residual: Vec<f64>,
    /// What each packed sum exceeds `I` by: `128 · Σ c_q`.
    shift: Vec<i32>,
}

impl QuantQueries {
    /// `values` (`m × d`, row-major) quantized; `None` if the length is not
    /// `m × d` or `d` exceeds [`MAX_WIDTH`].
    pub fn new(values: &[f32], m: usize, d: usize) -> Option<Self> {
        if values.len() != m * d || d > MAX_WIDTH {
            return None;
        }
        let d4 = d.next_multiple_of(4);
        let mut panels = vec![0u8; m.div_ceil(PANEL) * d4 * PANEL];
        let (mut scale, mut residual, mut shift) = (Vec::new(), Vec::new(), Vec::new());
        let mut codes = vec![0u8; d];
        for q in 0..m {
            let query = values.get(q * d..(q + 1) * d).unwrap_or(&[]);
            let (s, r) = quantize(query, &mut codes, 0).unwrap_or((1.0, f64::NAN));
            scale.push(s);
            residual.push(r);
            shift.push(128 * codes.iter().map(|&c| i32::from(c as i8)).sum::<i32>());
            let (p, lane) = (q / PANEL, q % PANEL);
            let panel = &mut panels[p * d4 * PANEL..(p + 1) * d4 * PANEL];
            for (i, &c) in codes.iter().enumerate() {
                panel[(i / 4) * 4 * PANEL + lane * 4 + i % 4] = c;
            }
        }
        Some(QuantQueries {
            m,
            d4,
            panels,
            scale,
            residual,
            shift,
        })
    }

    /// The number of queries.
    pub fn count(&self) -> usize {
        self.m
    }
}

/// A block of rows quantized as `u8` codes `c + 128`, rows of `d4`.
#[derive(Debug, Clone, Default)]
pub struct QuantRows {
    d: usize,
    d4: usize,
    codes: Vec<u8>,
    /// Each row's scale `s_x` (1 when not quantized).
    pub scale: Vec<f32>,
    /// Each row's residual bound `R_x` (NaN when not quantized).
    pub residual: Vec<f64>,
}

impl QuantRows {
    /// Empties the block for rows of length `d`.
    pub fn clear(&mut self, d: usize) {
        self.d = d;
        self.d4 = d.next_multiple_of(4);
        self.codes.clear();
        self.scale.clear();
        self.residual.clear();
    }

    /// Quantizes `row` (of length `d`, else it is padded or cut) and adds
    /// it; returns `Σ x_i²` when the row was quantized.
    pub fn push(&mut self, row: &[f32]) -> Option<f64> {
        let start = self.codes.len();
        self.codes.resize(start + self.d4, 0x80);
        let row = &row[..row.len().min(self.d)];
        let codes = &mut self.codes[start..start + row.len()];
        let quantized = quantize_with_sum_sq(row, codes, 0x80);
        let (s, r) = quantized.map_or((1.0, f64::NAN), |(s, r, _)| (s, r));
        self.scale.push(s);
        self.residual.push(r);
        quantized.map(|(_, _, sum_sq)| sum_sq)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.scale.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }
}

/// The bars of [`screened_dots`]: per query `a`, `c1`, `c2`, `c3`; per row
/// the terms `residual` (`R_x`), `norm` (`|x|`) and `extra`.
#[derive(Debug, Clone, Copy)]
pub struct Bars<'a> {
    pub a: &'a [f32],
    pub c1: &'a [f32],
    pub c2: &'a [f32],
    pub c3: &'a [f32],
    pub residual: &'a [f32],
    pub norm: &'a [f32],
    pub extra: &'a [f32],
}

/// A (row, query) pair let through by [`screened_dots`], with its exact
/// `I = c_q · c_x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub row: u32,
    pub query: u32,
    pub dot: i32,
}

/// The code products `I` of every row of `rows` with every query, screened
/// in registers: appends to `hits` the pairs whose `S = fl32(fl32(I) ·
/// s_x)` is not below `bar = c3·extra + (c2·norm + (c1·residual + a))`
/// (three fused roundings; NaN on either side passes).
///
/// Every pair with `s_x · I >= B + 5.1u·M` passes, where `B = a + c1·R +
/// c2·|x| + c3·extra` and `M = |a| + |c1·R| + |c2·|x|| + |c3·extra|`
/// exactly (`u = 2⁻²⁴`; no overflow or underflow). Indeed `bar <= B +
/// 3.01u·M`, so `s_x I >= bar + 2.09u·M`; and `S` has the sign of `s_x I`
/// and is within `2.01u·|s_x I|` of it. If `s_x I >= 0` and `bar <= 0`,
/// then `S >= 0 >= bar`. If `bar > 0`, then `bar <= (1 + 3.01u)·M` and
/// `S >= (1 - 2.01u)·s_x I >= bar`. If `s_x I < 0`, then `|s_x I| <=
/// |bar| <= (1 + 3.01u)·M` and again `S >= bar`. The caller lowers each
/// `a` by [`BAR_SLACK`]` · M` (over the block's rows), so that the
/// roundings of its own `f32` numbers are covered too.
///
/// `scratch` holds partial sums. Returns `false` (and leaves `hits` alone)
/// when the lengths disagree or the CPU lacks the instructions.
pub fn screened_dots(
    queries: &QuantQueries,
    rows: &QuantRows,
    bars: &Bars,
    scratch: &mut Vec<i32>,
    hits: &mut Vec<Hit>,
) -> bool {
    let (m, b) = (queries.m, rows.len());
    let query_lengths = [bars.a, bars.c1, bars.c2, bars.c3].map(<[f32]>::len);
    let row_lengths = [bars.residual, bars.norm, bars.extra].map(<[f32]>::len);
    if !available()
        || rows.d4 != queries.d4
        || rows.codes.len() != b * rows.d4
        || query_lengths.iter().any(|&len| len != m)
        || row_lengths.iter().any(|&len| len != b)
        || u32::try_from(b.max(m)).is_err()
    {
        return false;
    }
    if b == 0 || m == 0 {
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the CPU has AVX-512 F, BW, VL and VNNI (`available`);
        // the panels hold `ceil(m / PANEL) · d4 · PANEL` codes (built by
        // `QuantQueries::new`), the rows `b · d4`, the shifts and query
        // bars m numbers, the scales and row bars b (checked above).
        unsafe { avx512::screened_dots(queries, rows, bars, scratch, hits) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (scratch, hits);
        false
    }
}

/// The rows a slice of [`screened_dots`] holds for vectors of length `d`.
pub fn slice_rows(d: usize) -> usize {
    (ROW_SLICE_BYTES / d.next_multiple_of(4).max(4))
        .max(1)
        .next_multiple_of(TILE_ROWS)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{slice_rows, Bars, Hit, QuantQueries, QuantRows, PANEL, PASS_GROUPS, TILE_ROWS};

    const LANES: usize = 16;

    /// [`super::dot_f32`] in four vectors of 16 lanes.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a` and `b` have the same length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = [_mm512_setzero_ps(); 4];
        let whole = n / (4 * LANES) * (4 * LANES);
        for start in (0..whole).step_by(4 * LANES) {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: start + (j + 1)·LANES <= whole <= n.
                unsafe {
                    let x = _mm512_loadu_ps(a.as_ptr().add(start + j * LANES));
                    let y = _mm512_loadu_ps(b.as_ptr().add(start + j * LANES));
                    *acc = _mm512_fmadd_ps(x, y, *acc);
                }
            }
        }
        for start in (whole..n).step_by(LANES) {
            let mask = lane_mask(n - start);
            // SAFETY: the masked lanes are below n.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, a.as_ptr().add(start));
                let y = _mm512_maskz_loadu_ps(mask, b.as_ptr().add(start));
                acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }

    /// [`super::largest_magnitude`] 16 numbers at a time.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn largest_magnitude(v: &[f32]) -> (f32, bool) {
        let mut top = _mm512_setzero_ps();
        let mut finite: __mmask16 = __mmask16::MAX;
        let most = _mm512_set1_ps(f32::MAX);
        for start in (0..v.len()).step_by(LANES) {
            let mask = lane_mask(v.len() - start);
            // SAFETY: the masked lanes are below v.len().
            let x = unsafe { _mm512_maskz_loadu_ps(mask, v.as_ptr().add(start)) };
            let a = _mm512_abs_ps(x);
            // Ordered and at most f32::MAX: false for NaN and infinities.
            finite &= _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, most) | !mask;
            top = _mm512_max_ps(top, a);
        }
        (_mm512_reduce_max_ps(top), finite == __mmask16::MAX)
    }

    /// [`super::encode`] 16 numbers at a time, with the same operations
    /// (the residual `x - s·c` by one fused rounding of an exact result).
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW, VL and DQ; `v` and `codes` have the same
    /// length.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub unsafe fn encode(v: &[f32], scale: f32, codes: &mut [u8], bias: u8) -> (f64, f64) {
        let n = v.len().min(codes.len());
        let inverse = _mm512_set1_ps(1.0 / scale);
        let wide_scale = _mm512_set1_pd(f64::from(scale));
        let (low, high) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let bias = _mm_set1_epi8(bias as i8);
        let mut sum = [_mm512_setzero_pd(); 2];
        let mut sum_sq = [_mm512_setzero_pd(); 2];
        for start in (0..n).step_by(LANES) {
            let mask = lane_mask(n - start);
            // SAFETY: the masked lanes are below n in both slices.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, v.as_ptr().add(start));
                let scaled = _mm512_mul_ps(x, inverse);
                let rounded = _mm512_roundscale_ps::<
                    { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                >(scaled);
                let c = _mm512_min_ps(_mm512_max_ps(rounded, low), high);
                let bytes = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(c));
                _mm_mask_storeu_epi8(
                    codes.as_mut_ptr().add(start).cast(),
                    mask,
                    _mm_add_epi8(bytes, bias),
                );
                for (h, (sum, sum_sq)) in sum.iter_mut().zip(&mut sum_sq).enumerate() {
                    let (xs, cs) = if h == 0 {
                        (_mm512_castps512_ps256(x), _mm512_castps512_ps256(c))
                    } else {
                        (
                            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x))),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(c))),
                        )
                    };
                    let wide = _mm512_cvtps_pd(xs);
                    let residual = _mm512_fnmadd_pd(wide_scale, _mm512_cvtps_pd(cs), wide);
                    *sum = _mm512_fmadd_pd(residual, residual, *sum);
                    *sum_sq = _mm512_fmadd_pd(wide, wide, *sum_sq);
                }
            }
        }
        (
            _mm512_reduce_add_pd(_mm512_add_pd(sum[0], sum[1])),
            _mm512_reduce_add_pd(_mm512_add_pd(sum_sq[0], sum_sq[1])),
        )
    }

    /// The first `n` lanes.
    #[inline]
    fn lane_mask(n: usize) -> __mmask16 {
        if n >= LANES {
            __mmask16::MAX
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// One tile's operands: `rows` at its first row and the pass's first
    /// group (row stride `d4`), `panel` at the pass's first group of its
    /// panel, `groups` groups of 4 numbers, `partial` at the tile's first
    /// row of the slice's partial sums (stride `PANEL`), added to the
    /// tile's sums when `accumulate`.
    #[derive(Clone, Copy)]
    struct Tile {
        rows: *const u8,
        d4: usize,
        panel: *const u8,
        groups: usize,
        partial: *mut i32,
        accumulate: bool,
    }

    /// The screen of the last pass: the query bars and shifts from the
    /// panel's first query, the row scales and bars from the tile's first
    /// row, the lanes of real queries, the indices of the tile's first row
    /// and the panel's first query.
    struct Last<'h> {
        a: *const f32,
        c1: *const f32,
        c2: *const f32,
        c3: *const f32,
        shift: *const i32,
        scale: *const f32,
        residual: *const f32,
        norm: *const f32,
        extra: *const f32,
        masks: [__mmask16; 2],
        row: u32,
        query: u32,
        hits: &'h mut Vec<Hit>,
    }

    /// See [`super::screened_dots`].
    ///
    /// # Safety
    /// As [`super::screened_dots`] checks before it calls this.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn screened_dots(
        queries: &QuantQueries,
        rows: &QuantRows,
        bars: &Bars,
        scratch: &mut Vec<i32>,
        hits: &mut Vec<Hit>,
    ) {
        let (m, b, d4) = (queries.m, rows.len(), queries.d4);
        let panel_count = m.div_ceil(PANEL);
        if queries.panels.len() < panel_count * d4 * PANEL
            || rows.codes.len() < b * d4
            || queries.shift.len() < m
            || rows.scale.len() < b
        {
            return;
        }
        // Equal passes of at most PASS_GROUPS (one empty pass when d = 0).
        let groups = d4 / 4;
        let passes = groups.div_ceil(PASS_GROUPS).max(1);
        let per_pass = groups.div_ceil(passes);
        let slice = slice_rows(d4);
        scratch.clear();
        scratch.resize(slice.min(b) * PANEL, 0);
        let (p_ptr, r_ptr, s_ptr) = (
            queries.panels.as_ptr(),
            rows.codes.as_ptr(),
            scratch.as_mut_ptr(),
        );
        for first in (0..b).step_by(slice) {
            let last_row = (first + slice).min(b);
            for p in 0..panel_count {
                let q0 = p * PANEL;
                let valid = PANEL.min(m - q0);
                let masks = [lane_mask(valid), lane_mask(valid.saturating_sub(LANES))];
                let mut g0 = 0;
                loop {
                    let count = per_pass.min(groups - g0);
                    let is_last = g0 + count >= groups;
                    let mut r0 = first;
                    while r0 < last_row {
                        let height = TILE_ROWS.min(last_row - r0);
                        // SAFETY: panel p < panel_count, groups g0 .. g0 +
                        // count <= d4 / 4 of rows r0 .. r0 + height <= b;
                        // the partial sums of rows r0 - first .. + height
                        // <= slice.min(b) of the scratch; the bars and
                        // shifts read at queries q0 .. (masked) below m and
                        // rows below b.
                        unsafe {
                            let operands = Tile {
                                rows: r_ptr.add(r0 * d4 + 4 * g0),
                                d4,
                                panel: p_ptr.add(p * d4 * PANEL + g0 * 4 * PANEL),
                                groups: count,
                                partial: s_ptr.add((r0 - first) * PANEL),
                                accumulate: g0 > 0,
                            };
                            let mut last = is_last.then(|| Last {
                                a: bars.a.as_ptr().add(q0),
                                c1: bars.c1.as_ptr().add(q0),
                                c2: bars.c2.as_ptr().add(q0),
                                c3: bars.c3.as_ptr().add(q0),
                                shift: queries.shift.as_ptr().add(q0),
                                scale: rows.scale.as_ptr().add(r0),
                                residual: bars.residual.as_ptr().add(r0),
                                norm: bars.norm.as_ptr().add(r0),
                                extra: bars.extra.as_ptr().add(r0),
                                masks,
                                row: r0 as u32,
                                query: q0 as u32,
                                hits: &mut *hits,
                            });
                            let last = last.as_mut();
                            match height {
                                // Common widths as constants: each
                                // broadcast then addresses its row by a
                                // constant offset.
                                14 => match d4 {
                                    128 => tile::<14, 128>(operands, last),
                                    256 => tile::<14, 256>(operands, last),
                                    384 => tile::<14, 384>(operands, last),
                                    512 => tile::<14, 512>(operands, last),
                                    768 => tile::<14, 768>(operands, last),
                                    1024 => tile::<14, 1024>(operands, last),
                                    1536 => tile::<14, 1536>(operands, last),
                                    _ => tile::<14, 0>(operands, last),
                                },
                                13 => tile::<13, 0>(operands, last),
                                12 => tile::<12, 0>(operands, last),
                                11 => tile::<11, 0>(operands, last),
                                10 => tile::<10, 0>(operands, last),
                                9 => tile::<9, 0>(operands, last),
                                8 => tile::<8, 0>(operands, last),
                                7 => tile::<7, 0>(operands, last),
                                6 => tile::<6, 0>(operands, last),
                                5 => tile::<5, 0>(operands, last),
                                4 => tile::<4, 0>(operands, last),
                                3 => tile::<3, 0>(operands, last),
                                2 => tile::<2, 0>(operands, last),
                                _ => tile::<1, 0>(operands, last),
                            }
                        }
                        r0 += height;
                    }
                    if is_last {
                        break;
                    }
                    g0 += count;
                }
            }
        }
    }

    /// `R` rows × one panel over `groups` groups of 4 numbers, plus the
    /// partial sums of the earlier passes; then either stored as partial
    /// sums or, on the last pass, screened. `STRIDE` is `d4` when known at
    /// compile time (else 0).
    ///
    /// # Safety
    /// `tile.rows` points at `R` rows of stride `d4` with `4 · groups`
    /// codes each, `tile.panel` at `groups · 4 · PANEL` codes,
    /// `tile.partial` at `R · PANEL` writable numbers (readable when
    /// `accumulate`); `last`'s pointers as [`screen`] requires.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile<const R: usize, const STRIDE: usize>(tile: Tile, last: Option<&mut Last>) {
        let Tile {
            rows,
            d4,
            panel,
            groups,
            partial,
            accumulate,
        } = tile;
        let stride = if STRIDE > 0 { STRIDE } else { d4 };
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for g in 0..groups {
            // SAFETY: group g < groups: 128 bytes inside the panel, and 4
            // bytes at 4g inside each of the R rows.
            unsafe {
                let low = _mm512_loadu_si512(panel.add(g * 4 * PANEL).cast());
                let high = _mm512_loadu_si512(panel.add(g * 4 * PANEL + 64).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = rows.add(r * stride + 4 * g).cast::<i32>().read_unaligned();
                    let x = _mm512_set1_epi32(x);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, low);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, high);
                }
            }
        }
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                for (h, a) in acc.iter_mut().enumerate() {
                    // SAFETY: inside the tile's R · PANEL partial sums.
                    let before =
                        unsafe { _mm512_loadu_si512(partial.add(r * PANEL + h * LANES).cast()) };
                    *a = _mm512_add_epi32(before, *a);
                }
            }
        }
        match last {
            // SAFETY: as this function's contract.
            // By value: a borrow would keep the accumulators in memory
            // through the loop above.
            Some(last) => unsafe { screen(acc, last) },
            None => {
                for (r, acc) in acc.iter().enumerate() {
                    for (h, &a) in acc.iter().enumerate() {
                        // SAFETY: inside the tile's R · PANEL partial sums.
                        unsafe {
                            _mm512_storeu_si512(partial.add(r * PANEL + h * LANES).cast(), a)
                        };
                    }
                }
            }
        }
    }

    /// Appends to `last.hits` the pairs of the tile's sums `acc` that pass
    /// the screen of [`super::screened_dots`].
    ///
    /// # Safety
    /// The query bars and shifts of `last` are readable in the lanes of its
    /// masks, the row scales and bars for `R` rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn screen<const R: usize>(acc: [[__m512i; 2]; R], last: &mut Last) {
        let masks = last.masks;
        // SAFETY: masked loads read only the lanes of real queries.
        let [a, c1, c2, c3] = [last.a, last.c1, last.c2, last.c3].map(|v| unsafe {
            [
                _mm512_maskz_loadu_ps(masks[0], v),
                _mm512_maskz_loadu_ps(masks[1], v.wrapping_add(LANES)),
            ]
        });
        // SAFETY: as above.
        let shift = unsafe {
            [
                _mm512_maskz_loadu_epi32(masks[0], last.shift),
                _mm512_maskz_loadu_epi32(masks[1], last.shift.wrapping_add(LANES)),
            ]
        };
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: r < R rows of the row scales and bars.
            let (scale, residual, norm, extra) = unsafe {
                (
                    _mm512_set1_ps(*last.scale.add(r)),
                    _mm512_set1_ps(*last.residual.add(r)),
                    _mm512_set1_ps(*last.norm.add(r)),
                    _mm512_set1_ps(*last.extra.add(r)),
                )
            };
            for h in 0..2 {
                let dot = _mm512_sub_epi32(acc[h], shift[h]);
                let s = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale);
                let bar = _mm512_fmadd_ps(
                    c3[h],
                    extra,
                    _mm512_fmadd_ps(c2[h], norm, _mm512_fmadd_ps(c1[h], residual, a[h])),
                );
                // Not less than (true when either side is NaN).
                let mut keep = _mm512_mask_cmp_ps_mask::<_CMP_NLT_UQ>(masks[h], s, bar);
                if keep != 0 {
                    let mut dots = [0i32; LANES];
                    // SAFETY: LANES numbers into an array of LANES.
                    unsafe { _mm512_storeu_si512(dots.as_mut_ptr().cast(), dot) };
                    while keep != 0 {
                        let lane = keep.trailing_zeros() as usize;
                        last.hits.push(Hit {
                            row: last.row + r as u32,
                            query: last.query + (h * LANES + lane) as u32,
                            dot: dots[lane],
                        });
                        keep &= keep - 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reproducible numbers in [-1, 1) of mixed magnitudes.
    fn numbers(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let unit = (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                unit * [1.0, 0.01, 30.0][(state >> 20) as usize % 3]
            })
            .collect()
    }

    /// The codes of `v` as integers (0 when it is not quantized).
    fn codes_of(v: &[f32]) -> (Vec<i32>, f32, f64) {
        let mut codes = vec![0u8; v.len()];
        let (s, r) = quantize(v, &mut codes, 0).unwrap_or((1.0, f64::NAN));
        (codes.iter().map(|&c| i32::from(c as i8)).collect(), s, r)
    }

    #[test]
    fn quantization_error_within_the_residual_bound() {
        for d in [1, 3, 16, 17, 384, 1000] {
            for seed in 0..20 {
                let q = numbers(d, seed);
                let x = numbers(d, seed + 100);
                let (cq, sq, rq) = codes_of(&q);
                let (cx, sx, rx) = codes_of(&x);
                assert!(cq.iter().chain(&cx).all(|c| c.abs() <= 127));
                let exact: f64 = q
                    .iter()
                    .zip(&x)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                let dot: i64 = cq.iter().zip(&cx).map(|(&a, &b)| i64::from(a * b)).sum();
                let approx = f64::from(sq) * f64::from(sx) * dot as f64;
                let norm = |v: &[f32]| v.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
                let bound = (norm(&q) + rq) * rx + rq * norm(&x);
                assert!(
                    (approx - exact).abs() <= bound * (1.0 + 1e-9),
                    "d={d} seed={seed}"
                );
            }
        }
        // Zero, non-finite, huge and tiny vectors.
        assert_eq!(codes_of(&[0.0; 5]), (vec![0; 5], 1.0, 0.0));
        for bad in [
            [0.5, f32::NAN, 0.0],
            [0.5, f32::INFINITY, 0.0],
            [0.5, 1e20, 0.0],
            [1e-30, 0.0, 0.0],
        ] {
            let (codes, s, r) = codes_of(&bad);
            assert_eq!((codes, s), (vec![0; 3], 1.0));
            assert!(r.is_nan());
        }
    }

    #[test]
    #[cfg_attr(not(test_cpu_vnni), ignore = "the test machine has no AVX-512 VNNI")]
    fn screened_dots_match_the_screen_formula() {
        let _level = crate::kernels::cpu::force_level(crate::kernels::cpu::Level::Vnni);
        assert!(available());
        let u = 1.0 / (1u64 << 24) as f64;
        for (m, b, d) in [
            (1, 1, 1),
            (16, 13, 7),
            (31, 14, 8),
            (33, 15, 33),
            (45, 29, 384),
            (64, 300, 770),
            (70, 40, 1000),
            (20, 20, 0),
        ] {
            let seed = (m * 131 + b * 7 + d) as u64;
            let queries = numbers(m * d, seed);
            let mut values = numbers(b * d, seed + 1);
            if b > 3 && d > 0 {
                values[2 * d] = f32::NAN; // row 2: not quantized
            }
            let Some(prepared) = QuantQueries::new(&queries, m, d) else {
                panic!("m={m} d={d}");
            };
            let mut rows = QuantRows::default();
            rows.clear(d);
            for row in values.chunks_exact(d.max(1)).take(b) {
                rows.push(if d == 0 { &[] } else { row });
            }
            while rows.len() < b {
                rows.push(&[]);
            }
            let a: Vec<f32> = numbers(m, seed + 2).iter().map(|v| v * 100.0).collect();
            let c1: Vec<f32> = numbers(m, seed + 3)
                .iter()
                .map(|v| -v.abs() * 300.0)
                .collect();
            let c2: Vec<f32> = numbers(m, seed + 4).iter().map(|v| v * 3.0).collect();
            let c3: Vec<f32> = numbers(m, seed + 5).iter().map(|v| v * 0.1).collect();
            let residual: Vec<f32> = rows.residual.iter().map(|&r| r as f32).collect();
            let norm: Vec<f32> = numbers(b, seed + 6).iter().map(|v| v.abs()).collect();
            let extra: Vec<f32> = numbers(b, seed + 7).iter().map(|v| v * v).collect();
            let bars = Bars {
                a: &a,
                c1: &c1,
                c2: &c2,
                c3: &c3,
                residual: &residual,
                norm: &norm,
                extra: &extra,
            };
            let (mut scratch, mut hits) = (Vec::new(), Vec::new());
            assert!(screened_dots(
                &prepared,
                &rows,
                &bars,
                &mut scratch,
                &mut hits
            ));
            let mut got: Vec<(u32, u32, i32)> =
                hits.iter().map(|h| (h.row, h.query, h.dot)).collect();
            got.sort_unstable();
            let mut expected = Vec::new();
            let (mut passing, mut total) = (0, 0);
            for r in 0..b {
                let row = if d == 0 {
                    &[][..]
                } else {
                    &values[r * d..(r + 1) * d]
                };
                let (cx, sx, _) = codes_of(row);
                for q in 0..m {
                    let (cq, _, _) = codes_of(&queries[q * d..(q + 1) * d]);
                    let dot: i32 = cq.iter().zip(&cx).map(|(&a, &b)| a * b).sum();
                    let s = dot as f32 * sx;
                    let bar = c3[q].mul_add(
                        extra[r],
                        c2[q].mul_add(norm[r], c1[q].mul_add(residual[r], a[q])),
                    );
                    let passes = s >= bar || s.is_nan() || bar.is_nan();
                    if passes {
                        expected.push((r as u32, q as u32, dot));
                        passing += 1;
                    }
                    total += 1;
                    let terms = [
                        f64::from(a[q]),
                        f64::from(c1[q]) * f64::from(residual[r]),
                        f64::from(c2[q]) * f64::from(norm[r]),
                        f64::from(c3[q]) * f64::from(extra[r]),
                    ];
                    let exact: f64 = terms.iter().sum();
                    let size: f64 = terms.iter().map(|t| t.abs()).sum();
                    if f64::from(sx) * f64::from(dot) >= exact + 5.1 * u * size {
                        assert!(passes, "m={m} b={b} d={d} r={r} q={q}");
                    }
                }
            }
            assert_eq!(got, expected, "m={m} b={b} d={d}");
            assert!(
                passing > 0 && (passing < total || total < 4),
                "m={m} b={b} d={d}"
            );
        }
    }
}
