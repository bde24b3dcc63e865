//! Row-wise vector kernels: dot products, norms, distances, cosine
//! similarity and unit normalisation, over slices.
//!
//! Every sum is accumulated in `f64` over `LANES` independent accumulators
//! (so the loops vectorise and hide the add latency) and the lanes are
//! added in a fixed order: results do not depend on the CPU path taken.
//! [`by_level!`](crate::by_level) compiles each hot loop for AVX-512,
//! AVX2+FMA and the baseline and runs the one the CPU level allows.

use super::element::Element;
use super::parallel;

/// Independent accumulators per sum: 8 registers of 4 lanes on AVX2 (of
/// its 16), 4 of 8 on AVX-512, 16 of 2 on NEON (of 32) — enough to hide the
/// add latency of a loop that loads two numbers per multiply-add, and few
/// enough that the loop keeps every accumulator in a register (64 lanes
/// took all 16 of AVX2's registers and spilled).
const LANES: usize = 32;

/// Squares below this (about 1e-181) may have lost terms to underflow, and
/// sums above `f64::MAX` have overflowed: both take the rescaled path.
const SAFE_SUM_SQ_MIN: f64 = 2.409919865102884e-181; // 2^-600

#[inline(always)]
fn reduce(lanes: [f64; LANES]) -> f64 {
    // A fixed pairwise order: same result on every CPU.
    let mut width = LANES / 2;
    let mut acc = lanes;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

macro_rules! lane_sum {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $term:expr) => {{
        let mut acc = [0.0f64; LANES];
        // Fixed-size groups: the compiler keeps the lanes in full-width
        // vector registers (with `chunks_exact` it chose 2-lane ones and
        // spilled).
        let (a_groups, a_tail) = $a.as_chunks::<LANES>();
        let (b_groups, b_tail) = $b.as_chunks::<LANES>();
        for (ca, cb) in a_groups.iter().zip(b_groups) {
            for lane in 0..LANES {
                let $x = ca[lane].to_f64();
                let $y = cb[lane].to_f64();
                acc[lane] += $term;
            }
        }
        for (lane, (xa, yb)) in a_tail.iter().zip(b_tail).enumerate() {
            let $x = xa.to_f64();
            let $y = yb.to_f64();
            acc[lane] += $term;
        }
        reduce(acc)
    }};
}

/// Vectors longer than this are summed in fixed blocks of this many numbers
/// whose sums are added in block order, so the result is the same however
/// many threads computed the blocks.
pub const LONG_BLOCK: usize = 1 << 15;

/// Vectors at least this long have their blocks computed on several threads.
const PARALLEL_MIN_LEN: usize = 1 << 17;

/// `Σ a_i b_i`. The slices must have one length (callers check). Long
/// vectors (the classic 1M-element dot product) use the kernels' threads.
pub fn dot<T: Element>(a: &[T], b: &[T]) -> f64 {
    if a.len() <= LONG_BLOCK {
        return dot_block(a, b);
    }
    if a.len() < PARALLEL_MIN_LEN {
        let blocks = a.chunks(LONG_BLOCK).zip(b.chunks(LONG_BLOCK));
        return sum_in_order(blocks.map(|(x, y)| dot_block(x, y)));
    }
    let pairs: Vec<(&[T], &[T])> = a.chunks(LONG_BLOCK).zip(b.chunks(LONG_BLOCK)).collect();
    let partials = parallel::blocks(pairs.len(), |i| {
        pairs.get(i).map_or(0.0, |(x, y)| dot_block(x, y))
    });
    sum_in_order(partials.into_iter())
}

/// The sum of `values` added left to right (a fixed order).
fn sum_in_order(mut values: impl Iterator<Item = f64>) -> f64 {
    let first = values.next().unwrap_or(0.0);
    values.fold(first, |total, v| total + v)
}

