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

#[cfg(target_arch = "x86_64")]
use crate::kernels::cpu::{self, Level};
use crate::kernels::element::{Element, Narrow, F16};

use super::topk::{rank_row, Metric};

// ---------------------------------------------------------------- Float16

/// Float16 rows are searched in `f32` lanes (DESIGN: "Float16 is
/// accumulated in f32 or wider"), so a scan does half the work of the `f64`
/// accumulation that Float32 rows get. The lanes are added in `f64` in a
/// fixed order: the same bits on every CPU path.
const HALF_LANES: usize = 64;

/// Widens a Float16 row onto `out` (cleared first) with the CPU's
/// conversion instructions where present (AVX-512F, F16C), else bit by bit:
/// the same exact values either way.
pub fn widen_f16(row: &[F16], out: &mut Vec<f32>) {
    out.clear();
    out.resize(row.len(), 0.0);
    #[cfg(target_arch = "x86_64")]
    {
        if cpu::at_least(Level::Avx512) {
            // SAFETY: the CPU has AVX-512F, and `out` holds `row.len()` floats.
            unsafe { widen_f16_avx512(row, out) };
            return;
        }
        if cpu::at_least(Level::Avx2) {
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

/// `Σ a·b` in 64 `f32` lanes (element `i` goes to lane `i % 64`; each step
/// a multiply, then an add), the lanes added in `f64` in order: the same
/// bits on every path. `b = a` gives `Σ a²`.
pub fn f32_lanes_dot(a: &[f32], b: &[f32]) -> f64 {
    lanes_sum(a, b, false)
}

/// `Σ (a - b)²` in the lanes of [`f32_lanes_dot`].
pub fn f32_lanes_sq_diff(a: &[f32], b: &[f32]) -> f64 {
    lanes_sum(a, b, true)
}

/// [`f32_lanes_dot`] or (with `difference`) [`f32_lanes_sq_diff`].
#[inline]
fn lanes_sum(a: &[f32], b: &[f32], difference: bool) -> f64 {
    let n = a.len().min(b.len());
    #[cfg(target_arch = "x86_64")]
    if cpu::at_least(Level::Avx512) {
        // SAFETY: the CPU has AVX-512F; the kernel reads the first `n` elements of each slice.
        return unsafe { lanes_sum_avx512(a, b, n, difference) };
    }
    lane_total(lanes_portable(&a[..n], &b[..n], difference))
}

crate::by_level! {
    [avx2]
    /// The lanes of [`lanes_sum`] (element `i` into lane `i % 64`; each
    /// step a multiply, then an add: never fused, so every level gives the
    /// same bits), written in whole groups of lanes so that the compiler
    /// vectorises it (eight AVX2 registers, sixteen NEON ones).
    fn lanes_portable<>(a: &[f32], b: &[f32], difference: bool) -> [f32; HALF_LANES] {
        let mut lanes = [0.0f32; HALF_LANES];
        let (a_groups, b_groups) = (a.chunks_exact(HALF_LANES), b.chunks_exact(HALF_LANES));
        let (a_tail, b_tail) = (a_groups.remainder(), b_groups.remainder());
        for (x, y) in a_groups.zip(b_groups) {
            for l in 0..HALF_LANES {
                let term = if difference {
                    let v = x[l] - y[l];
                    v * v
                } else {
                    x[l] * y[l]
                };
                lanes[l] += term;
            }
        }
        for (l, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
            let term = if difference {
                let v = x - y;
                v * v
            } else {
                x * y
            };
            lanes[l] += term;
        }
        lanes
    }
}

/// [`lanes_sum`] on AVX-512: the 64 lanes in four independent registers,
/// then the tail element by element and the lanes added by the same pairwise
/// tree as [`lane_total`], in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lanes_sum_avx512(a: &[f32], b: &[f32], n: usize, difference: bool) -> f64 {
    use std::arch::x86_64::*;
    let whole = n / HALF_LANES * HALF_LANES;
    let mut acc = [_mm512_setzero_ps(); HALF_LANES / 16];
    for i in (0..whole).step_by(HALF_LANES) {
        for (j, acc) in acc.iter_mut().enumerate() {
            let at = i + 16 * j;
            // SAFETY: `at + 16 <= whole <= n` elements of both slices; unaligned loads.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_ps(a.as_ptr().add(at)),
                    _mm512_loadu_ps(b.as_ptr().add(at)),
                )
            };
            let term = if difference {
                let v = _mm512_sub_ps(x, y);
                _mm512_mul_ps(v, v)
            } else {
                _mm512_mul_ps(x, y)
            };
            *acc = _mm512_add_ps(*acc, term);
        }
    }
    if whole < n {
        // A tail: finish lane by lane, as the portable loop does.
        let mut lanes = [0.0f32; HALF_LANES];
        for (j, acc) in acc.iter().enumerate() {
            // SAFETY: lanes `16 j .. 16 j + 16` are inside the 64-lane array.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr().add(16 * j), *acc) };
        }
        for i in whole..n {
            let term = if difference {
                let v = a[i] - b[i];
                v * v
            } else {
                a[i] * b[i]
            };
            lanes[i % HALF_LANES] += term;
        }
        return lane_total(lanes);
    }
    // The tree of `lane_total` in f64 registers of 8 lanes: `wide[p]` holds lanes 8p..8p+8.
    let low = |x: __m512| _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    let high = |x: __m512| {
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(
            _mm512_castps_pd(x),
            1,
        )))
    };
    let mut wide = [
        low(acc[0]),
        high(acc[0]),
        low(acc[1]),
        high(acc[1]),
        low(acc[2]),
        high(acc[2]),
        low(acc[3]),
        high(acc[3]),
    ];
    for width in [4, 2, 1] {
        for p in 0..width {
            wide[p] = _mm512_add_pd(wide[p], wide[p + width]); // lanes i += i + 8 * width
        }
    }
    let four = _mm256_add_pd(
        _mm512_castpd512_pd256(wide[0]),
        _mm512_extractf64x4_pd(wide[0], 1),
    );
    let two = _mm_add_pd(_mm256_castpd256_pd128(four), _mm256_extractf128_pd(four, 1));
    _mm_cvtsd_f64(two) + _mm_cvtsd_f64(_mm_unpackhi_pd(two, two))
}

