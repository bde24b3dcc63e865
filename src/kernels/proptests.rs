//! Property-based tests of the pure kernels (scaling, quantile, vector,
//! neighbors, segments): no panic on arbitrary `f64` input (NaN, ±inf,
//! subnormals, values near ±1e308), agreement with simple reference
//! implementations, and chunking invariance of the column reductions.
//!
//! The number of cases per property comes from proptest's own
//! `PROPTEST_CASES` environment variable (default 256, the CI smoke run);
//! the expensive properties run a fixed fraction of it. See `docs/fuzzing.md`
//! for the long run. Failures are not persisted to files (the shrunk input is
//! printed instead), so a run never writes into the source tree.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use super::quantile::{
    percentile_linear, percentile_linear_segments, standard_normal_ppf, SortedStats,
};
use super::scaling::{
    block_extent, block_moments, column_extent, column_moments, MinMaxOptions, Moments,
    RobustOptions, Scaler, StandardOptions, StatsError, Transform,
};
use super::search::floats::{matmul, nearest};
use super::search::topk::{rank_row, Metric, TopK};
use super::segments::{first_infinite_row, for_each_valid_block, Segment, Validity, BLOCK};
use super::vector::{self, UnitNorm};

/// proptest's configuration (which reads `PROPTEST_CASES`), with `1/divisor`
/// of the cases for expensive properties and no regression files.
fn config(divisor: u32) -> Config {
    let base = Config::default();
    Config {
        cases: (base.cases / divisor).max(8),
        failure_persistence: None,
        ..base
    }
}

// --------------------------------------------------------------------------
// strategies
// --------------------------------------------------------------------------

/// Any `f64`, with the awkward ones (NaN, ±inf, ±0, subnormals, extremes)
/// much more likely than uniform bit patterns would make them.
fn any_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        4 => any::<f64>(),
        3 => -1e3f64..1e3,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0f64),
        1 => Just(-0.0f64),
        1 => prop_oneof![Just(f64::MAX), Just(f64::MIN), Just(1e308), Just(-1e308)],
        1 => prop_oneof![Just(f64::MIN_POSITIVE), Just(5e-324), Just(-5e-324)],
        1 => prop::num::f64::SUBNORMAL | prop::num::f64::POSITIVE | prop::num::f64::NEGATIVE,
        1 => -1.7e308f64..1.7e308,
    ]
    .boxed()
}

/// Finite values of every magnitude (no NaN, no infinity).
fn finite_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => -1e3f64..1e3,
        2 => prop::num::f64::NORMAL
            | prop::num::f64::SUBNORMAL
            | prop::num::f64::ZERO
            | prop::num::f64::POSITIVE
            | prop::num::f64::NEGATIVE,
        1 => prop_oneof![Just(f64::MAX), Just(f64::MIN), Just(1e308), Just(-1e308)],
        1 => -1.7e308f64..1.7e308,
        1 => prop_oneof![Just(5e-324), Just(-5e-324), Just(0.0), Just(-0.0)],
    ]
    .boxed()
}

/// Values where naive f64 sums are a fair reference (no overflow).
fn moderate() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => -1e6f64..1e6,
        1 => (-100i32..100).prop_map(f64::from),
        1 => Just(0.0f64),
    ]
    .boxed()
}

/// Moderate values with some NaN (which the statistics skip).
fn moderate_or_nan() -> BoxedStrategy<f64> {
    prop_oneof![8 => moderate(), 1 => Just(f64::NAN)].boxed()
}

/// Magnitudes in [1, 1e3] (and zeros), to be scaled by a power of two.
fn unit_magnitude() -> BoxedStrategy<f64> {
    prop_oneof![4 => 1.0f64..1e3, 4 => -1e3f64..-1.0, 1 => Just(0.0f64)].boxed()
}

/// Column lengths that cross the reduction block (`BLOCK` = 2048) boundary.
fn column_len() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..64, 2 => 64usize..2100, 1 => 4000usize..4200]
}

// --------------------------------------------------------------------------
// helpers and references
// --------------------------------------------------------------------------