crate::by_level! {
    [avx512, avx2]
    fn dot_block<T: Element>(a: &[T], b: &[T]) -> f64 {
        lane_sum!(a, b, |x, y| x * y)
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `(Σ a_i b_i, Σ a_i², Σ b_i²)` in one pass over both vectors.
    fn dot_and_sums_sq<T: Element>(a: &[T], b: &[T]) -> (f64, f64, f64) {
        const W: usize = 16;
        let (mut ab, mut aa, mut bb) = ([0.0f64; W], [0.0f64; W], [0.0f64; W]);
        // Fixed-size groups, as in `lane_sum!`.
        let (a_groups, a_tail) = a.as_chunks::<W>();
        let (b_groups, b_tail) = b.as_chunks::<W>();
        for (ca, cb) in a_groups.iter().zip(b_groups) {
            for lane in 0..W {
                let (x, y) = (ca[lane].to_f64(), cb[lane].to_f64());
                ab[lane] += x * y;
                aa[lane] += x * x;
                bb[lane] += y * y;
            }
        }
        for (lane, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
            let (x, y) = (x.to_f64(), y.to_f64());
            ab[lane] += x * y;
            aa[lane] += x * x;
            bb[lane] += y * y;
        }
        (total_16(ab), total_16(aa), total_16(bb))
    }
}

#[inline(always)]
fn total_16(v: [f64; 16]) -> f64 {
    let mut wide = [0.0f64; LANES];
    wide[..16].copy_from_slice(&v);
    reduce(wide)
}

crate::by_level! {
    [avx512, avx2]
    /// `Σ a_i²`.
    pub fn sum_sq<T: Element>(a: &[T]) -> f64 {
        lane_sum!(a, a, |x, _y| x * x)
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `Σ (a_i - b_i)²` with both sides multiplied by `factor` (a power of two).
    fn sum_sq_diff_scaled<T: Element>(a: &[T], b: &[T], factor: f64) -> f64 {
        lane_sum!(a, b, |x, y| {
            let d = x * factor - y * factor;
            d * d
        })
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `Σ |a_i - b_i|`.
    pub fn manhattan<T: Element>(a: &[T], b: &[T]) -> f64 {
        lane_sum!(a, b, |x, y| (x - y).abs())
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `Σ |a_i|`.
    pub fn norm_l1<T: Element>(a: &[T]) -> f64 {
        lane_sum!(a, a, |x, _y| x.abs())
    }
}

/// `max_i |a_i - b_i|`; NaN if any difference is NaN; 0 for empty vectors.
pub fn chebyshev<T: Element>(a: &[T], b: &[T]) -> f64 {
    let mut max = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x.to_f64() - y.to_f64()).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        max = max.max(d);
    }
    max
}

/// `max_i |a_i|`; NaN if any element is NaN; 0 for empty vectors.
pub fn norm_inf<T: Element>(a: &[T]) -> f64 {
    let mut max = 0.0f64;
    for x in a {
        let v = x.to_f64().abs();
        if v.is_nan() {
            return f64::NAN;
        }
        max = max.max(v);
    }
    max
}

/// A power of two `f` with `max_abs * f` near 1 (exact to apply). Clamped so
/// that `f` itself is finite and normal.
fn rescale_factor(max_abs: f64) -> f64 {
    let exponent = max_abs.log2().round().clamp(-1000.0, 1000.0);
    (-exponent).exp2()
}

/// The Euclidean norm, without overflow or underflow wherever the true norm
/// is representable (e.g. vectors of 1e200 or 1e-200).
pub fn norm_l2<T: Element>(a: &[T]) -> f64 {
    norm_l2_from_sum_sq(a, sum_sq(a))
}

/// [`norm_l2`] of `a` given its [`sum_sq`] `ss` (saves a pass when the
/// caller needs both).
pub fn norm_l2_from_sum_sq<T: Element>(a: &[T], ss: f64) -> f64 {
    if ss.is_finite() && ss >= SAFE_SUM_SQ_MIN || ss.is_nan() {
        return ss.sqrt();
    }
    let max_abs = norm_inf(a);
    if max_abs == 0.0 || !max_abs.is_finite() {
        return max_abs;
    }
    scaled_norm(a, rescale_factor(max_abs))
}

fn scaled_norm<T: Element>(a: &[T], factor: f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    for (i, x) in a.iter().enumerate() {
        let v = x.to_f64() * factor;
        acc[i % LANES] += v * v;
    }
    reduce(acc).sqrt() / factor
}

/// `sqrt(Σ (a_i - b_i)²)`, rescaled when the squares over- or underflow.
pub fn euclidean<T: Element>(a: &[T], b: &[T]) -> f64 {
    let ss = sum_sq_diff_scaled(a, b, 1.0);
    if ss.is_finite() && ss >= SAFE_SUM_SQ_MIN || ss.is_nan() {
        return ss.sqrt();
    }
    // Halve first so that `a_i - b_i` itself cannot overflow.
    let max_abs = chebyshev_halved(a, b);
    if max_abs == 0.0 || !max_abs.is_finite() {
        return max_abs * 2.0;
    }
    let factor = rescale_factor(max_abs) * 0.5;
    sum_sq_diff_scaled(a, b, factor).sqrt() / factor
}

fn chebyshev_halved<T: Element>(a: &[T], b: &[T]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.to_f64() * 0.5 - y.to_f64() * 0.5).abs())
        .fold(0.0, f64::max)
}