#[inline(always)]
fn lane_total(lanes: [f32; HALF_LANES]) -> f64 {
    // A fixed pairwise tree (six dependent adds, not sixty-four).
    let mut acc: [f64; HALF_LANES] = lanes.map(f64::from);
    let mut width = HALF_LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

/// The bound, per unit of `|q|·|x|`, on how far a Float16 score computed in
/// `f32` lanes is from the exact one (dot: `γ_d`; cosine, whose norms carry
/// the same relative error: under `3 γ_d`), with room to spare.
pub fn half_rank_error(d: usize) -> f64 {
    let unit = f64::from(f32::EPSILON) / 2.0;
    let gamma = (d as f64 * unit) / (1.0 - d as f64 * unit).max(0.5);
    4.0 * gamma
}

/// Ranks Float16 rows (widened to `f32`) against a Float32 query in `f32`
/// lanes, the query's own sum computed once. Sums that overflow or
/// underflow `f32` (a query of huge or tiny numbers) fall back to the exact
/// `f64` kernels.
#[derive(Debug, Clone, Copy)]
pub struct HalfRanker<'q> {
    metric: Metric,
    query: &'q [f32],
    query_sq: f64,
}

impl<'q> HalfRanker<'q> {
    pub fn new(metric: Metric, query: &'q [f32]) -> Self {
        HalfRanker {
            metric,
            query,
            query_sq: f32_lanes_dot(query, query),
        }
    }

    /// Whether [`HalfRanker::rank`] needs the row's own sum of squares.
    pub fn needs_row_sq(&self) -> bool {
        self.metric == Metric::Cosine
    }

    /// The key and score of a widened row; `row_sq` is its
    /// `f32_lanes_dot(row, row)` when [`HalfRanker::needs_row_sq`].
    #[inline]
    pub fn rank(&self, row: &[f32], row_sq: f64) -> (f64, f64) {
        let fine = |s: f64| s.is_finite() && s >= f64::from(f32::MIN_POSITIVE) * 1e6;
        let exact = || rank_row(self.metric, row, self.query);
        match self.metric {
            Metric::Dot => {
                let d = f32_lanes_dot(row, self.query);
                if d.is_finite() {
                    (d, d)
                } else {
                    exact()
                }
            }
            Metric::Cosine => {
                let d = f32_lanes_dot(row, self.query);
                if row_sq == 0.0 || self.query_sq == 0.0 {
                    (0.0, 0.0) // a zero vector, as scikit-learn
                } else if fine(row_sq) && fine(self.query_sq) && d.is_finite() {
                    let s = d / (row_sq.sqrt() * self.query_sq.sqrt());
                    (s, s)
                } else {
                    exact()
                }
            }
            Metric::Euclidean => {
                let ss = f32_lanes_sq_diff(row, self.query);
                if ss.is_finite() && (ss == 0.0 || fine(ss)) {
                    let d = ss.sqrt();
                    (-d, d)
                } else {
                    exact()
                }
            }
        }
    }

    /// Widens a Float16 row into `scratch` and ranks it.
    #[inline]
    pub fn rank_half(&self, row: &[F16], scratch: &mut Vec<f32>) -> (f64, f64) {
        widen_f16(row, scratch);
        let wide = scratch.as_slice();
        let row_sq = if self.needs_row_sq() {
            f32_lanes_dot(wide, wide)
        } else {
            0.0
        };
        self.rank(wide, row_sq)
    }
}

/// The key and score of one Float16 row for a query (see [`HalfRanker`]).
pub fn rank_half(metric: Metric, row: &[F16], query: &[f32], scratch: &mut Vec<f32>) -> (f64, f64) {
    HalfRanker::new(metric, query).rank_half(row, scratch)
}

// ---------------------------------------------------------------- integers

/// An integer code type with exact integer kernels (Int8, UInt8).
pub trait IntCode: Narrow + PartialEq {
    /// Whether the type is `i8` (how the blocked kernel of
    /// [`super::code_blocks`] packs it).
    const SIGNED_BYTE: bool = false;
    fn to_i32(self) -> i32;
    fn to_i16(self) -> i16;
    /// `value` as this type when it is an integer in range.
    fn exact(value: f64) -> Option<Self>;
    /// Exact `(Σ a·b, Σ a²)` of one block by the CPU's vector integer
    /// instructions (AVX-512BW, else AVX2), when the active level has them.
    fn fast_dot_sq(_a: &[Self], _b: &[Self]) -> Option<(i64, i64)> {
        None
    }
    /// Exact `Σ a·b` of one block, likewise.
    fn fast_dot(_a: &[Self], _b: &[Self]) -> Option<i64> {
        None
    }
}

macro_rules! int_code {
    ($t:ty, $signed:expr, $dot_sq:ident, $dot:ident) => {
        impl IntCode for $t {
            const SIGNED_BYTE: bool = $signed;
            #[inline(always)]
            fn to_i32(self) -> i32 {
                i32::from(self)
            }
            #[inline(always)]
            fn to_i16(self) -> i16 {
                i16::from(self)
            }
            fn exact(value: f64) -> Option<$t> {
                let v = value as $t;
                (f64::from(v) == value).then_some(v)
            }
            #[inline]
            #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
            fn fast_dot_sq(a: &[$t], b: &[$t]) -> Option<(i64, i64)> {
                #[cfg(target_arch = "x86_64")]
                {
                    let level = $crate::kernels::cpu::level();
                    if level >= $crate::kernels::cpu::Level::Avx512 {
                        // SAFETY: the CPU has AVX-512F and AVX-512BW.
                        return Some(unsafe { wide::$dot_sq(a, b) });
                    }
                    if level >= $crate::kernels::cpu::Level::Avx2 {
                        // SAFETY: the CPU has AVX2.
                        return Some(unsafe { wide2::$dot_sq(a, b) });
                    }
                }
                None
            }
            #[inline]
            #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
            fn fast_dot(a: &[$t], b: &[$t]) -> Option<i64> {
                #[cfg(target_arch = "x86_64")]
                {
                    let level = $crate::kernels::cpu::level();
                    if level >= $crate::kernels::cpu::Level::Avx512 {
                        // SAFETY: the CPU has AVX-512F and AVX-512BW.
                        return Some(unsafe { wide::$dot(a, b) });
                    }
                    if level >= $crate::kernels::cpu::Level::Avx2 {
                        // SAFETY: the CPU has AVX2.
                        return Some(unsafe { wide2::$dot(a, b) });
                    }
                }
                None
            }
        }
    };
}
int_code!(i8, true, dot_sq_i8, dot_i8);
int_code!(u8, false, dot_sq_u8, dot_u8);