/// Equal as numbers (so `-0.0 == 0.0`), or both NaN.
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Whether the exact `(x - center) / scale` is within the f64 range (a tiny
/// robust spread can truly send 1e308 beyond it); computed on halves.
fn true_result_fits(t: &Transform, x: f64) -> bool {
    match *t {
        Transform::CenterScale { center, scale } => {
            ((x * 0.5 - center * 0.5) / scale).abs() < f64::MAX / 2.0
        }
        _ => true,
    }
}

/// Whether an affine min-max transform loses the range to cancellation.
fn t_cancels(t: &Transform, width: f64) -> bool {
    matches!(*t, Transform::Affine { offset, .. } if offset.abs() > 1e12 * width.max(1.0))
}

/// `SortedStats` equal field by field in the sense of [`same`].
fn same_stats(a: &SortedStats, b: &SortedStats) -> bool {
    a.count == b.count
        && same(a.min, b.min)
        && same(a.max, b.max)
        && same(a.lower, b.lower)
        && same(a.median, b.median)
        && same(a.upper, b.upper)
}

fn moments_bits(m: &Moments) -> [u64; 5] {
    [m.count, m.mean, m.m2, m.min, m.max].map(f64::to_bits)
}

/// A validity bitmap for `len` rows starting at bit `offset`, where row `i`
/// is valid iff `pattern[i % pattern.len()]`.
fn bitmap(len: usize, offset: usize, pattern: &[bool]) -> Vec<u8> {
    let mut bytes = vec![0u8; (offset + len).div_ceil(8) + 1];
    for i in 0..len {
        if pattern[i % pattern.len()] {
            let bit = offset + i;
            bytes[bit / 8] |= 1 << (bit % 8);
        }
    }
    bytes
}

/// `values` (with an optional bitmap at `offset`) as one segment, and as
/// several segments split at `cuts` (each keeping its place in the bitmap).
fn split_segments<'a>(
    values: &'a [f64],
    validity: Option<(&'a [u8], usize)>,
    cuts: &[Index],
) -> (Vec<Segment<'a, f64>>, Vec<Segment<'a, f64>>) {
    let validity_at = |start: usize| {
        validity.map(|(bytes, offset)| Validity {
            bytes,
            offset: offset + start,
        })
    };
    let whole = vec![Segment::new(values, validity_at(0))];
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(values.len() + 1)).collect();
    points.push(0);
    points.push(values.len());
    points.sort_unstable();
    points.dedup();
    let parts = points
        .windows(2)
        .map(|w| Segment::new(&values[w[0]..w[1]], validity_at(w[0])))
        .collect();
    (whole, parts)
}

/// The valid values of `segments` in row order, and the first valid infinite row.
fn valid_values(segments: &[Segment<'_, f64>]) -> (Vec<f64>, Option<usize>) {
    let mut out = Vec::new();
    let mut first_inf = None;
    let mut base = 0;
    for s in segments {
        for (i, &x) in s.values.iter().enumerate() {
            if s.is_valid(i) {
                if x.is_infinite() && first_inf.is_none() {
                    first_inf = Some(base + i);
                }
                out.push(x);
            }
        }
        base += s.values.len();
    }
    (out, first_inf)
}

/// numpy's `_lerp`, halving first when `b - a` overflows.
fn ref_lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if !diff.is_finite() {
        return 2.0 * ref_lerp(a * 0.5, b * 0.5, t);
    }
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// numpy's `percentile(sorted, q, method="linear")`.
fn ref_percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let i = (below.max(0.0) as usize).min(n - 1);
    ref_lerp(sorted[i], sorted[(i + 1).min(n - 1)], gamma)
}

/// numpy's `median(sorted)`, `(a + b) / 2` without overflow.
fn ref_median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        return sorted[n / 2];
    }
    let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
    if (a + b).is_finite() {
        (a + b) / 2.0
    } else {
        a * 0.5 + b * 0.5
    }
}

fn naive_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// Two vectors of one length (0..=200: crosses the 64-lane and 16-lane widths).
fn vector_pair(element: BoxedStrategy<f64>) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (0usize..=200).prop_flat_map(move |n| {
        (
            prop::collection::vec(element.clone(), n),
            prop::collection::vec(element.clone(), n),
        )
    })
}

fn quantile_range() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        2 => Just((25.0, 75.0)),
        1 => Just((0.0, 100.0)),
        4 => (0.0f64..=100.0, 0.0f64..=100.0).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
    .boxed()
}

// --------------------------------------------------------------------------
// segments
// --------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(4))]

    /// The block walker visits exactly the valid values in row order, in
    /// `ceil(len / BLOCK)` blocks, the same blocks however the column is split.
    #[test]
    fn blocks_hold_the_valid_values_whatever_the_chunking(
        values in column_len().prop_flat_map(|n| prop::collection::vec(any_f64(), n)),
        pattern in prop::collection::vec(any::<bool>(), 1..40),
        use_validity in any::<bool>(),
        offset in 0usize..16,
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let bytes = bitmap(values.len(), offset, &pattern);
        let validity = use_validity.then_some((bytes.as_slice(), offset));
        let (whole, parts) = split_segments(&values, validity, &cuts);
        let collect = |segments: &[Segment<'_, f64>]| {
            let mut blocks: Vec<Vec<u64>> = Vec::new();
            for_each_valid_block::<f64, ()>(segments, |b| {
                blocks.push(b.iter().map(|x| x.to_bits()).collect());
                Ok(())
            })
            .map(|()| blocks)
        };
        let (a, b) = (collect(&whole), collect(&parts));
        prop_assert_eq!(&a, &b);
        let blocks = a.unwrap_or_default();
        prop_assert_eq!(blocks.len(), values.len().div_ceil(BLOCK));
        let flat: Vec<u64> = blocks.into_iter().flatten().collect();
        let (expected, first_inf) = valid_values(&whole);
        let expected: Vec<u64> = expected.iter().map(|x| x.to_bits()).collect();
        prop_assert_eq!(flat, expected);
        prop_assert_eq!(first_infinite_row(&whole), first_inf);
        prop_assert_eq!(first_infinite_row(&parts), first_inf);
    }

    /// A bitmap shorter than the column never panics: missing bits are null.
    #[test]
    fn short_bitmaps_count_as_null(
        values in prop::collection::vec(any_f64(), 0..300),
        bytes in prop::collection::vec(any::<u8>(), 0..4),
        offset in 0usize..64,
    ) {
        let segments = [Segment::new(values.as_slice(), Some(Validity { bytes: &bytes, offset }))];
        let (valid, _) = valid_values(&segments);
        prop_assert!(valid.len() <= bytes.len() * 8);
        let _ = column_moments(&segments);
        let _ = column_extent(&segments);
        let _ = percentile_linear_segments(&segments, (25.0, 75.0));
    }
}