/// `Σ (a_i - b_i)²` (may overflow to infinity, like scipy's `sqeuclidean`).
pub fn sq_euclidean<T: Element>(a: &[T], b: &[T]) -> f64 {
    sum_sq_diff_scaled(a, b, 1.0)
}

/// Cosine similarity as scikit-learn defines it: 0.0 when either vector is
/// all zeros. Scale-invariant, so vectors of 1e±200 are rescaled rather than
/// over- or underflowing.
pub fn cosine<T: Element>(a: &[T], b: &[T]) -> f64 {
    let (d, sa, sb) = dot_and_sums_sq(a, b);
    let fine = |s: f64| s.is_finite() && s >= SAFE_SUM_SQ_MIN;
    if fine(sa) && fine(sb) && d.is_finite() {
        return d / (sa.sqrt() * sb.sqrt());
    }
    // Over- or underflow (or NaN/inf in the input): rescale each side.
    let (ma, mb) = (norm_inf(a), norm_inf(b));
    if ma.is_nan() || mb.is_nan() || ma.is_infinite() || mb.is_infinite() {
        return f64::NAN;
    }
    if ma == 0.0 || mb == 0.0 {
        return 0.0;
    }
    let (fa, fb) = (rescale_factor(ma), rescale_factor(mb));
    let mut acc = [[0.0f64; 3]; LANES];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (x.to_f64() * fa, y.to_f64() * fb);
        let lane = &mut acc[i % LANES];
        lane[0] += x * y;
        lane[1] += x * x;
        lane[2] += y * y;
    }
    let pick = |k: usize| reduce(std::array::from_fn(|lane| acc[lane][k]));
    pick(0) / (pick(1).sqrt() * pick(2).sqrt())
}

/// Cosine distance `1 - cosine`, clipped to `[0, 2]` as scikit-learn's
/// `cosine_distances` (NaN stays NaN). Zero vectors give 1.0.
pub fn cosine_distance<T: Element>(a: &[T], b: &[T]) -> f64 {
    (1.0 - cosine(a, b)).clamp(0.0, 2.0)
}

/// Which norm `unit_normalize` divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitNorm {
    L1,
    L2,
    Max,
}

/// The norm `unit_normalize` divides by: a norm below `10 * eps` of the
/// dtype counts as 1 (scikit-learn's `normalize`), so zero vectors stay.
fn unit_norm_of<T: Element>(a: &[T], norm: UnitNorm) -> f64 {
    let n = match norm {
        UnitNorm::L1 => norm_l1(a),
        UnitNorm::L2 => norm_l2(a),
        UnitNorm::Max => norm_inf(a),
    };
    if n < 10.0 * T::EPSILON {
        1.0
    } else {
        n
    }
}

/// Writes `a / ‖a‖` into `out`, as scikit-learn's `normalize`.
pub fn unit_normalize<T: Element>(a: &[T], norm: UnitNorm, out: &mut [T]) {
    let n = unit_norm_of(a, norm);
    for (o, x) in out.iter_mut().zip(a) {
        *o = T::from_f64(x.to_f64() / n);
    }
}