/// The 512-bit integer kernels: 32 codes widened to `i16` per step,
/// multiplied and added in pairs into 16 `i32` lanes (`vpmaddwd`). A block
/// holds at most `INT_BLOCK` codes, so no lane can overflow; the lanes are
/// summed in `i64`. Integer sums are exact in any order, so these give the
/// portable kernels' numbers exactly.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    macro_rules! kernels {
        ($t:ty, $widen:ident, $dot_sq:ident, $dot:ident) => {
            #[target_feature(enable = "avx512f,avx512bw")]
            pub(super) unsafe fn $dot_sq(a: &[$t], b: &[$t]) -> (i64, i64) {
                let n = a.len().min(b.len());
                let whole = n / 32 * 32;
                let (mut ab, mut aa) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for i in (0..whole).step_by(32) {
                    // SAFETY: `i + 32 <= whole <= n` codes of both slices; unaligned loads.
                    let (x, y) = unsafe {
                        (
                            $widen(_mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>())),
                            $widen(_mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>())),
                        )
                    };
                    ab = _mm512_add_epi32(ab, _mm512_madd_epi16(x, y));
                    aa = _mm512_add_epi32(aa, _mm512_madd_epi16(x, x));
                }
                let mut sums = (lanes_total(ab), lanes_total(aa));
                for (x, y) in a[whole..n].iter().zip(&b[whole..n]) {
                    let (x, y) = (i64::from(*x), i64::from(*y));
                    sums.0 += x * y;
                    sums.1 += x * x;
                }
                sums
            }

            #[target_feature(enable = "avx512f,avx512bw")]
            pub(super) unsafe fn $dot(a: &[$t], b: &[$t]) -> i64 {
                let n = a.len().min(b.len());
                let whole = n / 32 * 32;
                let mut ab = _mm512_setzero_si512();
                for i in (0..whole).step_by(32) {
                    // SAFETY: `i + 32 <= whole <= n` codes of both slices; unaligned loads.
                    let (x, y) = unsafe {
                        (
                            $widen(_mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>())),
                            $widen(_mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>())),
                        )
                    };
                    ab = _mm512_add_epi32(ab, _mm512_madd_epi16(x, y));
                }
                let tail: i64 = a[whole..n]
                    .iter()
                    .zip(&b[whole..n])
                    .map(|(x, y)| i64::from(*x) * i64::from(*y))
                    .sum();
                lanes_total(ab) + tail
            }
        };
    }
    kernels!(i8, _mm512_cvtepi8_epi16, dot_sq_i8, dot_i8);
    kernels!(u8, _mm512_cvtepu8_epi16, dot_sq_u8, dot_u8);

    #[target_feature(enable = "avx512f")]
    fn lanes_total(v: __m512i) -> i64 {
        let mut lanes = [0i32; 16];
        // SAFETY: the array holds exactly 16 `i32`.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast::<__m512i>(), v) };
        lanes.iter().map(|&x| i64::from(x)).sum()
    }
}

/// The widest byte vectors whose dot products, as the blocked kernels
/// form them (a byte times a byte offset by 128, see
/// [`super::code_blocks`]), fit `i32` lanes: `d · 255 · 128 <= i32::MAX`.
pub const I32_LANE_MAX_WIDTH: usize = (i32::MAX as u64 / (255 * 128)) as usize;

/// The 256-bit integer kernels (AVX2): 16 codes widened to `i16` per step
/// (`vpmovsxbw` / `vpmovzxbw`), multiplied and added in pairs into 8 `i32`
/// lanes (`vpmaddwd`), in four independent accumulators (64 codes per
/// step), the last 16 or fewer codes zero-padded. No lane can overflow:
/// every lane, and every lane-wise sum of accumulators, holds the sum of a
/// subset of one block's products, each at most 255² = 65,025 in
/// magnitude, and a block holds at most `INT_BLOCK` codes (longer slices
/// are cut into blocks here as well), so its magnitude stays below
/// `2^15 · 65,025 < 2^31`. Integer sums are exact in any order: these give
/// the portable kernels' numbers exactly.
#[cfg(target_arch = "x86_64")]
mod wide2 {
    use super::INT_BLOCK;
    use std::arch::x86_64::*;

    /// Codes per vector step.
    const STEP: usize = 16;
    /// Independent accumulators.
    const ACCS: usize = 4;

    macro_rules! kernels {
        ($t:ty, $widen:ident, $dot_sq:ident, $dot:ident) => {
            /// 16 codes from `p`, widened to `i16`.
            ///
            /// # Safety
            /// `p` must point at 16 readable codes; the CPU must have AVX2.
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn load(p: *const $t) -> __m256i {
                // SAFETY: the caller's contract: 16 readable codes; unaligned load.
                $widen(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) })
            }

            /// The last `STEP` or fewer codes, zero-padded (a zero adds nothing).
            #[inline]
            #[target_feature(enable = "avx2")]
            fn padded(tail: &[$t]) -> [$t; STEP] {
                let mut codes = [0; STEP];
                for (c, &x) in codes.iter_mut().zip(tail) {
                    *c = x;
                }
                codes
            }