// --------------------------------------------------------------------------
// scaling statistics
// --------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(4))]

    /// `column_moments` and `column_extent` are bit-identical however the
    /// column is split into segments (with or without a validity bitmap),
    /// and name the first infinite row.
    #[test]
    fn reductions_do_not_depend_on_chunking(
        values in column_len().prop_flat_map(|n| prop::collection::vec(any_f64(), n)),
        pattern in prop::collection::vec(any::<bool>(), 1..40),
        use_validity in any::<bool>(),
        offset in 0usize..16,
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let bytes = bitmap(values.len(), offset, &pattern);
        let validity = use_validity.then_some((bytes.as_slice(), offset));
        let (whole, parts) = split_segments(&values, validity, &cuts);
        let (valid, first_inf) = valid_values(&whole);

        let (mw, mp) = (column_moments(&whole), column_moments(&parts));
        match (&mw, &mp) {
            (Ok((a, ua)), Ok((b, ub))) => {
                prop_assert_eq!(moments_bits(a), moments_bits(b));
                prop_assert_eq!(ua.to_bits(), ub.to_bits());
            }
            _ => prop_assert_eq!(&mw, &mp),
        }
        let (ew, ep) = (column_extent(&whole), column_extent(&parts));
        prop_assert_eq!(
            format!("{:?}", ew.as_ref().map(|o| o.map(|(a, b)| (a.to_bits(), b.to_bits())))),
            format!("{:?}", ep.as_ref().map(|o| o.map(|(a, b)| (a.to_bits(), b.to_bits()))))
        );

        // Against the reference: infinity is an error at its row; otherwise
        // count, min and max are exact and the moments finite.
        let finite: Vec<f64> = valid.iter().copied().filter(|x| !x.is_nan()).collect();
        match first_inf {
            Some(row) => {
                prop_assert_eq!(mw.map(|_| ()), Err(StatsError::Infinite { row }));
                prop_assert_eq!(ew.map(|_| ()), Err(StatsError::Infinite { row }));
            }
            None => {
                let (m, unit) = mw.unwrap_or((Moments::EMPTY, f64::NAN));
                prop_assert_eq!(m.count, finite.len() as f64);
                let extent = ew.unwrap_or(Some((f64::NAN, f64::NAN)));
                if finite.is_empty() {
                    prop_assert_eq!(extent, None);
                } else {
                    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    prop_assert_eq!(extent, Some((lo, hi)));
                    prop_assert!(m.mean.is_finite() && m.m2.is_finite() && m.m2 >= -0.0
                        || m.m2.abs() <= f64::EPSILON * m.count,
                        "moments not finite: {:?} unit {}", m, unit);
                    prop_assert!(unit.is_finite() && unit >= 1.0);
                    // In scaled units (unit = 2^k) values below 2^-1074 * unit underflow.
                    prop_assert!((m.min * unit - lo).abs() <= lo.abs() * 1e-15 + unit * 5e-324);
                }
            }
        }
    }

    /// Mean and M2 match a naive two-pass reference on moderate data (NaN skipped).
    #[test]
    fn moments_match_two_pass_reference(
        values in column_len().prop_flat_map(|n| prop::collection::vec(moderate_or_nan(), n)),
    ) {
        let segments = [Segment::new(values.as_slice(), None)];
        let (m, unit) = column_moments(&segments).unwrap_or((Moments::EMPTY, f64::NAN));
        prop_assert_eq!(unit, 1.0);
        let finite: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let n = finite.len() as f64;
        prop_assert_eq!(m.count, n);
        if !finite.is_empty() {
            let mean = finite.iter().sum::<f64>() / n;
            let m2: f64 = finite.iter().map(|x| (x - mean) * (x - mean)).sum();
            let scale: f64 = finite.iter().map(|x| x.abs()).fold(0.0, f64::max);
            let sum_sq: f64 = finite.iter().map(|x| x * x).sum();
            prop_assert!((m.mean - mean).abs() <= 1e-12 * scale + 1e-300, "{} vs {}", m.mean, mean);
            prop_assert!((m.m2 - m2).abs() <= 1e-10 * sum_sq + 1e-300, "{} vs {}", m.m2, m2);
            // Block-level moments agree with the column result on one block.
            if finite.len() == values.len() && values.len() <= BLOCK {
                prop_assert_eq!(moments_bits(&block_moments(&values, 1.0)), moments_bits(&m));
            }
            let (lo, hi) = block_extent(&values);
            prop_assert_eq!((lo, hi), (m.min, m.max));
        }
    }

    /// Every scaler learns a transform from any input without panicking, and
    /// maps finite data (including values near ±1e308 and subnormals) to
    /// finite values in the expected range.
    #[test]
    fn scalers_learn_anything_and_stay_finite(
        values in column_len().prop_flat_map(|n| prop::collection::vec(
            prop_oneof![6 => finite_f64(), 1 => Just(f64::NAN)], n)),
        with_mean in any::<bool>(),
        with_std in any::<bool>(),
        ddof in 0u32..3,
        quantiles in quantile_range(),
        unit_variance in any::<bool>(),
        clip in any::<bool>(),
        low in -10.0f64..10.0,
        width in 0.001f64..100.0,
    ) {
        let segments = [Segment::new(values.as_slice(), None)];
        let feature_range = (low, low + width);
        let (q_lo, q_hi) = quantiles;
        let unit_variance = unit_variance && 0.0 < q_lo && q_lo < q_hi && q_hi < 100.0;
        let scalers = [
            Scaler::MinMax(MinMaxOptions { feature_range, clip }),
            Scaler::Standard(StandardOptions { with_mean, with_std, ddof }),
            Scaler::Robust(RobustOptions {
                with_centering: with_mean,
                with_scaling: with_std,
                quantile_range: quantiles,
                unit_variance,
            }),
            Scaler::MaxAbs,
        ];
        for scaler in scalers {
            let transform = scaler.learn(&segments);
            prop_assert!(transform.is_ok(), "{:?}: {:?}", scaler, transform);
            let Ok(t) = transform else { continue };
            for &x in &values {
                let y = t.apply(x);
                if x.is_nan() {
                    prop_assert!(y.is_nan(), "{:?}: NaN became {}", scaler, y);
                    continue;
                }
                // Centring alone (`with_std=False` / `with_scaling=False`) may
                // truly leave the f64 range: x - mean of [-MAX, MAX] is 2 MAX.
                let centre_only = matches!(scaler, Scaler::Standard(o) if !o.with_std)
                    || matches!(scaler, Scaler::Robust(o) if !o.with_scaling);
                prop_assert!(
                    y.is_finite() || centre_only || !true_result_fits(&t, x),
                    "{:?} maps {} to {} ({:?})", scaler, x, y, t
                );
                match scaler {
                    // scikit-learn's `x * scale + (low - min * scale)` cancels
                    // catastrophically when |min * scale| dwarfs the range (a
                    // constant column of -1e20 maps to 0, not `low`, in
                    // scikit-learn too): only finiteness is checked there.
                    Scaler::MinMax(_) if t_cancels(&t, width) => {}
                    Scaler::MinMax(_) => prop_assert!(
                        y >= low - 1e-9 * width.max(1.0) && y <= low + width + 1e-9 * width.max(1.0),
                        "minmax maps {} to {} outside {:?} ({:?})", x, y, feature_range, t),
                    Scaler::MaxAbs => prop_assert!(y.abs() <= 1.0, "maxabs maps {} to {}", x, y),
                    _ => {}
                }
            }
            // The slice transform is the element transform.
            let out = t.apply_slice(&values);
            prop_assert_eq!(out.len(), values.len());
            for (o, &x) in out.iter().zip(&values) {
                prop_assert!(same(*o, t.apply(x)));
            }
        }
    }

    /// Infinite input is an error naming its row for every scaler, never a panic.
    #[test]
    fn scalers_reject_infinity_at_its_row(
        values in prop::collection::vec(any_f64(), 0..300),
    ) {
        let segments = [Segment::new(values.as_slice(), None)];
        let first_inf = values.iter().position(|x| x.is_infinite());
        let options = RobustOptions {
            with_centering: true,
            with_scaling: true,
            quantile_range: (25.0, 75.0),
            unit_variance: false,
        };
        for scaler in [
            Scaler::MinMax(MinMaxOptions { feature_range: (0.0, 1.0), clip: false }),
            Scaler::Standard(StandardOptions { with_mean: true, with_std: true, ddof: 0 }),
            Scaler::Robust(options),
            Scaler::MaxAbs,
        ] {
            let learned = scaler.learn(&segments);
            match first_inf {
                Some(row) => prop_assert_eq!(learned.map(|_| ()), Err(StatsError::Infinite { row })),
                None => prop_assert!(learned.is_ok()),
            }
        }
    }
}

