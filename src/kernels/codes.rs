//! Low-precision and quantized embeddings: Float16, Int8 and UInt8 vectors
//! read in place (widened to `f32` one row at a time, never a copy of the
//! column), exact integer kernels, binary codes and their Hamming distance,
//! and the quantizers that make them.
//!
//! Integer kernels accumulate in `i32` lanes over blocks short enough that no
//! lane can overflow, then in `i64`, so every sum is exact. The scores they
//! give are bit for bit those of the `f64` kernels of [`super::vector`] on
//! the widened rows (whose partial sums are exact integers too): the integer
//! path is only faster, never different.

use multiversion::multiversion;
use rayon::prelude::*;

use super::element::Element;
use super::neighbors::{Metric, TopK};
use super::rowwise::VectorRows;

/// An IEEE half-precision number, as its bits (Polars' `Float16` layout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

impl F16 {
    /// The exact `f32` value (branch-free, so row loops vectorise).
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        const SHIFTED_EXP: u32 = 0x7c00 << 13; // exponent mask after the shift
        let h = u32::from(self.0);
        let mut o = (h & 0x7fff) << 13; // exponent and mantissa
        let exp = o & SHIFTED_EXP;
        o += (127 - 15) << 23; // re-bias the exponent
        let special = exp == SHIFTED_EXP; // Inf or NaN: re-bias once more
        let tiny = exp == 0; // zero or subnormal: renormalise through a float
        let normal = f32::from_bits(o + if special { (128 - 16) << 23 } else { 0 });
        let magic = f32::from_bits(113 << 23);
        let renormalised = f32::from_bits(o + (1 << 23)) - magic;
        let magnitude = if tiny { renormalised } else { normal };
        f32::from_bits(magnitude.to_bits() | ((h & 0x8000) << 16))
    }
}

/// An element type that is widened to `f32` exactly (Float16, Int8, UInt8).
pub trait Narrow: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
}

impl Narrow for F16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        F16::to_f32(self)
    }
}

impl Narrow for i8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Narrow for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

/// Widens `row` onto `out` (cleared first).
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn widen_into<S: Narrow, T: Element>(row: &[S], out: &mut Vec<T>) {
    out.clear();
    out.extend(row.iter().map(|x| T::from_f64(f64::from(x.to_f32()))));
}

/// Rows of a narrow type seen as rows of `f32` or `f64`: each row is widened
/// into the caller's scratch buffer when a kernel reads it.
pub struct Widened<'a, S> {
    pub rows: Vec<Option<&'a [S]>>,
}

impl<S: Narrow, T: Element> VectorRows<T> for Widened<'_, S> {
    fn row_count(&self) -> usize {
        self.rows.len()
    }
    fn row_len(&self, i: usize) -> Option<usize> {
        self.rows.get(i).copied().flatten().map(<[S]>::len)
    }
    fn row<'s>(&'s self, i: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]> {
        let row = self.rows.get(i).copied().flatten()?;
        widen_into(row, scratch);
        Some(scratch.as_slice())
    }
}

// ---------------------------------------------------------------- Float16

/// Float16 rows are searched in `f32` lanes (DESIGN: "Float16 is
/// accumulated in f32 or wider"), so a scan does half the work of the `f64`
/// accumulation that Float32 rows get. The lanes are added in `f64` in a
/// fixed order: the same bits on every CPU path.
const HALF_LANES: usize = 16;