            #[target_feature(enable = "avx2")]
            pub(in crate::kernels::search::codes) fn $dot_sq(a: &[$t], b: &[$t]) -> (i64, i64) {
                let n = a.len().min(b.len());
                let mut sums = (0i64, 0i64);
                for (a, b) in a[..n].chunks(INT_BLOCK).zip(b[..n].chunks(INT_BLOCK)) {
                    let len = a.len();
                    let whole = len / (STEP * ACCS) * (STEP * ACCS);
                    let mut ab = [_mm256_setzero_si256(); ACCS];
                    let mut aa = [_mm256_setzero_si256(); ACCS];
                    for i in (0..whole).step_by(STEP * ACCS) {
                        for j in 0..ACCS {
                            let at = i + STEP * j;
                            // SAFETY: `at + 16 <= whole <= len` codes of both slices.
                            let (x, y) =
                                unsafe { (load(a.as_ptr().add(at)), load(b.as_ptr().add(at))) };
                            ab[j] = _mm256_add_epi32(ab[j], _mm256_madd_epi16(x, y));
                            aa[j] = _mm256_add_epi32(aa[j], _mm256_madd_epi16(x, x));
                        }
                    }
                    let mut at = whole;
                    while at < len {
                        let (ta, tb) = (padded(&a[at..]), padded(&b[at..]));
                        // SAFETY: each array holds 16 codes.
                        let (x, y) = unsafe { (load(ta.as_ptr()), load(tb.as_ptr())) };
                        ab[0] = _mm256_add_epi32(ab[0], _mm256_madd_epi16(x, y));
                        aa[0] = _mm256_add_epi32(aa[0], _mm256_madd_epi16(x, x));
                        at += STEP;
                    }
                    sums.0 += lanes_total(ab);
                    sums.1 += lanes_total(aa);
                }
                sums
            }

            #[target_feature(enable = "avx2")]
            pub(in crate::kernels::search::codes) fn $dot(a: &[$t], b: &[$t]) -> i64 {
                let n = a.len().min(b.len());
                let mut sum = 0i64;
                for (a, b) in a[..n].chunks(INT_BLOCK).zip(b[..n].chunks(INT_BLOCK)) {
                    let len = a.len();
                    let whole = len / (STEP * ACCS) * (STEP * ACCS);
                    let mut ab = [_mm256_setzero_si256(); ACCS];
                    for i in (0..whole).step_by(STEP * ACCS) {
                        for (j, ab) in ab.iter_mut().enumerate() {
                            let at = i + STEP * j;
                            // SAFETY: `at + 16 <= whole <= len` codes of both slices.
                            let (x, y) =
                                unsafe { (load(a.as_ptr().add(at)), load(b.as_ptr().add(at))) };
                            *ab = _mm256_add_epi32(*ab, _mm256_madd_epi16(x, y));
                        }
                    }
                    let mut at = whole;
                    while at < len {
                        let (ta, tb) = (padded(&a[at..]), padded(&b[at..]));
                        // SAFETY: each array holds 16 codes.
                        let (x, y) = unsafe { (load(ta.as_ptr()), load(tb.as_ptr())) };
                        ab[0] = _mm256_add_epi32(ab[0], _mm256_madd_epi16(x, y));
                        at += STEP;
                    }
                    sum += lanes_total(ab);
                }
                sum
            }
        };
    }

    mod signed {
        use super::*;
        kernels!(i8, _mm256_cvtepi8_epi16, dot_sq_i8, dot_i8);
    }
    mod unsigned {
        use super::*;
        kernels!(u8, _mm256_cvtepu8_epi16, dot_sq_u8, dot_u8);
    }
    pub(super) use signed::{dot_i8, dot_sq_i8};
    pub(super) use unsigned::{dot_sq_u8, dot_u8};

    /// The sum of every lane of the accumulators: a sum of one block's
    /// products, so it fits `i32` (see the module docs).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes_total(acc: [__m256i; ACCS]) -> i64 {
        let v = _mm256_add_epi32(
            _mm256_add_epi32(acc[0], acc[1]),
            _mm256_add_epi32(acc[2], acc[3]),
        );
        let four = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let two = _mm_add_epi32(four, _mm_unpackhi_epi64(four, four));
        let one = _mm_add_epi32(two, _mm_shuffle_epi32(two, 0b01));
        i64::from(_mm_cvtsi128_si32(one))
    }
}

/// Elements per block accumulated in `i32` lanes: every product or square of
/// two 8-bit codes is at most 255² = 65,025 in magnitude, and 2^15 of them
/// stay below 2^31.
const INT_BLOCK: usize = 1 << 15;
const INT_LANES: usize = 32;

// The portable block kernels: below AVX2 only (on x86_64, AVX2 and up
// take `IntCode::fast_dot_sq` / `fast_dot`, whose vector kernels the
// compiler cannot derive from these loops).

/// `(Σ a·b, Σ a²)` of one block, in `i32` lanes.
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
        let (ab, aa) = C::fast_dot_sq(x, y).unwrap_or_else(|| dot_sq_block(x, y));
        total = (total.0 + ab, total.1 + aa);
    }
    total
}

/// Exact `Σ a·b` (the slices have one length).
pub fn int_dot<C: IntCode>(a: &[C], b: &[C]) -> i64 {
    a.chunks(INT_BLOCK)
        .zip(b.chunks(INT_BLOCK))
        .map(|(x, y)| C::fast_dot(x, y).unwrap_or_else(|| dot_block(x, y)))
        .sum()
}

/// Ranks integer rows against an integer query with exact integer sums:
/// the same keys and scores, bit for bit, as [`super::topk::Ranker`]
/// on the widened vectors (whose `f64` partial sums are exact integers too).
#[derive(Debug, Clone, Copy)]
pub struct CodeRanker<'q, C> {
    metric: Metric,
    query: &'q [C],
    query_sq: i64,
    /// `√(Σ q²)`, computed once.
    query_root: f64,
}

impl<'q, C: IntCode> CodeRanker<'q, C> {
    pub fn new(metric: Metric, query: &'q [C]) -> Self {
        let query_sq = int_dot(query, query);
        CodeRanker {
            metric,
            query,
            query_sq,
            query_root: (query_sq as f64).sqrt(),
        }
    }

    #[inline]
    pub fn rank(&self, row: &[C]) -> (f64, f64) {
        match self.metric {
            Metric::Dot => self.rank_with(row, 0),
            _ => {
                let (ab, aa) = int_dot_sq(row, self.query);
                self.finish_with(ab, aa)
            }
        }
    }

    /// [`CodeRanker::rank`] given the row's own `Σ a²` (unused by `Dot`).
    #[inline]
    pub fn rank_with(&self, row: &[C], row_sq: i64) -> (f64, f64) {
        self.finish_with(int_dot(row, self.query), row_sq)
    }

