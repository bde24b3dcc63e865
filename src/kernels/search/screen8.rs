//! An Int8 screen for the exact search of Float32 rows against many
//! queries (`neighbors::nearest`): every query and row is quantized to
//! 8-bit codes with a scale of its own, the codes are multiplied exactly
//! ([`Multiply`]: AVX-512 VNNI's `vpdpbusd`, four `u8 × i8` products added
//! into each `i32` lane, about four times the multiply-adds per cycle of
//! Float32 FMA; or AVX2's `vpmaddubsw` + `vpmaddwd`, about twice), and each
//! integer dot product is compared, still in registers, with a bar that
//! accounts for the quantization error measured for its query and row.
//! Only the pairs that pass are scored exactly.
//!
//! Quantization: a vector `v` whose largest magnitude is in `[2⁻⁶⁰, 2⁵⁰]`
//! (and finite) gets the scale `s = fl32(max |v_i| / L)`, codes `c_i =
//! round(v_i / s)` clamped to `[-L, L]` (`L = 127` for queries; for rows
//! `L` is [`Multiply::row_limit`]), and a bound `R >= |v - s·c|₂`:
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
//! `u8` codes `c + bias` ([`Multiply::row_bias`]), and every sum is
//! corrected by `bias · Σ c_q` per query. A register tile of rows × queries
//! stays in registers while each step broadcasts 4 codes of each row (VNNI:
//! 14 rows × 32 queries, 28 `vpdpbusd` for 2 vector loads; AVX2: 5 rows ×
//! 16 queries); `d` is cut into passes of at most 768 (the panel's part,
//! 24 KiB, stays in L1), whose `i32` sums add exactly. One driver
//! ([`drive`]) walks the slices, panels, passes and tiles for both.

use crate::kernels::cpu::{self, Level};

use super::codes::I32_LANE_MAX_WIDTH;

/// Queries per panel.
pub const PANEL: usize = 32;
/// Groups of 4 numbers per pass over `d`.
#[cfg(target_arch = "x86_64")]
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

/// The instructions that multiply the codes, and so how rows are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiply {
    /// AVX2 `vpmaddubsw` (`u8 × i8` products added in pairs into `i16`,
    /// saturating) then `vpmaddwd` by ones into `i32`: rows are coded in
    /// `[-63, 63]` so that a pair's sum, at most `2 · 127 · 127`, cannot
    /// saturate. (Rows in `[-127, 127]` multiplied as `|x| · sign(q, x)`,
    /// two more instructions per product, screen tighter but were no faster
    /// on the EPYC: 100k × 384 about equal, × 768 15–25% slower.)
    Avx2,
    /// AVX-512 VNNI `vpdpbusd`: rows coded in `[-127, 127]`.
    Vnni,
}

impl Multiply {
    /// The fastest this CPU runs at the active level, if any.
    pub fn active() -> Option<Multiply> {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        if cpu::at_least(Level::Vnni) {
            Some(Multiply::Vnni)
        } else if cpu::at_least(Level::Avx2) {
            Some(Multiply::Avx2)
        } else {
            None
        }
    }

    /// The CPU level its instructions need.
    pub fn level(self) -> Level {
        match self {
            Multiply::Avx2 => Level::Avx2,
            Multiply::Vnni => Level::Vnni,
        }
    }

    /// The largest magnitude of a row's codes.
    pub fn row_limit(self) -> f32 {
        match self {
            Multiply::Avx2 => 63.0,
            Multiply::Vnni => 127.0,
        }
    }

    /// What makes a row's codes unsigned: the byte of code 0.
    pub fn row_bias(self) -> u8 {
        match self {
            Multiply::Avx2 => 64,
            Multiply::Vnni => 128,
        }
    }

    /// Searches of fewer rows keep the Float32 screen. With AVX2,
    /// quantizing a small corpus does not pay (`knn_join(by=)` over 100
    /// groups of about 2,000 rows × 128 and 100 queries each, on a 2-core
    /// EPYC: 327 ms with the Int8 screen, 253–261 ms without; over 100k
    /// rows the Int8 screen is 1.5–2x faster). VNNI's screen, measured
    /// without such a limit, keeps none.
    pub fn min_rows(self) -> usize {
        match self {
            Multiply::Avx2 => 8192,
            Multiply::Vnni => 0,
        }
    }