/// Widens a Float16 row onto `out` (cleared first) with the CPU's
/// conversion instructions where present (AVX-512F, F16C), else bit by bit:
/// the same exact values either way.
pub fn widen_f16(row: &[F16], out: &mut Vec<f32>) {
    out.clear();
    out.resize(row.len(), 0.0);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, and `out` holds `row.len()` floats.
            unsafe { widen_f16_avx512(row, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has F16C and AVX, and `out` holds `row.len()` floats.
            unsafe { widen_f16_f16c(row, out) };
            return;
        }
    }
    for (o, x) in out.iter_mut().zip(row) {
        *o = x.to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn widen_f16_avx512(row: &[F16], out: &mut [f32]) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm512_cvtph_ps, _mm512_storeu_ps};
    let whole = row.len().min(out.len()) / 16 * 16;
    for i in (0..whole).step_by(16) {
        // SAFETY: `i + 16 <= whole` elements of both slices; unaligned loads and stores.
        unsafe {
            let half = _mm256_loadu_si256(row.as_ptr().add(i).cast::<__m256i>());
            _mm512_storeu_ps(out.as_mut_ptr().add(i), _mm512_cvtph_ps(half));
        }
    }
    for (o, x) in out.iter_mut().zip(row).skip(whole) {
        *o = x.to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16_f16c(row: &[F16], out: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    let whole = row.len().min(out.len()) / 8 * 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: `i + 8 <= whole` elements of both slices; unaligned loads and stores.
        unsafe {
            let half = _mm_loadu_si128(row.as_ptr().add(i).cast::<__m128i>());
            _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_cvtph_ps(half));
        }
    }
    for (o, x) in out.iter_mut().zip(row).skip(whole) {
        *o = x.to_f32();
    }
}

/// `(Σ x·q, Σ x², Σ q²)` of a Float16 row and a Float32 query in 16 `f32`
/// lanes (element `i` goes to lane `i % 16`; each step a multiply, then an
/// add), the lanes added in `f64`: the same bits on every path.
fn half_lane_sums(row: &[F16], query: &[f32]) -> (f64, f64, f64) {
    let mut lanes = [[0.0f32; HALF_LANES]; 3];
    let n = row.len().min(query.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the kernel reads `n / 16 * 16` elements of each slice.
        done = unsafe { half_lane_sums_avx512(row, query, n, &mut lanes) };
    }
    for i in done..n {
        let (x, q) = (row[i].to_f32(), query[i]);
        let lane = i % HALF_LANES;
        lanes[0][lane] += x * q;
        lanes[1][lane] += x * x;
        lanes[2][lane] += q * q;
    }
    (
        lane_total(lanes[0]),
        lane_total(lanes[1]),
        lane_total(lanes[2]),
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn half_lane_sums_avx512(
    row: &[F16],
    query: &[f32],
    n: usize,
    lanes: &mut [[f32; HALF_LANES]; 3],
) -> usize {
    use std::arch::x86_64::*;
    let whole = n / HALF_LANES * HALF_LANES;
    let (mut xq, mut xx, mut qq) = (
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
    );
    for i in (0..whole).step_by(HALF_LANES) {
        // SAFETY: `i + 16 <= whole <= n` elements of both slices; unaligned loads.
        let (x, q) = unsafe {
            (
                _mm512_cvtph_ps(_mm256_loadu_si256(row.as_ptr().add(i).cast::<__m256i>())),
                _mm512_loadu_ps(query.as_ptr().add(i)),
            )
        };
        xq = _mm512_add_ps(xq, _mm512_mul_ps(x, q));
        xx = _mm512_add_ps(xx, _mm512_mul_ps(x, x));
        qq = _mm512_add_ps(qq, _mm512_mul_ps(q, q));
    }
    for (lane, v) in lanes.iter_mut().zip([xq, xx, qq]) {
        // SAFETY: a lane array holds exactly 16 floats.
        unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), v) };
    }
    whole
}