    /// The key and score of a row given its exact dot product with the
    /// query and its own `Σ a²` (unused by `Dot`).
    #[inline]
    pub fn finish_with(&self, ab: i64, aa: i64) -> (f64, f64) {
        let row_root = match self.metric {
            Metric::Cosine => (aa as f64).sqrt(),
            _ => 0.0,
        };
        self.finish_rooted(ab, aa, row_root)
    }

    /// [`CodeRanker::finish_with`] given also `row_root = √(aa as f64)`
    /// (read by `Cosine` only), for a row ranked against many queries.
    #[inline]
    pub fn finish_rooted(&self, ab: i64, aa: i64, row_root: f64) -> (f64, f64) {
        match self.metric {
            Metric::Dot => {
                let s = ab as f64;
                (s, s)
            }
            Metric::Cosine => {
                // A zero vector has cosine 0, as scikit-learn (and `vector::cosine`).
                let s = if aa == 0 || self.query_sq == 0 {
                    0.0
                } else {
                    ab as f64 / (row_root * self.query_root)
                };
                (s, s)
            }
            Metric::Euclidean => {
                let d = ((aa - 2 * ab + self.query_sq) as f64).sqrt();
                (-d, d)
            }
        }
    }
}

/// Exact integer search on AVX2: the rows of a block and the queries are
/// widened to `i16` once (`d` zero-padded to a multiple of 16), and a
/// register tile of 2 rows × 4 queries multiplies them by `vpmaddwd` into
/// eight accumulators of 8 `i32` lanes, each row load serving 4 queries
/// and each query load 2 rows. Every lane holds a sum of products of one
/// row and one query, each at most 255² in magnitude, and `d <=
/// INT_BLOCK`, so no lane overflows (see `INT_BLOCK`): the dot products
/// are exact. The 8 keys of a tile are then computed in `f64` vectors by
/// the operations of [`CodeRanker::finish_rooted`] (IEEE operations, so
/// the same values; every integer involved is below 2^53, so exact in
/// `f64`) and compared with each query's worst kept key; only the pairs
/// that reach it are ranked by `finish_rooted` and offered to their
/// query's top k. The result is [`super::scans::nearest_codes_scan`]'s, bit for bit.
///
/// Measured on a 2-core AMD EPYC (Zen 3: AVX2, no AVX-512), shared with
/// other jobs (1-minute load 2–4), with `cargo run --release --example
/// int8_scan_bench -- 1000000 384 5 1 10 100 pairs`: 1M × 384 random Int8
/// rows, cosine, k = 10, wall seconds, medians of 5 runs:
///
/// | queries | `nearest_codes` | pair-by-pair scan | `nearest::<i8>` (Float32 screen) | `nearest::<f32>` |
/// |---|---|---|---|---|
/// | 1 | 0.056 (the scan) | 0.066 | 0.203 | 0.201 |
/// | 10 | 0.146 | 0.336 | 0.347 | 0.374 |
/// | 100 | 1.032 | 3.046 | 1.360 | 1.319 |
///
/// Against the Float32 screen (medians of 3): 64 queries 0.67 / 0.99,
/// 128: 1.26 / 1.53, 200: 1.95 / 2.43, 400: 4.06 / 5.03, 1,000: 10.7 /
/// 11.7. A larger tile (3 rows × 4 queries) measured the same: `vpmaddwd`
/// does 16 exact multiply-adds per instruction, as many as an `f32` FMA,
/// so on AVX2 the integer kernel wins by its smaller loads and setup, not
/// by its arithmetic.
#[cfg(target_arch = "x86_64")]
pub(super) mod tiled {
    use super::{int_dot, CodeRanker, IntCode, INT_BLOCK};
    use crate::kernels::cpu::{self, Level};
    use crate::kernels::search::topk::{search_in_parts, Metric, TopK};
    use std::arch::x86_64::*;

    /// Codes per vector step.
    const STEP: usize = 16;
    /// Queries per register tile.
    const TILE_QUERIES: usize = 4;
    /// Rows per register tile.
    const TILE_ROWS: usize = 2;
    /// Rows widened together (12 KiB at d = 384: in L1 beside 4 queries).
    const BLOCK_ROWS: usize = 16;
    /// Rows per thread's part (merged exactly, as in the scan).
    const PART_ROWS: usize = 1 << 14;