    /// Rows per register tile.
    fn tile_rows(self) -> usize {
        match self {
            Multiply::Avx2 => 5,
            Multiply::Vnni => 14,
        }
    }
}

/// The largest magnitude of a query's codes.
const QUERY_LIMIT: f32 = 127.0;

/// Quantizes `v` into `codes` (`codes[i] = c_i + bias`, wrapping, as
/// bytes; the rest of `codes` is set to `bias`) with codes in `[-127,
/// 127]`: the scale `s` and the residual bound `R` of the module docs, or
/// `None` (codes all `bias`) when `v` is not quantized.
pub fn quantize(v: &[f32], codes: &mut [u8], bias: u8) -> Option<(f32, f64)> {
    quantize_with_sum_sq(v, codes, bias, QUERY_LIMIT).map(|(scale, residual, _)| (scale, residual))
}

/// [`quantize`] with codes in `[-limit, limit]` (`limit` at most 127), and
/// `Σ v_i²` (in `f64`, in some order) as well.
pub fn quantize_with_sum_sq(
    v: &[f32],
    codes: &mut [u8],
    bias: u8,
    limit: f32,
) -> Option<(f32, f64, f64)> {
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
    let scale = top / limit;
    let (residual, sum_sq) = encode(v, scale, limit, codes, bias);
    let bound = (residual * RESIDUAL_MARGIN).sqrt() * RESIDUAL_MARGIN;
    Some((scale, bound, sum_sq))
}

/// `max |v_i|` and whether every number is finite.
fn largest_magnitude(v: &[f32]) -> (f32, bool) {
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx512) {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::largest_magnitude(v) };
    }
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx2) {
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::largest_magnitude(v) };
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
/// even, clamped to `[-limit, limit]`, plus `bias`) and returns `Σ (v_i -
/// scale·c_i)²`, each difference exact in `f64` (see the module docs), and
/// `Σ v_i²`. The codes are the same at every level; the sums are added in
/// another order.
fn encode(v: &[f32], scale: f32, limit: f32, codes: &mut [u8], bias: u8) -> (f64, f64) {
    let n = v.len().min(codes.len());
    let (v, codes) = (&v[..n], &mut codes[..n]);
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx512) {
        // SAFETY: the CPU has AVX-512 F, BW, VL and DQ; both slices hold n.
        return unsafe { avx512::encode(v, scale, limit, codes, bias) };
    }
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx2) {
        // SAFETY: the CPU has AVX2 and FMA; both slices hold n.
        return unsafe { avx2::encode(v, scale, limit, codes, bias) };
    }
    encode_scalar(v, scale, limit, codes, bias, (0.0, 0.0))
}