/// `Σ (x - q)²` of a Float16 row and a Float32 query, in the lanes of
/// [`half_lane_sums`].
fn half_lane_sq_diff(row: &[F16], query: &[f32]) -> f64 {
    let mut lanes = [0.0f32; HALF_LANES];
    let n = row.len().min(query.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the kernel reads `n / 16 * 16` elements of each slice.
        done = unsafe { half_lane_sq_diff_avx512(row, query, n, &mut lanes) };
    }
    for i in done..n {
        let v = row[i].to_f32() - query[i];
        lanes[i % HALF_LANES] += v * v;
    }
    lane_total(lanes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn half_lane_sq_diff_avx512(
    row: &[F16],
    query: &[f32],
    n: usize,
    lanes: &mut [f32; HALF_LANES],
) -> usize {
    use std::arch::x86_64::*;
    let whole = n / HALF_LANES * HALF_LANES;
    let mut acc = _mm512_setzero_ps();
    for i in (0..whole).step_by(HALF_LANES) {
        // SAFETY: `i + 16 <= whole <= n` elements of both slices; unaligned loads.
        let (x, q) = unsafe {
            (
                _mm512_cvtph_ps(_mm256_loadu_si256(row.as_ptr().add(i).cast::<__m256i>())),
                _mm512_loadu_ps(query.as_ptr().add(i)),
            )
        };
        let v = _mm512_sub_ps(x, q);
        acc = _mm512_add_ps(acc, _mm512_mul_ps(v, v));
    }
    // SAFETY: the lane array holds exactly 16 floats.
    unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc) };
    whole
}

#[inline(always)]
fn lane_total(lanes: [f32; HALF_LANES]) -> f64 {
    lanes.iter().fold(0.0f64, |total, &v| total + f64::from(v))
}

/// The bound, per unit of `|q|·|x|`, on how far a Float16 score computed in
/// `f32` lanes is from the exact one (dot: `γ_d`; cosine, whose norms carry
/// the same relative error: under `3 γ_d`), with room to spare.
pub fn half_rank_error(d: usize) -> f64 {
    let unit = f64::from(f32::EPSILON) / 2.0;
    let gamma = (d as f64 * unit) / (1.0 - d as f64 * unit).max(0.5);
    4.0 * gamma
}

/// Ranks Float16 rows against a Float32 query (see [`half_sums`]). Sums that
/// overflow or underflow `f32` (a query of huge or tiny numbers) fall back
/// to the exact `f64` kernels on the widened row.
pub fn rank_half(metric: Metric, row: &[F16], query: &[f32], scratch: &mut Vec<f32>) -> (f64, f64) {
    let mut exact = || {
        widen_f16(row, scratch);
        super::neighbors::rank_row(metric, scratch.as_slice(), query)
    };
    let fine = |s: f64| s.is_finite() && s >= f64::from(f32::MIN_POSITIVE) * 1e6;
    match metric {
        Metric::Dot => {
            let (d, xx, qq) = half_lane_sums(row, query);
            if d.is_finite() && xx.is_finite() && qq.is_finite() {
                (d, d)
            } else {
                exact()
            }
        }
        Metric::Cosine => {
            let (d, xx, qq) = half_lane_sums(row, query);
            if xx == 0.0 || qq == 0.0 {
                (0.0, 0.0) // a zero vector, as scikit-learn
            } else if fine(xx) && fine(qq) && d.is_finite() {
                let s = d / (xx.sqrt() * qq.sqrt());
                (s, s)
            } else {
                exact()
            }
        }
        Metric::Euclidean => {
            let ss = half_lane_sq_diff(row, query);
            if ss.is_finite() && (ss == 0.0 || fine(ss)) {
                let d = ss.sqrt();
                (-d, d)
            } else {
                exact()
            }
        }
    }
}

/// Positions of the `k` Float16 rows best for `query` (see [`rank_half`]),
/// best first, ties to the lower position; `Err((row, length))` names the
/// first row of another length.
pub fn top_k_half(
    rows: &[Option<&[F16]>],
    query: &[f32],
    k: usize,
    metric: Metric,
) -> Result<Vec<u32>, (usize, usize)> {
    let mut top = TopK::new(k);
    let mut scratch = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(row) = row else { continue };
        if row.len() != query.len() {
            return Err((i, row.len()));
        }
        let (key, score) = rank_half(metric, row, query, &mut scratch);
        top.push(key, i as u32, score);
    }
    Ok(top.into_sorted().into_iter().map(|(i, _)| i).collect())
}

// ---------------------------------------------------------------- integers

/// An integer code type with exact integer kernels (Int8, UInt8).
pub trait IntCode: Narrow + PartialEq {
    fn to_i32(self) -> i32;
    /// `value` as this type when it is an integer in range.
    fn exact(value: f64) -> Option<Self>;
}