    /// What every part of one search shares; the per-query vectors are
    /// padded to a multiple of [`TILE_QUERIES`] queries.
    struct Context<'q, C> {
        m: usize,
        d: usize,
        /// `d` padded to a multiple of [`STEP`].
        width: usize,
        metric: Metric,
        /// The queries widened, `width` apart (padding: zeros).
        queries: Vec<i16>,
        /// `Σ q²` and its square root per query, as `f64`.
        query_sq: Vec<f64>,
        query_root: Vec<f64>,
        rankers: Vec<CodeRanker<'q, C>>,
    }

    /// The `k` best rows for each query, or `None` when the kernel does
    /// not apply (the CPU lacks AVX2, `d` is 0 or above `INT_BLOCK`, too
    /// few query codes, a row of another width).
    pub(in crate::kernels::search) fn nearest<C: IntCode>(
        queries: &[C],
        m: usize,
        d: usize,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[C])],
    ) -> Option<Vec<Vec<(u32, f64)>>> {
        if !cpu::at_least(Level::Avx2)
            || m == 0
            || d == 0
            || d > INT_BLOCK
            || queries.len() < m * d
            || rows.iter().any(|(_, row)| row.len() != d)
        {
            return None;
        }
        if k == 0 {
            return Some(vec![Vec::new(); m]);
        }
        let width = d.next_multiple_of(STEP);
        let padded = m.next_multiple_of(TILE_QUERIES);
        let mut wide = vec![0i16; padded * width];
        for (query, out) in queries.chunks_exact(d).zip(wide.chunks_exact_mut(width)) {
            for (o, &c) in out.iter_mut().zip(query) {
                *o = c.to_i16();
            }
        }
        let rankers: Vec<CodeRanker<'_, C>> = queries
            .chunks_exact(d)
            .take(m)
            .map(|query| CodeRanker::new(metric, query))
            .collect();
        let mut query_sq = vec![0.0; padded];
        let mut query_root = vec![0.0; padded];
        for ((sq, root), ranker) in query_sq.iter_mut().zip(&mut query_root).zip(&rankers) {
            *sq = ranker.query_sq as f64;
            *root = ranker.query_root;
        }
        let context = Context {
            m,
            d,
            width,
            metric,
            queries: wide,
            query_sq,
            query_root,
            rankers,
        };
        search_in_parts(rows, PART_ROWS, m, k, |part| {
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { context.search_part(k, part) }
        })
    }

    impl<C: IntCode> Context<'_, C> {
        /// The top k of each query among `part`, or `None` if a slice is
        /// shorter than the layout says (never expected).
        #[target_feature(enable = "avx2")]
        fn search_part(&self, k: usize, part: &[(u32, &[C])]) -> Option<Vec<TopK>> {
            let (m, d, width) = (self.m, self.d, self.width);
            let padded = self.query_sq.len();
            let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
            // The padding queries' bar is never reached.
            let mut worst = vec![f64::INFINITY; padded];
            worst[..m].fill(f64::NEG_INFINITY);
            // Codes past `d`, and rows past a short last block, stay zero
            // or stale: their sums are never read back.
            let mut block = vec![0i16; BLOCK_ROWS * width];
            let (mut row_sq, mut row_root) = ([0i64; BLOCK_ROWS], [0f64; BLOCK_ROWS]);
            for rows in part.chunks(BLOCK_ROWS) {
                for (i, (_, row)) in rows.iter().enumerate() {
                    let out = block.get_mut(i * width..i * width + d)?;
                    for (o, &c) in out.iter_mut().zip(row.iter()) {
                        *o = c.to_i16();
                    }
                    row_sq[i] = match self.metric {
                        Metric::Dot => 0,
                        _ => int_dot(row, row),
                    };
                    row_root[i] = (row_sq[i] as f64).sqrt();
                }
                let groups = self.queries.chunks_exact(TILE_QUERIES * width);
                for (q0, group) in (0..padded).step_by(TILE_QUERIES).zip(groups) {
                    let run = q0..q0 + TILE_QUERIES;
                    let (sq, root) = (
                        self.query_sq.get(run.clone())?,
                        self.query_root.get(run.clone())?,
                    );
                    for r0 in (0..rows.len()).step_by(TILE_ROWS) {
                        let pair = block.get(r0 * width..(r0 + TILE_ROWS) * width)?;
                        let dots = tile(pair, group, width)?;
                        for (r, dots) in dots.into_iter().enumerate() {
                            let i = r0 + r;
                            let Some(&(position, _)) = rows.get(i) else {
                                break;
                            };
                            let (aa, ra) = (row_sq[i], row_root[i]);
                            let mut hits =
                                self.screen(dots, aa, ra, sq, root, worst.get(run.clone())?);
                            while hits != 0 {
                                let j = hits.trailing_zeros() as usize;
                                hits &= hits - 1;
                                let q = q0 + j;
                                let (Some(ranker), Some(top)) =
                                    (self.rankers.get(q), tops.get_mut(q))
                                else {
                                    continue;
                                };
                                let (key, score) = ranker.finish_rooted(i64::from(dots[j]), aa, ra);
                                top.push(key, position, score);
                                worst[q] = top.worst_key();
                            }
                        }
                    }
                }
            }
            Some(tops)
        }

        /// Which of the 4 pairs of one row (`Σ x²` and its root `aa`, `ra`)
        /// and a run of 4 queries (`sq`, `root`, each query's worst kept key
        /// `worst`, all of 4) may enter their query's top k, as bits: those
        /// whose key, computed by the operations of `finish_rooted`, reaches
        /// `worst`.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn screen(
            &self,
            dots: [i32; 4],
            aa: i64,
            ra: f64,
            sq: &[f64],
            root: &[f64],
            worst: &[f64],
        ) -> u32 {
            let load = |v: &[f64]| {
                let mut lanes = [0.0; 4];
                for (l, &x) in lanes.iter_mut().zip(v) {
                    *l = x;
                }
                // SAFETY: `lanes` holds exactly 4 `f64`; unaligned load.
                unsafe { _mm256_loadu_pd(lanes.as_ptr()) }
            };
            // SAFETY: `dots` holds exactly 4 `i32`; unaligned load.
            let ab =
                _mm256_cvtepi32_pd(unsafe { _mm_loadu_si128(dots.as_ptr().cast::<__m128i>()) });
            let key = match self.metric {
                Metric::Dot => ab,
                Metric::Cosine => {
                    // `ab / (√aa · √bb)`, 0 where either is a zero vector
                    // (the product of roots is then 0, and only then).
                    let den = _mm256_mul_pd(_mm256_set1_pd(ra), load(root));
                    let zero = _mm256_cmp_pd::<_CMP_EQ_OQ>(den, _mm256_setzero_pd());
                    _mm256_andnot_pd(zero, _mm256_div_pd(ab, den))
                }
                Metric::Euclidean => {
                    // `-√(aa - 2 ab + bb)`: integers below 2^53, exact in `f64`.
                    let two_ab = _mm256_add_pd(ab, ab);
                    let sum =
                        _mm256_add_pd(_mm256_sub_pd(_mm256_set1_pd(aa as f64), two_ab), load(sq));
                    _mm256_sub_pd(_mm256_setzero_pd(), _mm256_sqrt_pd(sum))
                }
            };
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(key, load(worst))) as u32
        }
    }

    /// The dot products of 2 rows (`rows`, `width` apart) with 4 queries
    /// (`queries`, likewise), `None` if a slice is short or `width` not a
    /// multiple of 16.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tile(
        rows: &[i16],
        queries: &[i16],
        width: usize,
    ) -> Option<[[i32; TILE_QUERIES]; TILE_ROWS]> {
        if rows.len() < TILE_ROWS * width
            || queries.len() < TILE_QUERIES * width
            || !width.is_multiple_of(STEP)
        {
            return None;
        }
        let load = |codes: &[i16], at: usize| {
            // SAFETY: `at + 16 <= width`, and each slice holds whole vectors of
            // `width` codes (checked above); unaligned load.
            unsafe { _mm256_loadu_si256(codes.as_ptr().add(at).cast::<__m256i>()) }
        };
        let mut acc = [[_mm256_setzero_si256(); TILE_QUERIES]; TILE_ROWS];
        for at in (0..width).step_by(STEP) {
            let r: [__m256i; TILE_ROWS] = std::array::from_fn(|i| load(rows, i * width + at));
            for j in 0..TILE_QUERIES {
                let q = load(queries, j * width + at);
                for (acc, &r) in acc.iter_mut().zip(&r) {
                    acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(r, q));
                }
            }
        }
        Some(acc.map(|a| lane_sums(a)))
    }

    /// The lane sums of four accumulators, in order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lane_sums(acc: [__m256i; 4]) -> [i32; 4] {
        // Per 128-bit half: [Σ acc0, Σ acc1, Σ acc2, Σ acc3] of that half.
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        let mut out = [0i32; 4];
        // SAFETY: `out` holds exactly 4 `i32`; unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), sums) };
        out
    }
}