// --------------------------------------------------------------------------
// quantiles
// --------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(4))]

    /// Selection gives numpy's linear percentiles and median of the sorted
    /// column, exactly, for finite values of any magnitude; the bucketed
    /// segment version gives the same as selection on a copy.
    #[test]
    fn percentiles_match_the_sorted_reference(
        values in column_len().prop_flat_map(|n| prop::collection::vec(finite_f64(), n)),
        quantiles in quantile_range(),
        cuts in prop::collection::vec(any::<Index>(), 0..4),
    ) {
        let mut copy = values.clone();
        let full = percentile_linear(&mut copy, quantiles);
        let (whole, parts) = split_segments(&values, None, &cuts);
        let bucketed = percentile_linear_segments(&whole, quantiles);
        let bucketed_parts = percentile_linear_segments(&parts, quantiles);
        prop_assert!(bucketed.is_ok_and(|b| same_stats(&b, &full)), "{:?} vs {:?}", bucketed, full);
        prop_assert!(
            bucketed_parts.is_ok_and(|b| same_stats(&b, &full)),
            "{:?} vs {:?}", bucketed_parts, full
        );
        prop_assert_eq!(full.count, values.len());
        if values.is_empty() {
            prop_assert!(full.median.is_nan());
        } else {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            prop_assert!(same(full.min, sorted[0]) && same(full.max, sorted[n - 1]));
            prop_assert!(same(full.median, ref_median(&sorted)), "median {} vs {}", full.median, ref_median(&sorted));
            let (lo, hi) = (ref_percentile(&sorted, quantiles.0), ref_percentile(&sorted, quantiles.1));
            prop_assert!(same(full.lower, lo), "lower {} vs {}", full.lower, lo);
            prop_assert!(same(full.upper, hi), "upper {} vs {}", full.upper, hi);
            prop_assert!(full.lower <= full.upper);
        }
    }

    /// With NaN, infinity and nulls mixed in: NaN and nulls are skipped,
    /// infinity is an error at its row, never a panic.
    #[test]
    fn percentiles_skip_nan_and_reject_infinity(
        values in prop::collection::vec(any_f64(), 0..600),
        pattern in prop::collection::vec(any::<bool>(), 1..20),
        quantiles in quantile_range(),
    ) {
        let bytes = bitmap(values.len(), 3, &pattern);
        let segments = [Segment::new(values.as_slice(), Some(Validity { bytes: &bytes, offset: 3 }))];
        let (valid, first_inf) = valid_values(&segments);
        let got = percentile_linear_segments(&segments, quantiles);
        match first_inf {
            Some(row) => prop_assert_eq!(got, Err(row)),
            None => {
                let mut kept: Vec<f64> = valid.into_iter().filter(|x| !x.is_nan()).collect();
                let expected = percentile_linear(&mut kept, quantiles);
                prop_assert!(got.is_ok_and(|g| same_stats(&g, &expected)), "{:?} vs {:?}", got, expected);
            }
        }
    }

    /// The normal quantile function never panics, is monotone, and inverts
    /// the normal CDF.
    #[test]
    fn normal_ppf_is_monotone_and_inverts_the_cdf(p in any_f64(), q in 1e-300f64..1.0) {
        let x = standard_normal_ppf(p);
        if !(0.0..=1.0).contains(&p) || p.is_nan() {
            prop_assert!(x.is_nan());
        }
        let (a, b) = (p.clamp(0.0, 1.0), q);
        if !p.is_nan() {
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(standard_normal_ppf(lo) <= standard_normal_ppf(hi));
        }
        if q <= 0.5 {
            let x = standard_normal_ppf(q);
            let cdf = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
            prop_assert!((cdf - q).abs() <= 1e-12 * q, "ppf({}) = {}, cdf = {}", q, x, cdf);
        }
    }
}