impl IntCode for i8 {
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    fn exact(value: f64) -> Option<i8> {
        let v = value as i8;
        (f64::from(v) == value).then_some(v)
    }
}

impl IntCode for u8 {
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    fn exact(value: f64) -> Option<u8> {
        let v = value as u8;
        (f64::from(v) == value).then_some(v)
    }
}

/// Elements per block accumulated in `i32` lanes: every product or square of
/// two 8-bit codes is at most 255² = 65,025 in magnitude, and 2^15 of them
/// stay below 2^31.
const INT_BLOCK: usize = 1 << 15;
const INT_LANES: usize = 32;

/// `(Σ a·b, Σ a²)` of one block, in `i32` lanes.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512vnni",
    "x86_64+avx512f+avx512bw+avx512vl",
    "x86_64+avx2+fma"
))]
fn dot_sq_block<C: IntCode>(a: &[C], b: &[C]) -> (i64, i64) {
    let (mut ab, mut aa) = ([0i32; INT_LANES], [0i32; INT_LANES]);
    let a_chunks = a.chunks_exact(INT_LANES);
    let b_chunks = b.chunks_exact(INT_LANES);
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for lane in 0..INT_LANES {
            let (x, y) = (ca[lane].to_i32(), cb[lane].to_i32());
            ab[lane] += x * y;
            aa[lane] += x * x;
        }
    }
    for (lane, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        let (x, y) = (x.to_i32(), y.to_i32());
        ab[lane] += x * y;
        aa[lane] += x * x;
    }
    let total = |v: [i32; INT_LANES]| v.iter().map(|&x| i64::from(x)).sum::<i64>();
    (total(ab), total(aa))
}

/// `Σ a·b` of one block, in `i32` lanes (the dot-only scan).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512vnni",
    "x86_64+avx512f+avx512bw+avx512vl",
    "x86_64+avx2+fma"
))]
fn dot_block<C: IntCode>(a: &[C], b: &[C]) -> i64 {
    let mut acc = [0i32; INT_LANES];
    let a_chunks = a.chunks_exact(INT_LANES);
    let b_chunks = b.chunks_exact(INT_LANES);
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for lane in 0..INT_LANES {
            acc[lane] += ca[lane].to_i32() * cb[lane].to_i32();
        }
    }
    for (lane, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[lane] += x.to_i32() * y.to_i32();
    }
    acc.iter().map(|&x| i64::from(x)).sum()
}

/// Exact `(Σ a·b, Σ a²)` (the slices have one length).
pub fn int_dot_sq<C: IntCode>(a: &[C], b: &[C]) -> (i64, i64) {
    let mut total = (0i64, 0i64);
    for (x, y) in a.chunks(INT_BLOCK).zip(b.chunks(INT_BLOCK)) {
        let (ab, aa) = dot_sq_block(x, y);
        total = (total.0 + ab, total.1 + aa);
    }
    total
}

/// Exact `Σ a·b` (the slices have one length).
pub fn int_dot<C: IntCode>(a: &[C], b: &[C]) -> i64 {
    a.chunks(INT_BLOCK)
        .zip(b.chunks(INT_BLOCK))
        .map(|(x, y)| dot_block(x, y))
        .sum()
}

/// Ranks integer rows against an integer query with exact integer sums:
/// the same keys and scores, bit for bit, as [`super::neighbors::Ranker`]
/// on the widened vectors (whose `f64` partial sums are exact integers too).
#[derive(Debug, Clone, Copy)]
pub struct CodeRanker<'q, C> {
    metric: Metric,
    query: &'q [C],
    query_sq: i64,
}

impl<'q, C: IntCode> CodeRanker<'q, C> {
    pub fn new(metric: Metric, query: &'q [C]) -> Self {
        CodeRanker {
            metric,
            query,
            query_sq: int_dot(query, query),
        }
    }