/// [`encode`] one number at a time, adding to `sums`.
fn encode_scalar(
    v: &[f32],
    scale: f32,
    limit: f32,
    codes: &mut [u8],
    bias: u8,
    (mut sum, mut sum_sq): (f64, f64),
) -> (f64, f64) {
    let inverse = 1.0 / scale;
    let wide_scale = f64::from(scale);
    for (&x, out) in v.iter().zip(codes.iter_mut()) {
        let c = (x * inverse).round_ties_even().clamp(-limit, limit);
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
    if cpu::at_least(Level::Avx512) {
        // SAFETY: the CPU has AVX-512F; both slices hold n.
        return unsafe { avx512::dot_f32(a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx2) {
        // SAFETY: the CPU has AVX2 and FMA; both slices hold n.
        return unsafe { avx2::dot_f32(a, b) };
    }
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// Queries quantized and packed in panels of [`PANEL`], for one way of
/// multiplying the codes.
#[derive(Debug, Clone)]
pub struct QuantQueries {
    multiply: Multiply,
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
    /// What each packed sum exceeds `I` by: `bias · Σ c_q`.
    shift: Vec<i32>,
}

impl QuantQueries {
    /// `values` (`m × d`, row-major) quantized for `multiply`; `None` if
    /// the length is not `m × d` or `d` exceeds [`MAX_WIDTH`].
    pub fn new(values: &[f32], m: usize, d: usize, multiply: Multiply) -> Option<Self> {
        if values.len() != m * d || d > MAX_WIDTH {
            return None;
        }
        let d4 = d.next_multiple_of(4);
        let mut panels = vec![0u8; m.div_ceil(PANEL) * d4 * PANEL];
        let (mut scale, mut residual, mut shift) = (Vec::new(), Vec::new(), Vec::new());
        let mut codes = vec![0u8; d];
        let bias = i32::from(multiply.row_bias());
        for q in 0..m {
            let query = values.get(q * d..(q + 1) * d).unwrap_or(&[]);
            let (s, r) = quantize(query, &mut codes, 0).unwrap_or((1.0, f64::NAN));
            scale.push(s);
            residual.push(r);
            shift.push(bias * codes.iter().map(|&c| i32::from(c as i8)).sum::<i32>());
            let (p, lane) = (q / PANEL, q % PANEL);
            let panel = &mut panels[p * d4 * PANEL..(p + 1) * d4 * PANEL];
            for (i, &c) in codes.iter().enumerate() {
                panel[(i / 4) * 4 * PANEL + lane * 4 + i % 4] = c;
            }
        }
        Some(QuantQueries {
            multiply,
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

    /// How the codes are multiplied.
    pub fn multiply(&self) -> Multiply {
        self.multiply
    }
}

/// A block of rows quantized as `u8` codes `c + bias`, rows of `d4`, for
/// one way of multiplying the codes.
#[derive(Debug, Clone)]
pub struct QuantRows {
    multiply: Multiply,
    d: usize,
    d4: usize,
    codes: Vec<u8>,
    /// Each row's scale `s_x` (1 when not quantized).
    pub scale: Vec<f32>,
    /// Each row's residual bound `R_x` (NaN when not quantized).
    pub residual: Vec<f64>,
}

impl QuantRows {
    /// An empty block for rows of length `d`.
    pub fn new(d: usize, multiply: Multiply) -> Self {
        QuantRows {
            multiply,
            d,
            d4: d.next_multiple_of(4),
            codes: Vec::new(),
            scale: Vec::new(),
            residual: Vec::new(),
        }
    }

    /// Empties the block.
    pub fn clear(&mut self) {
        self.codes.clear();
        self.scale.clear();
        self.residual.clear();
    }

    /// Quantizes `row` (of length `d`, else it is padded or cut) and adds
    /// it; returns `Σ x_i²` when the row was quantized.
    pub fn push(&mut self, row: &[f32]) -> Option<f64> {
        let bias = self.multiply.row_bias();
        let start = self.codes.len();
        self.codes.resize(start + self.d4, bias);
        let row = &row[..row.len().min(self.d)];
        let codes = &mut self.codes[start..start + row.len()];
        let quantized = quantize_with_sum_sq(row, codes, bias, self.multiply.row_limit());
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
    if rows.d4 != queries.d4
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
    if rows.multiply != queries.multiply || !cpu::at_least(queries.multiply.level()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the CPU runs `queries.multiply`'s instructions (checked
        // above: the active one is at least as high); the panels hold
        // `ceil(m / PANEL) · d4 · PANEL` codes (built by
        // `QuantQueries::new`), the rows `b · d4`, the shifts and query
        // bars m numbers, the scales and row bars b (checked above).
        unsafe {
            match queries.multiply {
                Multiply::Avx2 => drive(queries, rows, bars, scratch, hits, avx2::tile_of),
                Multiply::Vnni => drive(queries, rows, bars, scratch, hits, avx512::tile_of),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (scratch, hits);
        false
    }
}

/// The rows a slice of [`screened_dots`] holds for vectors of length `d`.
pub fn slice_rows(d: usize, multiply: Multiply) -> usize {
    (ROW_SLICE_BYTES / d.next_multiple_of(4).max(4))
        .max(1)
        .next_multiple_of(multiply.tile_rows())
}

/// One tile's operands: `rows` at its first row and the pass's first
/// group (row stride `d4`), `panel` at the pass's first group of its
/// panel, `groups` groups of 4 numbers, `partial` at the tile's first row
/// of the slice's partial sums (stride `PANEL`), added to the tile's sums
/// when `accumulate`; `queries` of the panel are real (the rest padding).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Tile {
    rows: *const u8,
    d4: usize,
    panel: *const u8,
    groups: usize,
    partial: *mut i32,
    accumulate: bool,
    queries: usize,
}

/// The screen of the last pass: the query bars and shifts from the
/// panel's first query, the row scales and bars from the tile's first row,
/// the number of real queries in the panel (at most [`PANEL`]), the
/// indices of the tile's first row and the panel's first query.
#[cfg(target_arch = "x86_64")]
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
    valid: usize,
    row: u32,
    query: u32,
    hits: &'h mut Vec<Hit>,
}

/// A tile kernel: `(operands, rows in the tile, the screen on the last
/// pass)`, called with the pointers [`drive`] promises.
#[cfg(target_arch = "x86_64")]
type TileKernel = unsafe fn(Tile, usize, Option<&mut Last>);

/// Walks [`screened_dots`]' rows in slices (kept in L2), each slice by
/// panel, each panel in passes over `d` (the panel's part kept in L1),
/// each pass in tiles of `queries.multiply`'s rows, and runs `kernel` on
/// each tile; the last pass screens. `false` (nothing screened) if the
/// codes are shorter than the shapes say.
///
/// # Safety
/// As [`screened_dots`] checks before it calls this; `kernel` may read and
/// write what a [`Tile`] and a [`Last`] point at, for the tile's rows and
/// the panel's real queries.
#[cfg(target_arch = "x86_64")]
unsafe fn drive(
    queries: &QuantQueries,
    rows: &QuantRows,
    bars: &Bars,
    scratch: &mut Vec<i32>,
    hits: &mut Vec<Hit>,
    kernel: TileKernel,
) -> bool {
    let (m, b, d4) = (queries.m, rows.len(), queries.d4);
    let panel_count = m.div_ceil(PANEL);
    if queries.panels.len() < panel_count * d4 * PANEL
        || rows.codes.len() < b * d4
        || queries.shift.len() < m
        || rows.scale.len() < b
    {
        return false;
    }
    // Equal passes of at most PASS_GROUPS (one empty pass when d = 0).
    let groups = d4 / 4;
    let passes = groups.div_ceil(PASS_GROUPS).max(1);
    let per_pass = groups.div_ceil(passes);
    let tile_rows = queries.multiply.tile_rows();
    let slice = slice_rows(d4, queries.multiply);
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
            let mut g0 = 0;
            loop {
                let count = per_pass.min(groups - g0);
                let is_last = g0 + count >= groups;
                let mut r0 = first;
                while r0 < last_row {
                    let height = tile_rows.min(last_row - r0);
                    // SAFETY: panel p < panel_count, groups g0 .. g0 +
                    // count <= d4 / 4 of rows r0 .. r0 + height <= b; the
                    // partial sums of rows r0 - first .. + height <=
                    // slice.min(b) of the scratch; the bars and shifts
                    // read at queries q0 .. q0 + valid <= m and rows
                    // below b.
                    unsafe {
                        let operands = Tile {
                            rows: r_ptr.add(r0 * d4 + 4 * g0),
                            d4,
                            panel: p_ptr.add(p * d4 * PANEL + g0 * 4 * PANEL),
                            groups: count,
                            partial: s_ptr.add((r0 - first) * PANEL),
                            accumulate: g0 > 0,
                            queries: PANEL.min(m - q0),
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
                            valid: operands.queries,
                            row: r0 as u32,
                            query: q0 as u32,
                            hits: &mut *hits,
                        });
                        kernel(operands, height, last.as_mut());
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
    true
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Hit, Last, Tile, PANEL};

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
    pub unsafe fn encode(
        v: &[f32],
        scale: f32,
        limit: f32,
        codes: &mut [u8],
        bias: u8,
    ) -> (f64, f64) {
        let n = v.len().min(codes.len());
        let inverse = _mm512_set1_ps(1.0 / scale);
        let wide_scale = _mm512_set1_pd(f64::from(scale));
        let (low, high) = (_mm512_set1_ps(-limit), _mm512_set1_ps(limit));
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

    /// The VNNI tile kernel of [`super::drive`]: 14 rows (or fewer at a
    /// slice's end) × one panel of 32 queries.
    ///
    /// # Safety
    /// As [`super::drive`] promises; the CPU has AVX-512 F, BW, VL and VNNI.
    pub unsafe fn tile_of(operands: Tile, height: usize, last: Option<&mut Last>) {
        // SAFETY: as this function's contract; `height` rows.
        unsafe {
            match height {
                // Common widths as constants: each broadcast then
                // addresses its row by a constant offset.
                14 => match operands.d4 {
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
            ..
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
        let masks = [
            lane_mask(last.valid),
            lane_mask(last.valid.saturating_sub(LANES)),
        ];
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

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Hit, Last, Tile, PANEL};

    const LANES: usize = 8;
    /// Queries per half of a panel: two vectors of `i32` sums.
    const HALF: usize = 2 * LANES;

    /// The sum of the four lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sum_pd(v: __m256d) -> f64 {
        let mut lanes = [0.0f64; 4];
        // SAFETY: 4 numbers into an array of 4.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }

    /// [`super::dot_f32`] in four vectors of 8 lanes.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = [_mm256_setzero_ps(); 4];
        let whole = n / (4 * LANES) * (4 * LANES);
        for start in (0..whole).step_by(4 * LANES) {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: start + (j + 1)·LANES <= whole <= n.
                unsafe {
                    let x = _mm256_loadu_ps(a.as_ptr().add(start + j * LANES));
                    let y = _mm256_loadu_ps(b.as_ptr().add(start + j * LANES));
                    *acc = _mm256_fmadd_ps(x, y, *acc);
                }
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut lanes = [0.0f32; LANES];
        // SAFETY: LANES numbers into an array of LANES.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        let tail: f32 = a[whole..n]
            .iter()
            .zip(&b[whole..n])
            .map(|(&x, &y)| x * y)
            .sum();
        lanes.iter().sum::<f32>() + tail
    }

    /// [`super::largest_magnitude`] 8 numbers at a time.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn largest_magnitude(v: &[f32]) -> (f32, bool) {
        let whole = v.len() / LANES * LANES;
        let sign = _mm256_set1_ps(-0.0);
        let most = _mm256_set1_ps(f32::MAX);
        let mut top = _mm256_setzero_ps();
        let mut finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for start in (0..whole).step_by(LANES) {
            // SAFETY: start + LANES <= whole <= v.len().
            let a = _mm256_andnot_ps(sign, unsafe { _mm256_loadu_ps(v.as_ptr().add(start)) });
            // Ordered and at most f32::MAX: false for NaN and infinities.
            finite = _mm256_and_ps(finite, _mm256_cmp_ps::<_CMP_LE_OQ>(a, most));
            top = _mm256_max_ps(top, a);
        }
        let mut lanes = [0.0f32; LANES];
        // SAFETY: LANES numbers into an array of LANES.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), top) };
        let mut finite = _mm256_movemask_ps(finite) == 0xFF;
        let mut top = 0.0f32;
        for &x in lanes.iter().chain(&v[whole..]) {
            let a = x.abs();
            top = if a > top { a } else { top };
            finite &= a <= f32::MAX;
        }
        (top, finite)
    }

    /// [`super::encode`] 8 numbers at a time, with the same operations
    /// (the residual `x - s·c` by one fused rounding of an exact result).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn encode(
        v: &[f32],
        scale: f32,
        limit: f32,
        codes: &mut [u8],
        bias: u8,
    ) -> (f64, f64) {
        let n = v.len().min(codes.len());
        let whole = n / LANES * LANES;
        let inverse = _mm256_set1_ps(1.0 / scale);
        let wide_scale = _mm256_set1_pd(f64::from(scale));
        let (low, high) = (_mm256_set1_ps(-limit), _mm256_set1_ps(limit));
        let bias_bytes = _mm_set1_epi8(bias as i8);
        let mut sum = [_mm256_setzero_pd(); 2];
        let mut sum_sq = [_mm256_setzero_pd(); 2];
        for start in (0..whole).step_by(LANES) {
            // SAFETY: start + LANES <= whole <= n in both slices.
            let x = unsafe { _mm256_loadu_ps(v.as_ptr().add(start)) };
            let rounded = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm256_mul_ps(x, inverse),
            );
            let c = _mm256_min_ps(_mm256_max_ps(rounded, low), high);
            let ints = _mm256_cvtps_epi32(c);
            let words = _mm_packs_epi32(
                _mm256_castsi256_si128(ints),
                _mm256_extracti128_si256::<1>(ints),
            );
            let bytes = _mm_add_epi8(_mm_packs_epi16(words, words), bias_bytes);
            // SAFETY: 8 bytes at start + 8 <= n.
            unsafe { _mm_storel_epi64(codes.as_mut_ptr().add(start).cast(), bytes) };
            let halves = [
                (_mm256_castps256_ps128(x), _mm256_castps256_ps128(c)),
                (_mm256_extractf128_ps::<1>(x), _mm256_extractf128_ps::<1>(c)),
            ];
            for (h, (xs, cs)) in halves.into_iter().enumerate() {
                let wide = _mm256_cvtps_pd(xs);
                let residual = _mm256_fnmadd_pd(wide_scale, _mm256_cvtps_pd(cs), wide);
                sum[h] = _mm256_fmadd_pd(residual, residual, sum[h]);
                sum_sq[h] = _mm256_fmadd_pd(wide, wide, sum_sq[h]);
            }
        }
        let sums = (
            sum_pd(_mm256_add_pd(sum[0], sum[1])),
            sum_pd(_mm256_add_pd(sum_sq[0], sum_sq[1])),
        );
        super::encode_scalar(&v[whole..n], scale, limit, &mut codes[whole..n], bias, sums)
    }

    /// The AVX2 tile kernel of [`super::drive`]: 5 rows (or fewer at a
    /// slice's end) × one panel of 32 queries, as two halves of 16 (the
    /// second skipped when it holds only padding).
    ///
    /// # Safety
    /// As [`super::drive`] promises; the CPU has AVX2 and FMA.
    pub unsafe fn tile_of(operands: Tile, height: usize, mut last: Option<&mut Last>) {
        for half in 0..operands.queries.div_ceil(HALF) {
            let last = last.as_deref_mut();
            // SAFETY: as this function's contract; `height` rows.
            unsafe {
                match height {
                    // Common widths as constants: each broadcast then
                    // addresses its row by a constant offset.
                    5 => match operands.d4 {
                        128 => tile::<5, 128>(operands, half, last),
                        256 => tile::<5, 256>(operands, half, last),
                        384 => tile::<5, 384>(operands, half, last),
                        512 => tile::<5, 512>(operands, half, last),
                        768 => tile::<5, 768>(operands, half, last),
                        1024 => tile::<5, 1024>(operands, half, last),
                        1536 => tile::<5, 1536>(operands, half, last),
                        _ => tile::<5, 0>(operands, half, last),
                    },
                    4 => tile::<4, 0>(operands, half, last),
                    3 => tile::<3, 0>(operands, half, last),
                    2 => tile::<2, 0>(operands, half, last),
                    _ => tile::<1, 0>(operands, half, last),
                }
            }
        }
    }

    /// `R` rows × half `half` of one panel over `groups` groups of 4
    /// numbers, plus the partial sums of the earlier passes; then either
    /// stored as partial sums or, on the last pass, screened. Each step:
    /// `vpmaddubsw` (row codes, unsigned, times query codes, in pairs),
    /// `vpmaddwd` by ones (the pairs in pairs), added into `i32` lanes.
    ///
    /// # Safety
    /// As [`super::drive`] promises for a tile of `R` rows.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<const R: usize, const STRIDE: usize>(
        tile: Tile,
        half: usize,
        last: Option<&mut Last>,
    ) {
        let Tile {
            rows,
            d4,
            panel,
            groups,
            partial,
            accumulate,
            ..
        } = tile;
        let stride = if STRIDE > 0 { STRIDE } else { d4 };
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let panel = panel.wrapping_add(4 * half * HALF);
        for g in 0..groups {
            // SAFETY: group g < groups: 64 bytes of this half inside the
            // panel, and 4 bytes at 4g inside each of the R rows.
            unsafe {
                let low = _mm256_loadu_si256(panel.add(g * 4 * PANEL).cast());
                let high = _mm256_loadu_si256(panel.add(g * 4 * PANEL + 4 * LANES).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = rows.add(r * stride + 4 * g).cast::<i32>().read_unaligned();
                    let x = _mm256_set1_epi32(x);
                    let pairs = _mm256_madd_epi16(_mm256_maddubs_epi16(x, low), ones);
                    acc[0] = _mm256_add_epi32(acc[0], pairs);
                    let pairs = _mm256_madd_epi16(_mm256_maddubs_epi16(x, high), ones);
                    acc[1] = _mm256_add_epi32(acc[1], pairs);
                }
            }
        }
        let partial = partial.wrapping_add(half * HALF);
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                for (h, a) in acc.iter_mut().enumerate() {
                    // SAFETY: inside the tile's R · PANEL partial sums.
                    let before =
                        unsafe { _mm256_loadu_si256(partial.add(r * PANEL + h * LANES).cast()) };
                    *a = _mm256_add_epi32(before, *a);
                }
            }
        }
        match last {
            // SAFETY: as this function's contract.
            // By value: a borrow would keep the accumulators in memory
            // through the loop above.
            Some(last) => unsafe { screen(acc, half, last) },
            None => {
                for (r, acc) in acc.iter().enumerate() {
                    for (h, &a) in acc.iter().enumerate() {
                        // SAFETY: inside the tile's R · PANEL partial sums.
                        unsafe {
                            _mm256_storeu_si256(partial.add(r * PANEL + h * LANES).cast(), a)
                        };
                    }
                }
            }
        }
    }

    /// Appends to `last.hits` the pairs of half `half` of the tile's sums
    /// `acc` that pass the screen of [`super::screened_dots`], with the
    /// same operations as the VNNI kernel's screen.
    ///
    /// # Safety
    /// The query bars and shifts of `last` are readable for its `valid`
    /// queries, the row scales and bars for `R` rows.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn screen<const R: usize>(acc: [[__m256i; 2]; R], half: usize, last: &mut Last) {
        let first = half * HALF;
        let Some(valid) = last.valid.checked_sub(first).filter(|&v| v > 0) else {
            return;
        };
        let counts = [valid.min(LANES), valid.saturating_sub(LANES).min(LANES)];
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let masks = counts.map(|n| _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes));
        // SAFETY: masked loads read only the lanes of real queries.
        let load = |v: *const f32, h: usize| unsafe {
            _mm256_maskload_ps(v.wrapping_add(first + h * LANES), masks[h])
        };
        let [a, c1, c2, c3] = [last.a, last.c1, last.c2, last.c3].map(|v| [load(v, 0), load(v, 1)]);
        // SAFETY: as above.
        let shift = [0, 1].map(|h| unsafe {
            _mm256_maskload_epi32(last.shift.wrapping_add(first + h * LANES), masks[h])
        });
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: r < R rows of the row scales and bars.
            let (scale, residual, norm, extra) = unsafe {
                (
                    _mm256_set1_ps(*last.scale.add(r)),
                    _mm256_set1_ps(*last.residual.add(r)),
                    _mm256_set1_ps(*last.norm.add(r)),
                    _mm256_set1_ps(*last.extra.add(r)),
                )
            };
            for h in 0..2 {
                let dot = _mm256_sub_epi32(acc[h], shift[h]);
                let s = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), scale);
                let bar = _mm256_fmadd_ps(
                    c3[h],
                    extra,
                    _mm256_fmadd_ps(c2[h], norm, _mm256_fmadd_ps(c1[h], residual, a[h])),
                );
                // Not less than (true when either side is NaN).
                let passed = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLT_UQ>(s, bar)) as u32;
                let mut keep = passed & ((1u32 << counts[h]) - 1);
                if keep != 0 {
                    let mut dots = [0i32; LANES];
                    // SAFETY: LANES numbers into an array of LANES.
                    unsafe { _mm256_storeu_si256(dots.as_mut_ptr().cast(), dot) };
                    while keep != 0 {
                        let lane = keep.trailing_zeros() as usize;
                        last.hits.push(Hit {
                            row: last.row + r as u32,
                            query: last.query + (first + h * LANES + lane) as u32,
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

    /// The codes of `v` in `[-limit, limit]` as integers (0 when it is not
    /// quantized).
    fn codes_within(v: &[f32], limit: f32) -> (Vec<i32>, f32, f64) {
        let mut codes = vec![0u8; v.len()];
        let (s, r) = quantize_with_sum_sq(v, &mut codes, 0, limit)
            .map_or((1.0, f64::NAN), |(s, r, _)| (s, r));
        (codes.iter().map(|&c| i32::from(c as i8)).collect(), s, r)
    }

    /// A query's codes.
    fn codes_of(v: &[f32]) -> (Vec<i32>, f32, f64) {
        codes_within(v, QUERY_LIMIT)
    }

    /// The ways of multiplying this CPU has, each with its level.
    fn multiplies() -> Vec<(Multiply, Level)> {
        cpu::test_levels()
            .into_iter()
            .filter_map(|level| {
                let _level = cpu::force_level(level);
                Multiply::active()
                    .filter(|_| matches!(level, Level::Avx2 | Level::Vnni))
                    .map(|multiply| (multiply, level))
            })
            .collect()
    }

    #[test]
    fn codes_are_the_same_at_every_level() {
        for d in [1, 7, 8, 9, 33, 384, 1000] {
            for seed in 0..10 {
                let v = numbers(d, seed + 7);
                for limit in [63.0, 127.0] {
                    let mut expected = vec![0u8; d];
                    let scale = largest_magnitude(&v).0 / limit;
                    let (residual, sum_sq) =
                        encode_scalar(&v, scale, limit, &mut expected, 64, (0.0, 0.0));
                    let bits = |x: f32| x.to_bits();
                    for level in cpu::test_levels() {
                        let _level = cpu::force_level(level);
                        let mut codes = vec![0u8; d];
                        let Some((s, r, q)) = quantize_with_sum_sq(&v, &mut codes, 64, limit)
                        else {
                            panic!("d={d} seed={seed}: not quantized");
                        };
                        assert_eq!(codes, expected, "{level:?} d={d} seed={seed}");
                        assert_eq!(bits(s), bits(scale), "{level:?} d={d}");
                        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300);
                        assert!(close(q, sum_sq), "{level:?} d={d}");
                        let bound = (residual * RESIDUAL_MARGIN).sqrt() * RESIDUAL_MARGIN;
                        assert!(close(r, bound), "{level:?} d={d}");
                        let (top, finite) = largest_magnitude(&v);
                        assert!(finite);
                        let expected_top = v.iter().fold(0.0f32, |t, x| t.max(x.abs()));
                        assert_eq!(bits(top), bits(expected_top), "{level:?} d={d}");
                        let w = numbers(d, seed + 70);
                        let dot = f64::from(dot_f32(&v, &w));
                        let exact: f64 = v
                            .iter()
                            .zip(&w)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum();
                        let size: f64 = v
                            .iter()
                            .zip(&w)
                            .map(|(&a, &b)| f64::from(a * b).abs())
                            .sum();
                        assert!((dot - exact).abs() <= 1e-5 * size, "{level:?} d={d}");
                    }
                }
            }
        }
        for level in cpu::test_levels() {
            let _level = cpu::force_level(level);
            for bad in [[0.5, 2.0, f32::NAN], [0.5, 1.0, f32::NEG_INFINITY]] {
                let padded: Vec<f32> = bad.iter().copied().cycle().take(19).collect();
                assert!(!largest_magnitude(&padded).1, "{level:?}");
            }
        }
    }

    #[test]
    fn quantization_error_within_the_residual_bound() {
        for (d, limit) in [1, 3, 16, 17, 384, 1000]
            .into_iter()
            .flat_map(|d| [(d, 63.0), (d, 127.0)])
        {
            for seed in 0..20 {
                let q = numbers(d, seed);
                let x = numbers(d, seed + 100);
                let (cq, sq, rq) = codes_of(&q);
                let (cx, sx, rx) = codes_within(&x, limit);
                assert!(cq.iter().all(|c| c.abs() <= 127));
                assert!(cx.iter().all(|&c| c.abs() as f32 <= limit));
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
    fn screened_dots_match_the_screen_formula() {
        let multiplies = multiplies();
        if cfg!(target_arch = "x86_64") && cpu::detected() >= Level::Avx2 {
            assert!(!multiplies.is_empty());
        }
        for (multiply, level) in multiplies {
            let _level = cpu::force_level(level);
            assert_eq!(Multiply::active(), Some(multiply));
            screened_dots_match_for(multiply);
        }
    }

    /// [`screened_dots`] with `multiply` (at its level) against the screen
    /// formula evaluated pair by pair.
    fn screened_dots_match_for(multiply: Multiply) {
        let u = 1.0 / (1u64 << 24) as f64;
        for (m, b, d) in [
            (1, 1, 1),
            (16, 13, 7),
            (31, 14, 8),
            (33, 15, 33),
            (45, 29, 384),
            (40, 22, 50),
            (64, 300, 770),
            (70, 40, 1000),
            (33, 1300, 900),
            (20, 20, 0),
        ] {
            let seed = (m * 131 + b * 7 + d) as u64;
            let queries = numbers(m * d, seed);
            let mut values = numbers(b * d, seed + 1);
            if b > 3 && d > 0 {
                values[2 * d] = f32::NAN; // row 2: not quantized
            }
            let Some(prepared) = QuantQueries::new(&queries, m, d, multiply) else {
                panic!("m={m} d={d}");
            };
            let mut rows = QuantRows::new(d, multiply);
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
                let (cx, sx, _) = codes_within(row, multiply.row_limit());
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
            assert_eq!(got, expected, "{multiply:?} m={m} b={b} d={d}");
            assert!(
                passing > 0 && (passing < total || total < 4),
                "m={m} b={b} d={d}"
            );
        }
    }
}