// --------------------------------------------------------------------------
// vector kernels
// --------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1))]

    /// No vector kernel panics on any input, and the results keep their
    /// invariants (norms >= 0 or NaN, cosine in [-1, 1], cosine distance in [0, 2]).
    #[test]
    fn vector_kernels_never_panic((a, b) in vector_pair(any_f64())) {
        let results = [
            vector::dot(&a, &b),
            vector::sum_sq(&a),
            vector::manhattan(&a, &b),
            vector::norm_l1(&a),
            vector::chebyshev(&a, &b),
            vector::norm_inf(&a),
            vector::norm_l2(&a),
            vector::euclidean(&a, &b),
            vector::sq_euclidean(&a, &b),
        ];
        for r in &results[1..] {
            prop_assert!(r.is_nan() || *r >= 0.0, "{:?}", results);
        }
        let c = vector::cosine(&a, &b);
        prop_assert!(c.is_nan() || (-1.0 - 1e-12..=1.0 + 1e-12).contains(&c), "cosine {}", c);
        let cd = vector::cosine_distance(&a, &b);
        prop_assert!(cd.is_nan() || (0.0..=2.0).contains(&cd));
        for norm in [UnitNorm::L1, UnitNorm::L2, UnitNorm::Max] {
            let mut out = vec![0.0; a.len()];
            vector::unit_normalize(&a, norm, &mut out);
            let mut pushed = Vec::new();
            vector::unit_normalize_into(&a, norm, &mut pushed);
            prop_assert_eq!(out.len(), pushed.len());
            for (x, y) in out.iter().zip(&pushed) {
                prop_assert!(same(*x, *y));
            }
        }
        let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
        let _ = (vector::dot(&a32, &b32), vector::norm_l2(&a32), vector::cosine(&a32, &b32));
        let _ = (vector::euclidean(&a32, &b32), vector::chebyshev(&a32, &b32));
    }

    /// On moderate values every kernel matches the naive formula.
    #[test]
    fn vector_kernels_match_naive_references((a, b) in vector_pair(moderate())) {
        let tol = |bound: f64| 1e-12 * bound + 1e-300;
        let dot = naive_dot(&a, &b);
        prop_assert!((vector::dot(&a, &b) - dot).abs() <= tol(abs_dot(&a, &b)));
        let ss = naive_dot(&a, &a);
        prop_assert!((vector::sum_sq(&a) - ss).abs() <= tol(ss));
        prop_assert!((vector::norm_l2(&a) - ss.sqrt()).abs() <= tol(ss.sqrt()));
        let l1: f64 = a.iter().map(|x| x.abs()).sum();
        prop_assert!((vector::norm_l1(&a) - l1).abs() <= tol(l1));
        let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let man: f64 = diffs.iter().map(|d| d.abs()).sum();
        prop_assert!((vector::manhattan(&a, &b) - man).abs() <= tol(man));
        let sq: f64 = diffs.iter().map(|d| d * d).sum();
        prop_assert!((vector::sq_euclidean(&a, &b) - sq).abs() <= tol(sq));
        prop_assert!((vector::euclidean(&a, &b) - sq.sqrt()).abs() <= tol(sq.sqrt()));
        let cheb = diffs.iter().map(|d| d.abs()).fold(0.0, f64::max);
        prop_assert_eq!(vector::chebyshev(&a, &b), cheb);
        prop_assert_eq!(vector::norm_inf(&a), a.iter().map(|x| x.abs()).fold(0.0, f64::max));
        let (na, nb) = (ss.sqrt(), naive_dot(&b, &b).sqrt());
        let cosine = if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) };
        let got = vector::cosine(&a, &b);
        prop_assert!((got - cosine).abs() <= 1e-12, "cosine {} vs {}", got, cosine);
        prop_assert!((vector::cosine_distance(&a, &b) - (1.0 - cosine).clamp(0.0, 2.0)).abs() <= 1e-12);
        // f32 input is accumulated in f64.
        let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
        let (a64, b64): (Vec<f64>, Vec<f64>) = (
            a32.iter().map(|&x| f64::from(x)).collect(),
            b32.iter().map(|&x| f64::from(x)).collect(),
        );
        prop_assert!((vector::dot(&a32, &b32) - naive_dot(&a64, &b64)).abs() <= tol(abs_dot(&a64, &b64)));
    }

    /// Unit normalisation gives norm 1 (or leaves near-zero vectors alone).
    #[test]
    fn unit_normalize_gives_unit_norm(a in prop::collection::vec(moderate(), 0..200)) {
        for norm in [UnitNorm::L1, UnitNorm::L2, UnitNorm::Max] {
            let n = match norm {
                UnitNorm::L1 => a.iter().map(|x| x.abs()).sum::<f64>(),
                UnitNorm::L2 => naive_dot(&a, &a).sqrt(),
                UnitNorm::Max => a.iter().map(|x| x.abs()).fold(0.0, f64::max),
            };
            let mut out = vec![f64::NAN; a.len()];
            vector::unit_normalize(&a, norm, &mut out);
            if n < 10.0 * f64::EPSILON {
                prop_assert_eq!(&out, &a);
            } else {
                let got = match norm {
                    UnitNorm::L1 => vector::norm_l1(&out),
                    UnitNorm::L2 => vector::norm_l2(&out),
                    UnitNorm::Max => vector::norm_inf(&out),
                };
                prop_assert!((got - 1.0).abs() <= 1e-12, "{:?}: {}", norm, got);
            }
        }
    }

    /// Norms, distances and cosine neither overflow nor underflow where the
    /// true result fits: vectors scaled by 2^e (|e| <= 660, i.e. 1e±200)
    /// give the unscaled result times 2^e.
    #[test]
    fn scaled_vectors_neither_overflow_nor_underflow(
        (a, b) in vector_pair(unit_magnitude()),
        e in -660i32..=660,
        e2 in -660i32..=660,
    ) {
        let (s, s2) = (2f64.powi(e), 2f64.powi(e2));
        let (sa, sb): (Vec<f64>, Vec<f64>) = (a.iter().map(|x| x * s).collect(), b.iter().map(|x| x * s).collect());
        let rel = |got: f64, want: f64| (got - want).abs() <= 1e-13 * want.abs();
        let norm = naive_dot(&a, &a).sqrt();
        prop_assert!(rel(vector::norm_l2(&sa), norm * s), "norm {} vs {}", vector::norm_l2(&sa), norm * s);
        let dist: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        prop_assert!(rel(vector::euclidean(&sa, &sb), dist * s));
        let sb2: Vec<f64> = b.iter().map(|x| x * s2).collect();
        let cosine = vector::cosine(&a, &b);
        prop_assert!((vector::cosine(&sa, &sb2) - cosine).abs() <= 1e-12,
            "cosine {} vs {}", vector::cosine(&sa, &sb2), cosine);
    }
}