    #[inline]
    pub fn rank(&self, row: &[C]) -> (f64, f64) {
        match self.metric {
            Metric::Dot => {
                let s = int_dot(row, self.query) as f64;
                (s, s)
            }
            Metric::Cosine => {
                let (ab, aa) = int_dot_sq(row, self.query);
                let bb = self.query_sq;
                // A zero vector has cosine 0, as scikit-learn (and `vector::cosine`).
                let s = if aa == 0 || bb == 0 {
                    0.0
                } else {
                    ab as f64 / ((aa as f64).sqrt() * (bb as f64).sqrt())
                };
                (s, s)
            }
            Metric::Euclidean => {
                let (ab, aa) = int_dot_sq(row, self.query);
                let d = ((aa - 2 * ab + self.query_sq) as f64).sqrt();
                (-d, d)
            }
        }
    }
}

/// Positions of the `k` rows best for `query` (best first, ties to the lower
/// position, null rows never chosen); `Err(row)` names the first row whose
/// length is not the query's.
pub fn top_k_codes<C: IntCode>(
    rows: &[Option<&[C]>],
    query: &[C],
    k: usize,
    metric: Metric,
) -> Result<Vec<u32>, (usize, usize)> {
    let mut top = TopK::new(k);
    let ranker = CodeRanker::new(metric, query);
    for (i, row) in rows.iter().enumerate() {
        let Some(row) = row else { continue };
        if row.len() != query.len() {
            return Err((i, row.len()));
        }
        let (key, score) = ranker.rank(row);
        top.push(key, i as u32, score);
    }
    Ok(top.into_sorted().into_iter().map(|(i, _)| i).collect())
}

/// The `k` best rows for each of `m` queries by `rank(q, row, scratch)`,
/// reading each row once (rows outer, queries inner): for few queries this
/// beats a matrix product. Row ranges are searched on several threads and
/// merged exactly (see `TopK::merge`), so the result does not depend on the
/// thread count.
pub fn scan_nearest<R: Sync>(
    m: usize,
    k: usize,
    rows: &[(u32, &[R])],
    rank: impl Fn(usize, &[R], &mut Vec<f32>) -> (f64, f64) + Sync,
) -> Vec<Vec<(u32, f64)>> {
    let tops = rows
        .par_chunks(1 << 14)
        .map(|part| {
            let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
            let mut scratch = Vec::new();
            for &(position, row) in part {
                for (q, top) in tops.iter_mut().enumerate() {
                    let (key, score) = rank(q, row, &mut scratch);
                    top.push(key, position, score);
                }
            }
            tops
        })
        .reduce_with(merge_tops)
        .unwrap_or_else(|| (0..m).map(|_| TopK::new(k)).collect());
    tops.into_iter().map(TopK::into_sorted).collect()
}

/// [`scan_nearest`] for integer queries on integer rows, scored exactly by
/// the integer kernels (`queries`: `m × d`).
pub fn nearest_codes<C: IntCode>(
    queries: &[C],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[C])],
) -> Vec<Vec<(u32, f64)>> {
    let rankers: Vec<CodeRanker<'_, C>> = (0..m)
        .map(|q| CodeRanker::new(metric, queries.get(q * d..(q + 1) * d).unwrap_or(&[])))
        .collect();
    scan_nearest(m, k, rows, |q, row, _| rankers[q].rank(row))
}

/// [`scan_nearest`] for Float16 rows, ranked by [`rank_half`] (`queries`:
/// `m × d`, as Float32).
pub fn nearest_half(
    queries: &[f32],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[F16])],
) -> Vec<Vec<(u32, f64)>> {
    let query = |q: usize| queries.get(q * d..(q + 1) * d).unwrap_or(&[]);
    scan_nearest(m, k, rows, |q, row, scratch| {
        rank_half(metric, row, query(q), scratch)
    })
}

/// Merges two sets of per-query partial results.
fn merge_tops(mut left: Vec<TopK>, right: Vec<TopK>) -> Vec<TopK> {
    for (l, r) in left.iter_mut().zip(right) {
        l.merge(r);
    }
    left
}

// ---------------------------------------------------------------- binary codes