// ---------------------------------------------------------------- binary codes

crate::by_level! {
    [vnni, avx2]
    /// The number of bits that differ between two packed codes of one length.
    pub fn hamming<>(a: &[u8], b: &[u8]) -> u32 {
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
}

/// The first 8 bytes of `bytes` (at least 8) as an array.
#[inline(always)]
pub(super) fn word(bytes: &[u8]) -> [u8; 8] {
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
    use crate::kernels::cpu::{self, Level};
    use crate::kernels::search::nearest_codes;
    use crate::kernels::search::scans::nearest_codes_scan;
    use crate::kernels::search::topk::rank_row;

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
    fn portable_integer_kernels_agree_with_the_wide_ones() {
        for n in [0, 5, 31, 32, 33, 384, 1000, INT_BLOCK] {
            let (a, b) = (codes_i8(n, 3), codes_i8(n, 4));
            let (ua, ub): (Vec<u8>, Vec<u8>) = (
                a.iter().map(|&x| x as u8).collect(),
                b.iter().map(|&x| x as u8).collect(),
            );
            assert_eq!(
                i8::fast_dot_sq(&a, &b).unwrap_or_else(|| dot_sq_block(&a, &b)),
                dot_sq_block(&a, &b)
            );
            assert_eq!(
                i8::fast_dot(&a, &b).unwrap_or_else(|| dot_block(&a, &b)),
                dot_block(&a, &b)
            );
            assert_eq!(
                u8::fast_dot_sq(&ua, &ub).unwrap_or_else(|| dot_sq_block(&ua, &ub)),
                dot_sq_block(&ua, &ub)
            );
            assert_eq!(
                u8::fast_dot(&ua, &ub).unwrap_or_else(|| dot_block(&ua, &ub)),
                dot_block(&ua, &ub)
            );
        }
    }

    /// Lengths around the vector widths (16 codes per AVX2 step, 64 per
    /// AVX2 loop, 32 per AVX-512 step) and the `INT_BLOCK` boundaries.
    const KERNEL_LENGTHS: [usize; 22] = [
        0,
        1,
        15,
        16,
        17,
        31,
        32,
        33,
        48,
        63,
        64,
        65,
        127,
        128,
        129,
        383,
        384,
        385,
        INT_BLOCK - 1,
        INT_BLOCK,
        INT_BLOCK + 1,
        2 * INT_BLOCK + 17,
    ];

    /// Pairs of code vectors of length `n`: reproducible random codes, and
    /// the extreme values against each other (constant and alternating).
    fn extreme_pairs<C: IntCode>(
        n: usize,
        values: &[C],
        from: impl Fn(u8) -> C,
    ) -> Vec<(Vec<C>, Vec<C>)> {
        let random = |seed| -> Vec<C> {
            crate::kernels::test_data::random_bytes(n, seed)
                .into_iter()
                .map(&from)
                .collect()
        };
        let mut pairs = vec![(random(2 * n as u64 + 1), random(2 * n as u64 + 2))];
        for &x in values {
            for &y in values {
                pairs.push((vec![x; n], vec![y; n]));
            }
        }
        if let [first, .., last] = values {
            let alternating: Vec<C> = (0..n)
                .map(|i| if i % 2 == 0 { *first } else { *last })
                .collect();
            let shifted: Vec<C> = (0..n)
                .map(|i| if i % 3 == 0 { *last } else { *first })
                .collect();
            pairs.push((alternating.clone(), shifted));
            pairs.push((alternating.clone(), alternating));
        }
        pairs
    }

    /// `(Σ a·b, Σ a²)` in `i64`, one product at a time.
    fn i64_reference<C: IntCode>(a: &[C], b: &[C]) -> (i64, i64) {
        a.iter().zip(b).fold((0, 0), |(ab, aa), (&x, &y)| {
            let (x, y) = (i64::from(x.to_i32()), i64::from(y.to_i32()));
            (ab + x * y, aa + x * x)
        })
    }

    /// An AVX2 kernel pair called directly: `Σ a·b` and `(Σ a·b, Σ a²)`.
    type Direct<C> = (fn(&[C], &[C]) -> i64, fn(&[C], &[C]) -> (i64, i64));

    /// The integer kernels at every level this CPU has (AVX2 and AVX-512
    /// through `fast_dot`, the portable blocks below), and the AVX2 kernels
    /// called directly, against [`i64_reference`].
    fn integer_kernels_equal_the_reference<C: IntCode + std::fmt::Debug>(
        name: &str,
        values: &[C],
        from: impl Fn(u8) -> C,
        direct: Option<Direct<C>>,
    ) {
        let levels = cpu::test_levels();
        for n in KERNEL_LENGTHS {
            for (a, b) in extreme_pairs(n, values, &from) {
                let expected = i64_reference(&a, &b);
                let what = format!(
                    "{name}, n = {n}, a[0] = {:?}, b[0] = {:?}",
                    a.first(),
                    b.first()
                );
                for &level in &levels {
                    let got = cpu::with_level(level, || {
                        let block =
                            |x: &[C], y: &[C]| C::fast_dot(x, y).unwrap_or_else(|| dot_block(x, y));
                        let block_sq = |x: &[C], y: &[C]| {
                            C::fast_dot_sq(x, y).unwrap_or_else(|| dot_sq_block(x, y))
                        };
                        let blocks = |f: &dyn Fn(&[C], &[C]) -> i64| -> i64 {
                            a.chunks(INT_BLOCK)
                                .zip(b.chunks(INT_BLOCK))
                                .map(|(x, y)| f(x, y))
                                .sum()
                        };
                        (
                            int_dot(&a, &b),
                            int_dot_sq(&a, &b),
                            blocks(&block),
                            blocks(&|x, y| block_sq(x, y).0),
                            blocks(&|x, y| block_sq(x, y).1),
                        )
                    });
                    let want = (expected.0, expected, expected.0, expected.0, expected.1);
                    assert_eq!(got, want, "{what}, {level:?}");
                }
                if let Some((dot, dot_sq)) = direct {
                    // Whole slices, longer than a block too: the kernels cut their own blocks.
                    assert_eq!(dot(&a, &b), expected.0, "{what}, AVX2 kernel");
                    assert_eq!(dot_sq(&a, &b), expected, "{what}, AVX2 kernel");
                }
            }
        }
    }

    #[test]
    fn avx2_integer_kernels_equal_an_i64_reference_at_every_level() {
        #[cfg(target_arch = "x86_64")]
        let (signed, unsigned) = if cpu::detected() >= Level::Avx2 {
            let signed: Direct<i8> = (
                // SAFETY: the CPU has AVX2 (detected above).
                |a, b| unsafe { wide2::dot_i8(a, b) },
                // SAFETY: likewise.
                |a, b| unsafe { wide2::dot_sq_i8(a, b) },
            );
            let unsigned: Direct<u8> = (
                // SAFETY: the CPU has AVX2 (detected above).
                |a, b| unsafe { wide2::dot_u8(a, b) },
                // SAFETY: likewise.
                |a, b| unsafe { wide2::dot_sq_u8(a, b) },
            );
            (Some(signed), Some(unsigned))
        } else {
            eprintln!("no AVX2 on this CPU: the AVX2 kernels are not called directly here");
            (None, None)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (signed, unsigned) = (None, None);
        integer_kernels_equal_the_reference("i8", &[-128i8, -1, 0, 1, 127], |x| x as i8, signed);
        integer_kernels_equal_the_reference("u8", &[0u8, 1, 128, 254, 255], |x| x, unsigned);
    }

    /// Rows for the search tests: random codes, the extreme values, a zero
    /// row and exact duplicates (ties).
    fn search_rows<C: IntCode>(
        n: usize,
        d: usize,
        extremes: [C; 2],
        from: impl Fn(u8) -> C + Copy,
    ) -> Vec<C> {
        let mut codes: Vec<C> = crate::kernels::test_data::random_bytes(n * d, d as u64)
            .into_iter()
            .map(from)
            .collect();
        let zero = from(0);
        for (r, row) in codes.chunks_exact_mut(d).enumerate() {
            match r % 7 {
                1 => row.fill(extremes[0]),
                2 => row.fill(extremes[1]),
                3 => row.fill(zero),
                _ => {}
            }
        }
        let first: Vec<C> = codes.get(..d).map(<[C]>::to_vec).unwrap_or_default();
        if let Some(row) = codes.get_mut(5 * d..6 * d) {
            row.copy_from_slice(&first); // a tie with row 0
        }
        codes
    }

    fn tiled_search_equals_the_scan<C: IntCode + std::fmt::Debug>(
        extremes: [C; 2],
        from: impl Fn(u8) -> C + Copy,
    ) {
        let levels = cpu::test_levels();
        // Row counts on either side of the 2-row tile and the 16-row block;
        // query counts on either side of the 4-query tile.
        for (n, d) in [(1, 1), (37, 15), (33, 16), (40, 17), (35, 100)] {
            let codes = search_rows(n, d, extremes, from);
            let rows: Vec<(u32, &[C])> = codes
                .chunks_exact(d)
                .enumerate()
                .map(|(i, r)| (i as u32, r))
                .collect();
            for m in [1, 2, 3, 4, 5, 9] {
                let mut queries = search_rows(m, d, extremes, from);
                if let (Some(q), Some(row)) = (queries.get_mut(..d), codes.get(..d)) {
                    q.copy_from_slice(row); // a query equal to a row
                }
                for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
                    for k in [1, 4, 50] {
                        let scan = nearest_codes_scan(&queries, m, d, k, metric, &rows);
                        let what = format!("n = {n}, d = {d}, m = {m}, k = {k}, {metric:?}");
                        for &level in &levels {
                            let got = cpu::with_level(level, || {
                                nearest_codes(&queries, m, d, k, metric, &rows)
                            });
                            assert!(
                                same_found(&got, &scan),
                                "{what}, {level:?}: {got:?} against {scan:?}"
                            );
                        }
                        #[cfg(target_arch = "x86_64")]
                        if cpu::detected() >= Level::Avx2 {
                            let got = cpu::with_level(Level::Avx2, || {
                                tiled::nearest(&queries, m, d, k, metric, &rows)
                            });
                            let Some(got) = got else {
                                panic!("{what}: the tiled kernel did not run");
                            };
                            assert!(
                                same_found(&got, &scan),
                                "{what}, tiled: {got:?} against {scan:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    fn same_found(a: &[Vec<(u32, f64)>], b: &[Vec<(u32, f64)>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
            })
    }

    #[test]
    fn tiled_code_search_equals_the_scan_at_every_level() {
        if cpu::detected() < Level::Avx2 {
            eprintln!("no AVX2 on this CPU: the tiled search is not tested here");
        }
        tiled_search_equals_the_scan([-128i8, 127], |x| x as i8);
        tiled_search_equals_the_scan([0u8, 255], |x| x);
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
    fn f32_lanes_equal_the_portable_lanes() {
        for n in [0, 5, 16, 17, 63, 64, 65, 384, 1000] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.3)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let (mut dot, mut sq) = ([0.0f32; HALF_LANES], [0.0f32; HALF_LANES]);
            for i in 0..n {
                dot[i % HALF_LANES] += a[i] * b[i];
                sq[i % HALF_LANES] += (a[i] - b[i]) * (a[i] - b[i]);
            }
            assert_eq!(
                f32_lanes_dot(&a, &b).to_bits(),
                lane_total(dot).to_bits(),
                "n = {n}"
            );
            assert_eq!(
                f32_lanes_sq_diff(&a, &b).to_bits(),
                lane_total(sq).to_bits()
            );
            let exact: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let scale: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from((x * y).abs()))
                .sum();
            assert!((lane_total(dot) - exact).abs() <= half_rank_error(n.max(1)) * scale + 1e-30);
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