// --------------------------------------------------------------------------
// neighbours
// --------------------------------------------------------------------------

/// The best `k` of `(key, index, score)` by sorting: key descending (total
/// order), ties to the lower index, NaN keys dropped.
fn ref_top_k(items: &[(f64, u32, f64)], k: usize) -> Vec<(u32, u64)> {
    let mut kept: Vec<_> = items.iter().filter(|c| !c.0.is_nan()).copied().collect();
    // -0.0 and +0.0 are one score (ties to the lower index).
    kept.sort_by(|a, b| (b.0 + 0.0).total_cmp(&(a.0 + 0.0)).then(a.1.cmp(&b.1)));
    kept.into_iter()
        .take(k)
        .map(|c| (c.1, c.2.to_bits()))
        .collect()
}

fn sorted_bits(top: TopK) -> Vec<(u32, u64)> {
    top.into_sorted()
        .into_iter()
        .map(|(i, s)| (i, s.to_bits()))
        .collect()
}

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::Cosine),
        Just(Metric::Dot),
        Just(Metric::Euclidean)
    ]
}

/// Small integers, so every product and sum is exact.
fn small_int(zero: bool) -> BoxedStrategy<f64> {
    if zero {
        (-8i32..=8).prop_map(f64::from).boxed()
    } else {
        prop_oneof![(-8i32..=-1), (1i32..=8)]
            .prop_map(f64::from)
            .boxed()
    }
}