/// The number of bits that differ between two packed codes of one length.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512vpopcntdq+avx512bitalg",
    "x86_64+avx2+popcnt"
))]
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    const WORD: usize = 8;
    const ACCS: usize = 4;
    let mut acc = [0u32; ACCS];
    let a_words = a.chunks_exact(WORD * ACCS);
    let b_words = b.chunks_exact(WORD * ACCS);
    let (a_tail, b_tail) = (a_words.remainder(), b_words.remainder());
    for (wa, wb) in a_words.zip(b_words) {
        for (j, acc) in acc.iter_mut().enumerate() {
            let x = u64::from_le_bytes(word(&wa[j * WORD..]));
            let y = u64::from_le_bytes(word(&wb[j * WORD..]));
            *acc += (x ^ y).count_ones();
        }
    }
    let tail: u32 = a_tail
        .iter()
        .zip(b_tail)
        .map(|(x, y)| (x ^ y).count_ones())
        .sum();
    acc.iter().sum::<u32>() + tail
}

#[inline(always)]
fn word(bytes: &[u8]) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    w
}

/// The ranking key and score of a binary code for a query code: fewer
/// differing bits rank higher; the score is the distance.
#[inline]
pub fn rank_hamming(row: &[u8], query: &[u8]) -> (f64, f64) {
    let d = f64::from(hamming(row, query));
    (-d, d)
}

/// Positions of the `k` codes nearest `query` in Hamming distance (fewest
/// differing bits first, ties to the lower position, null rows never
/// chosen); `Err((row, length))` names the first code of another length.
pub fn top_k_hamming(
    rows: &[Option<&[u8]>],
    query: &[u8],
    k: usize,
) -> Result<Vec<u32>, (usize, usize)> {
    let mut top = TopK::new(k);
    for (i, row) in rows.iter().enumerate() {
        let Some(row) = row else { continue };
        if row.len() != query.len() {
            return Err((i, row.len()));
        }
        let (key, score) = rank_hamming(row, query);
        top.push(key, i as u32, score);
    }
    Ok(top.into_sorted().into_iter().map(|(i, _)| i).collect())
}

/// The distances from one code to each of `m` query codes (`queries`:
/// `m × width` bytes) into `out`: one dispatch per row, not per pair.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512vpopcntdq+avx512bitalg",
    "x86_64+avx2+popcnt"
))]
fn hamming_many(row: &[u8], queries: &[u8], width: usize, out: &mut [u32]) {
    for (d, query) in out.iter_mut().zip(queries.chunks_exact(width.max(1))) {
        let words = row.chunks_exact(8).zip(query.chunks_exact(8));
        let mut total: u32 = words
            .map(|(a, b)| (u64::from_le_bytes(word(a)) ^ u64::from_le_bytes(word(b))).count_ones())
            .sum();
        let tail = row.len() / 8 * 8;
        for (a, b) in row[tail..].iter().zip(&query[tail.min(query.len())..]) {
            total += (a ^ b).count_ones();
        }
        *d = total;
    }
}