crate::by_level! {
    [avx512, avx2]
    /// Pushes `a / ‖a‖` onto `out` (no zero-filled buffer needed).
    pub fn unit_normalize_into<T: Element>(a: &[T], norm: UnitNorm, out: &mut Vec<T>) {
        let n = unit_norm_of(a, norm);
        out.extend(a.iter().map(|x| T::from_f64(x.to_f64() / n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fsum(values: impl Iterator<Item = f64>) -> f64 {
        // Neumaier's compensated sum, as a reference.
        let (mut sum, mut c) = (0.0f64, 0.0f64);
        for v in values {
            let t = sum + v;
            c += if sum.abs() >= v.abs() {
                (sum - t) + v
            } else {
                (v - t) + sum
            };
            sum = t;
        }
        sum + c
    }

    #[test]
    fn long_dot_is_blocked_whatever_the_thread_count() {
        let n: usize = (1 << 18) + 12_345;
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1013) as f64 * 1e-3 - 0.5)
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|i| ((i * 104_729) % 997) as f64 * 2e-3 - 1.0)
            .collect();
        let blocks = a.chunks(LONG_BLOCK).zip(b.chunks(LONG_BLOCK));
        let serial = sum_in_order(blocks.map(|(x, y)| dot_block(x, y)));
        assert_eq!(dot(&a, &b).to_bits(), serial.to_bits());
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            one_thread.install(|| dot(&a, &b)).to_bits(),
            serial.to_bits()
        );
        let exact = fsum(a.iter().zip(&b).map(|(x, y)| x * y));
        assert!((serial - exact).abs() <= 1e-12 * n as f64);
    }

    #[test]
    fn dot_matches_compensated_sum() {
        let a: Vec<f64> = (0..1003).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..1003).map(|i| (i as f64 * 0.11).cos()).collect();
        let exact = fsum(a.iter().zip(&b).map(|(x, y)| x * y));
        assert!((dot(&a, &b) - exact).abs() < 1e-12);
    }

    #[test]
    fn f32_is_accumulated_in_f64() {
        let a = vec![1.0f32; 200_000];
        let b: Vec<f32> = (0..200_000).map(|i| 1.0 + (i % 7) as f32 * 1e-3).collect();
        let exact = fsum(b.iter().map(|&y| y as f64));
        assert!((dot(&a, &b) - exact).abs() <= 1e-9 * exact);
    }

    #[test]
    fn norms_do_not_overflow_or_underflow() {
        for scale in [1e200, 1e-200, 1e-310] {
            let a = [3.0 * scale, 4.0 * scale];
            let n = norm_l2(&a);
            assert!(
                (n - 5.0 * scale).abs() <= 1e-14 * 5.0 * scale,
                "{scale}: {n}"
            );
        }
        assert_eq!(norm_l2::<f64>(&[]), 0.0);
        assert_eq!(norm_l2(&[0.0, 0.0]), 0.0);
        assert!(norm_l2(&[f64::NAN, 1.0]).is_nan());
        assert_eq!(norm_l2(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!((euclidean(&[1e200, 0.0], &[-2e200, 4e200]) - 5e200).abs() < 1e186);
    }

    #[test]
    fn cosine_follows_sklearn_for_zero_vectors() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine_distance(&[0.0, 0.0], &[1.0, 2.0]), 1.0);
        assert!(
            (cosine(&[1e-200, 0.0], &[1e200, 1e200]) - std::f64::consts::FRAC_1_SQRT_2).abs()
                < 1e-15
        );
        let mut out = [9.0; 2];
        unit_normalize(&[0.0, 0.0], UnitNorm::L2, &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn distances_and_norms() {
        let (a, b) = ([1.0, -2.0, 3.0], [4.0, 0.0, -1.0]);
        assert_eq!(manhattan(&a, &b), 9.0);
        assert_eq!(chebyshev(&a, &b), 4.0);
        assert_eq!(sq_euclidean(&a, &b), 29.0);
        assert_eq!(euclidean(&a, &b), 29f64.sqrt());
        assert_eq!(norm_l1(&a), 6.0);
        assert_eq!(norm_inf(&a), 3.0);
        let mut out = [0.0; 3];
        unit_normalize(&a, UnitNorm::Max, &mut out);
        assert_eq!(out, [1.0 / 3.0, -2.0 / 3.0, 1.0]);
    }
}