/// `n` rows of `d` small integers.
fn integer_rows(
    max_rows: impl Strategy<Value = usize>,
    zero: bool,
) -> impl Strategy<Value = (usize, Vec<Vec<f64>>)> {
    (1usize..8, max_rows).prop_flat_map(move |(d, n)| {
        (
            Just(d),
            prop::collection::vec(prop::collection::vec(small_int(zero), d), n),
        )
    })
}

/// `nearest` against a brute-force scan of the same rows with `rank_row`.
fn check_nearest(
    d: usize,
    data: &[Vec<f64>],
    queries: &[f64],
    k: usize,
    metric: Metric,
    skip: usize,
) -> Result<(), TestCaseError> {
    let m = (queries.len() / d).max(1);
    let queries: Vec<f64> = queries.iter().cycle().take(m * d).copied().collect();
    // Some rows left out, as null rows are.
    let rows: Vec<(u32, &[f64])> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| skip == 0 || i % (skip + 3) != 1)
        .map(|(i, r)| (i as u32, r.as_slice()))
        .collect();
    let got = nearest(&queries, m, d, k, metric, rows.iter().copied());
    prop_assert_eq!(got.len(), m);
    for (q, found) in got.iter().enumerate() {
        let query = &queries[q * d..(q + 1) * d];
        let mut top = TopK::new(k);
        for &(i, row) in &rows {
            let (key, score) = rank_row(metric, row, query);
            top.push(key, i, score);
        }
        let expected = top.into_sorted();
        let ids: Vec<u32> = found.iter().map(|x| x.0).collect();
        let eids: Vec<u32> = expected.iter().map(|x| x.0).collect();
        prop_assert_eq!(ids, eids, "{:?}, query {:?}", metric, query);
        for (a, b) in found.iter().zip(&expected) {
            prop_assert!(
                (a.1 - b.1).abs() <= 1e-12 * b.1.abs().max(1.0),
                "{} vs {}",
                a.1,
                b.1
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1))]

    /// Bounded top-k equals sorting everything (ties to the lower position,
    /// NaN never kept), and merging partial searches gives the same.
    #[test]
    fn top_k_matches_sorting(
        keys in prop::collection::vec(prop_oneof![any_f64(), (-3i32..3).prop_map(f64::from)], 0..300),
        k in 0usize..20,
        cut in any::<Index>(),
    ) {
        let items: Vec<(f64, u32, f64)> =
            keys.iter().enumerate().map(|(i, &key)| (key, i as u32, key * 0.5)).collect();
        let mut whole = TopK::new(k);
        for &(key, i, s) in &items {
            whole.push(key, i, s);
        }
        let expected = ref_top_k(&items, k);
        prop_assert_eq!(sorted_bits(whole), expected.clone());
        let split = cut.index(items.len() + 1);
        let (mut left, mut right) = (TopK::new(k), TopK::new(k));
        for &(key, i, s) in &items[..split] {
            left.push(key, i, s);
        }
        for &(key, i, s) in &items[split..] {
            right.push(key, i, s);
        }
        right.merge(left);
        prop_assert_eq!(sorted_bits(right), expected);
    }

    /// `matmul` equals the naive triple loop (exact on small integers), and
    /// refuses mismatched lengths without touching the output.
    #[test]
    fn matmul_matches_naive(
        (rows, d, k) in (0usize..12, 0usize..10, 0usize..10),
        seed in prop::collection::vec((-8i32..=8).prop_map(f64::from), 300),
        wrong in 0usize..3,
    ) {
        let x: Vec<f64> = seed.iter().cycle().take(rows * d).copied().collect();
        let m: Vec<f64> = seed.iter().rev().cycle().take(d * k).copied().collect();
        let mut out = vec![f64::NAN; rows * k];
        prop_assert!(matmul(&x, rows, d, &m, k, &mut out));
        for r in 0..rows {
            for j in 0..k {
                let e: f64 = (0..d).map(|i| x[r * d + i] * m[i * k + j]).sum();
                prop_assert_eq!(out[r * k + j], e);
            }
        }
        if wrong > 0 {
            let mut bad = vec![7.0; rows * k + wrong];
            prop_assert!(!matmul(&x, rows, d, &m, k, &mut bad));
            prop_assert!(bad.iter().all(|&v| v == 7.0));
        }
    }

    /// `nearest` (blocked matrix product, parallel row ranges) finds the same
    /// rows with the same scores as a brute-force scan with `rank_row`
    /// (non-zero integers: no score is a signed zero, see the next property).
    #[test]
    fn nearest_matches_brute_force(
        (d, data) in integer_rows(prop_oneof![8 => 0usize..600, 1 => 4090usize..4400], false),
        queries in prop::collection::vec(small_int(false), 1..40),
        k in 1usize..12,
        metric in metric(),
        skip in 0usize..5,
    ) {
        check_nearest(d, &data, &queries, k, metric, skip)?;
    }

    /// `nearest` never panics on arbitrary values (NaN, ±inf, huge) and
    /// returns at most `k` rows per query, best first, no NaN score ranked.
    #[test]
    fn nearest_never_panics(
        d in 1usize..6,
        values in prop::collection::vec(any_f64(), 0..400),
        queries in prop::collection::vec(any_f64(), 1..20),
        k in 0usize..8,
        metric in metric(),
    ) {
        let m = (queries.len() / d).max(1);
        let queries: Vec<f64> = queries.iter().cycle().take(m * d).copied().collect();
        let rows: Vec<(u32, &[f64])> =
            values.chunks_exact(d).enumerate().map(|(i, r)| (i as u32, r)).collect();
        let got = nearest(&queries, m, d, k, metric, rows.iter().copied());
        prop_assert_eq!(got.len(), m);
        for found in &got {
            prop_assert!(found.len() <= k.min(rows.len()));
            let mut seen: Vec<u32> = found.iter().map(|x| x.0).collect();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), found.len());
        }
        let v32: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let rows32: Vec<(u32, &[f32])> =
            v32.chunks_exact(d).enumerate().map(|(i, r)| (i as u32, r)).collect();
        let _ = nearest(&queries, m, d, k, metric, rows32.iter().copied());
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// Zero-length vectors (an `Array(f64, 0)` column, or queries of width 0
    /// against empty list rows): `nearest` must not panic. Every row scores
    /// the same (dot 0, cosine 0, distance 0), so the first `k` rows win.
    #[test]
    fn nearest_zero_dim_does_not_panic(
        n in 1usize..20,
        m in 1usize..4,
        k in 1usize..5,
        metric in metric(),
    ) {
        let empty: [f64; 0] = [];
        let rows: Vec<(u32, &[f64])> = (0..n).map(|i| (i as u32, &empty[..])).collect();
        let got = std::panic::catch_unwind(|| {
            nearest(&[], m, 0, k, metric, rows.iter().copied())
        });
        prop_assert!(got.is_ok(), "nearest panicked on d = 0 (n={}, m={}, k={}, {:?})", n, m, k, metric);
        if let Ok(got) = got {
            for found in got {
                let ids: Vec<u32> = found.iter().map(|x| x.0).collect();
                prop_assert_eq!(ids, (0..k.min(n) as u32).collect::<Vec<_>>());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// With zeros in rows or queries some scores are exactly zero; they tie,
    /// and ties go to the lower position ("ties to the lower position") just
    /// as in the brute-force scan, whatever the sign of the zero the matrix
    /// product happened to produce.
    #[test]
    fn nearest_zero_scores_tie_to_the_lower_position(
        (d, data) in integer_rows(0usize..300, true),
        queries in prop::collection::vec(small_int(true), 1..40),
        k in 1usize..12,
        metric in metric(),
    ) {
        check_nearest(d, &data, &queries, k, metric, 0)?;
    }
}