/// The `k` codes nearest each of `m` query codes (`queries`: `m × width`
/// bytes, row-major), as `(position, distance)` best first, ties to the
/// lower position. Distances are integers, so a row enters a query's top-k
/// only if it is strictly closer than the worst kept (rows come in order
/// within a range); ranges run on several threads and merge exactly.
pub fn nearest_hamming(
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Vec<Vec<(u32, f64)>> {
    let tops = rows
        .par_chunks(1 << 14)
        .map(|part| {
            let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
            let mut worst = vec![u32::MAX; m]; // accept anything until k are kept
            let mut distances = vec![0u32; m];
            for &(position, row) in part {
                hamming_many(row, queries, width, &mut distances);
                for q in 0..m {
                    let d = distances[q];
                    if d < worst[q] {
                        let top = &mut tops[q];
                        top.push(-f64::from(d), position, f64::from(d));
                        let kept = top.worst_key();
                        if kept.is_finite() {
                            worst[q] = (-kept) as u32;
                        }
                    }
                }
            }
            tops
        })
        .reduce_with(merge_tops)
        .unwrap_or_else(|| (0..m).map(|_| TopK::new(k)).collect());
    tops.into_iter().map(TopK::into_sorted).collect()
}

/// Packs the signs of `values` (bit = value > 0) big-endian per byte, like
/// `numpy.packbits(values > 0)`; pushes `ceil(len / 8)` bytes onto `out`.
pub fn pack_signs<T: Element>(values: &[T], out: &mut Vec<u8>) {
    for chunk in values.chunks(8) {
        let mut byte = 0u8;
        for (bit, &v) in chunk.iter().enumerate() {
            if v.to_f64() > 0.0 {
                byte |= 0x80 >> bit;
            }
        }
        out.push(byte);
    }
}

/// The float type an `int8` quantization computes in: the column's own, so
/// the codes are those of numpy on an array of that dtype.
pub trait QuantizeFloat:
    Copy + std::ops::Sub<Output = Self> + std::ops::Div<Output = Self>
{
    fn from_f64(value: f64) -> Self;
    /// `trunc((x - start) / step - 128)` clipped to the Int8 range, in this
    /// type's arithmetic; `None` for NaN. A zero step (an empty range)
    /// maps every value to -128.
    fn int8_code(self, start: Self, step: Self) -> Option<i8>;
}

macro_rules! quantize_float {
    ($t:ty) => {
        impl QuantizeFloat for $t {
            #[inline(always)]
            fn from_f64(value: f64) -> $t {
                value as $t
            }
            #[inline(always)]
            fn int8_code(self, start: $t, step: $t) -> Option<i8> {
                if self.is_nan() {
                    return None;
                }
                if step == 0.0 {
                    return Some(i8::MIN);
                }
                let v = ((self - start) / step - 128.0).trunc();
                Some(v.clamp(-128.0, 127.0) as i8)
            }
        }
    };
}
quantize_float!(f32);
quantize_float!(f64);

/// The per-dimension `(start, step)` of an `int8` quantization of the range
/// `(min, max)`: `step = (max - min) / 255`, in the column's float type.
pub fn int8_steps<T: QuantizeFloat>(mins: &[f64], maxs: &[f64]) -> Vec<(T, T)> {
    mins.iter()
        .zip(maxs)
        .map(|(&lo, &hi)| {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            (lo, (hi - lo) / T::from_f64(255.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::neighbors::rank_row;

    #[test]
    fn f16_widening_matches_half_for_every_value() {
        for bits in 0..=u16::MAX {
            let expected = half::f16::from_bits(bits).to_f32();
            let got = F16(bits).to_f32();
            if expected.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
                assert_eq!(got.to_bits() >> 31, expected.to_bits() >> 31);
            } else {
                assert_eq!(got.to_bits(), expected.to_bits(), "{bits:#06x}");
            }
        }
    }

    fn codes_i8(n: usize, seed: usize) -> Vec<i8> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 256) as i32 - 128) as i8)
            .collect()
    }

    #[test]
    fn integer_sums_are_exact_across_blocks() {
        for n in [0, 1, 31, 32, 33, 1000, INT_BLOCK + 17, 3 * INT_BLOCK] {
            let (a, b) = (codes_i8(n, 1), codes_i8(n, 2));
            let reference = |f: fn(i64, i64) -> i64| -> i64 {
                a.iter()
                    .zip(&b)
                    .map(|(&x, &y)| f(i64::from(x), i64::from(y)))
                    .sum()
            };
            let expected = [
                reference(|x, y| x * y),
                reference(|x, _| x * x),
                reference(|_, y| y * y),
                reference(|x, y| (x - y) * (x - y)),
            ];
            assert_eq!(int_dot_sq(&a, &b), (expected[0], expected[1]), "n = {n}");
            assert_eq!(int_dot(&a, &b), expected[0]);
            assert_eq!(int_dot(&b, &b), expected[2]);
            // The extreme case: every product at its largest.
            let (lo, hi) = (vec![-128i8; n], vec![127i8; n]);
            assert_eq!(int_dot(&lo, &lo), 16_384 * n as i64);
            assert_eq!(
                int_dot_sq(&hi, &lo),
                (-16_256 * n as i64, 16_129 * n as i64)
            );
            let top = vec![255u8; n];
            assert_eq!(
                int_dot_sq(&top, &top),
                (65_025 * n as i64, 65_025 * n as i64)
            );
        }
    }

    #[test]
    fn code_ranking_equals_the_float_kernels_bit_for_bit() {
        let query = codes_i8(384, 9);
        let wide_query: Vec<f32> = query.iter().map(|&v| f32::from(v)).collect();
        for seed in 0..50 {
            let mut row = codes_i8(384, seed);
            if seed == 3 {
                row.fill(0); // a zero vector
            }
            let wide: Vec<f32> = row.iter().map(|&v| f32::from(v)).collect();
            for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
                let (k1, s1) = CodeRanker::new(metric, &query).rank(&row);
                let (k2, s2) = rank_row(metric, &wide, &wide_query);
                assert_eq!(
                    (k1.to_bits(), s1.to_bits()),
                    (k2.to_bits(), s2.to_bits()),
                    "{metric:?}"
                );
            }
        }
    }

    #[test]
    fn half_lane_sums_equal_the_portable_lanes() {
        for n in [0, 5, 16, 17, 384, 1000] {
            let row: Vec<F16> = (0..n)
                .map(|i| F16(half::f16::from_f32(((i * 37 % 101) as f32 - 50.0) * 0.3).to_bits()))
                .collect();
            let query: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let mut lanes = [[0.0f32; HALF_LANES]; 3];
            let mut sq = [0.0f32; HALF_LANES];
            for i in 0..n {
                let (x, q) = (row[i].to_f32(), query[i]);
                lanes[0][i % 16] += x * q;
                lanes[1][i % 16] += x * x;
                lanes[2][i % 16] += q * q;
                sq[i % 16] += (x - q) * (x - q);
            }
            let expected = (
                lane_total(lanes[0]),
                lane_total(lanes[1]),
                lane_total(lanes[2]),
            );
            assert_eq!(half_lane_sums(&row, &query), expected, "n = {n}");
            assert_eq!(half_lane_sq_diff(&row, &query), lane_total(sq), "n = {n}");
            let exact: f64 = row
                .iter()
                .zip(&query)
                .map(|(x, &q)| f64::from(x.to_f32()) * f64::from(q))
                .sum();
            assert!((expected.0 - exact).abs() <= half_rank_error(n) * 100.0 * n as f64);
        }
    }

    #[test]
    fn hamming_counts_differing_bits() {
        for n in [0, 1, 7, 8, 31, 32, 33, 48, 100] {
            let a: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let b: Vec<u8> = (0..n).map(|i| (i * 91 % 241) as u8).collect();
            let expected: u32 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (0..8).filter(|bit| (x ^ y) >> bit & 1 == 1).count() as u32)
                .sum();
            assert_eq!(hamming(&a, &b), expected, "n = {n}");
        }
    }

    #[test]
    fn signs_pack_like_numpy() {
        let mut out = Vec::new();
        pack_signs(
            &[1.0f64, -1.0, 0.0, 2.0, 0.5, -0.0, 3.0, 1.0, 9.0],
            &mut out,
        );
        assert_eq!(out, vec![0b1001_1011, 0b1000_0000]);
    }

    #[test]
    fn int8_codes_truncate_and_clip() {
        let steps = int8_steps::<f64>(&[-1.0], &[1.0]);
        let (start, step) = steps[0];
        assert_eq!((-1.0f64).int8_code(start, step), Some(-128));
        assert_eq!(1.0f64.int8_code(start, step), Some(127));
        assert_eq!(5.0f64.int8_code(start, step), Some(127));
        assert_eq!((-5.0f64).int8_code(start, step), Some(-128));
        assert_eq!(0.0f64.int8_code(start, step), Some(-0)); // 127.5 - 128 truncates to 0
        assert_eq!(f64::NAN.int8_code(start, step), None);
        assert_eq!(3.0f64.int8_code(3.0, 0.0), Some(-128));
    }
}
