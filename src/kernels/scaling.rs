//! Column statistics and transforms for the four scikit-learn scalers.
//!
//! Statistics skip NaN (nulls are already removed by the block walker), are
//! accumulated in `f64`, and follow scikit-learn's rules for near-zero scales
//! exactly. Values near ±1e308 never overflow: moments are recomputed on
//! input pre-scaled by a power of two (which is exact) when the plain pass
//! overflows, and the transform halves its operands when `x - center` could.

use std::mem::MaybeUninit;

use super::element::Element;
use super::parallel;
use super::quantile::{percentile_linear_segments, standard_normal_ppf, SortedStats};
use super::segments::{first_infinite_row, for_each_valid_block, Segment, BLOCK};

/// Why statistics could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsError {
    /// An infinite value at this logical row (scikit-learn rejects infinity).
    Infinite { row: usize },
}

impl StatsError {
    /// The message a user sees. `axis` names where in a vector or matrix the
    /// value sits (`("dimension", j)` for a vector column, `("column", j)`
    /// for a 2-D array).
    pub fn message(&self, function: &str, axis: Option<(&str, usize)>) -> String {
        match self {
            StatsError::Infinite { row } => {
                let place = match axis {
                    Some((name, j)) => format!("row {row}, {name} {j}"),
                    None => format!("row {row}"),
                };
                format!(
                    "{function}: input contains infinity at {place}; scaling needs finite values \
                     (as in scikit-learn), so replace or drop it first"
                )
            }
        }
    }
}

/// Count, mean and sum of squared deviations (M2), plus the extent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub count: f64,
    pub mean: f64,
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Moments {
    pub const EMPTY: Moments = Moments {
        count: 0.0,
        mean: 0.0,
        m2: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Chan et al.'s exact merge of two partial results.
    pub fn merge(self, other: Moments) -> Moments {
        if other.count == 0.0 {
            return self;
        }
        if self.count == 0.0 {
            return other;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let mean = self.mean + delta * (other.count / count);
        let m2 = self.m2 + other.m2 + delta * delta * (self.count * other.count / count);
        Moments {
            count,
            mean,
            m2,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

const LANES: usize = 8;

crate::by_level! {
    [avx512, avx2]
    /// Moments of one block of values (NaN skipped), each multiplied by `factor`
    /// (a power of two, so exact). Two passes over the block, as scikit-learn's
    /// `_incremental_mean_and_var` does over the column, with its correction term.
    pub fn block_moments<T: Element>(values: &[T], factor: f64) -> Moments {
        let mut counts = [0.0f64; LANES];
        let mut sums = [0.0f64; LANES];
        let mut mins = [f64::INFINITY; LANES];
        let mut maxs = [f64::NEG_INFINITY; LANES];
        let chunks = values.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for lane in 0..LANES {
                let x = chunk[lane].to_f64() * factor;
                let keep = !x.is_nan();
                counts[lane] += if keep { 1.0 } else { 0.0 };
                sums[lane] += if keep { x } else { 0.0 };
                mins[lane] = if x < mins[lane] { x } else { mins[lane] };
                maxs[lane] = if x > maxs[lane] { x } else { maxs[lane] };
            }
        }
        for (lane, value) in tail.iter().enumerate() {
            let x = value.to_f64() * factor;
            if !x.is_nan() {
                counts[lane] += 1.0;
                sums[lane] += x;
                mins[lane] = mins[lane].min(x);
                maxs[lane] = maxs[lane].max(x);
            }
        }
        let count: f64 = counts.iter().sum();
        if count == 0.0 {
            return Moments::EMPTY;
        }
        let mean = sums.iter().sum::<f64>() / count;

        let mut corrections = [0.0f64; LANES];
        let mut squares = [0.0f64; LANES];
        let chunks = values.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for lane in 0..LANES {
                let d = chunk[lane].to_f64() * factor - mean;
                let d = if d.is_nan() { 0.0 } else { d };
                corrections[lane] += d;
                squares[lane] += d * d;
            }
        }
        for (lane, value) in tail.iter().enumerate() {
            let d = value.to_f64() * factor - mean;
            if !d.is_nan() {
                corrections[lane] += d;
                squares[lane] += d * d;
            }
        }
        let correction: f64 = corrections.iter().sum();
        let m2 = squares.iter().sum::<f64>() - correction * correction / count;
        Moments {
            count,
            mean,
            m2,
            min: mins.iter().copied().fold(f64::INFINITY, f64::min),
            max: maxs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

fn moments_with_factor<T: Element>(segments: &[Segment<'_, T>], factor: f64) -> Moments {
    if let Some(values) = dense_large(segments) {
        // The same blocks the walker would visit, computed in parallel and
        // merged in order: bit-identical to the sequential result.
        let partials: Vec<Vec<Moments>> = parallel::map_chunks(values, PARALLEL_CHUNK, |part| {
            part.chunks(BLOCK)
                .map(|b| block_moments(b, factor))
                .collect()
        });
        // One merge per BLOCK in row order, exactly as the sequential walker.
        return partials
            .into_iter()
            .flatten()
            .fold(Moments::EMPTY, Moments::merge);
    }
    let mut total = Moments::EMPTY;
    let _ = for_each_valid_block::<T, ()>(segments, |block| {
        total = total.merge(block_moments(block, factor));
        Ok(())
    });
    total
}

/// The values of a column worth reducing in parallel: one chunk, no nulls,
/// at least `PARALLEL_MIN_LEN` long.
fn dense_large<'a, T>(segments: &[Segment<'a, T>]) -> Option<&'a [T]> {
    match segments {
        [only] if only.validity.is_none() && only.values.len() >= PARALLEL_MIN_LEN => {
            Some(only.values)
        }
        _ => None,
    }
}

/// Moments of a column, in the column's own units. Errors on infinity. When
/// the plain pass overflows (values near ±1e308), the moments are recomputed
/// on the column scaled by `2^-k` and reported as `(moments, 2^k)`: the true
/// mean is `mean * 2^k` and the true M2 is `m2 * 4^k` (which may not fit).
pub fn column_moments<T: Element>(
    segments: &[Segment<'_, T>],
) -> Result<(Moments, f64), StatsError> {
    let plain = moments_with_factor(segments, 1.0);
    if plain.count > 0.0 && (plain.min.is_infinite() || plain.max.is_infinite()) {
        if let Some(row) = first_infinite_row(segments) {
            return Err(StatsError::Infinite { row });
        }
    }
    if plain.count == 0.0 || (plain.mean.is_finite() && plain.m2.is_finite()) {
        return Ok((plain, 1.0));
    }
    // Overflow without infinite input: rescale so the largest magnitude is
    // about 2^400, where squares summed over any realistic row count fit and
    // small values stay normal. 2^k itself stays representable (k <= 624).
    let largest = plain.max.abs().max(plain.min.abs());
    let exponent = (largest.log2().ceil() - 400.0).max(0.0);
    let scaled = moments_with_factor(segments, (-exponent).exp2());
    Ok((scaled, exponent.exp2()))
}

/// Minimum and maximum of a column (NaN skipped); `None` when no value is left.
pub fn column_extent<T: Element>(
    segments: &[Segment<'_, T>],
) -> Result<Option<(f64, f64)>, StatsError> {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    if let Some(values) = dense_large(segments) {
        // Min and max are exact, so any split gives the same answer.
        let parts = parallel::map_chunks(values, PARALLEL_CHUNK, block_extent);
        (min, max) = parts
            .into_iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, b| {
                (a.0.min(b.0), a.1.max(b.1))
            });
    } else {
        let _ = for_each_valid_block::<T, ()>(segments, |block| {
            let (lo, hi) = block_extent(block);
            min = min.min(lo);
            max = max.max(hi);
            Ok(())
        });
    }
    if min.is_infinite() || max.is_infinite() {
        if let Some(row) = first_infinite_row(segments) {
            return Err(StatsError::Infinite { row });
        }
    }
    Ok(if min <= max { Some((min, max)) } else { None })
}

/// Minimum and maximum of a block, NaN skipped (comparisons with NaN are false).
pub fn block_extent<T: Element>(values: &[T]) -> (f64, f64) {
    let mut mins = [f64::INFINITY; LANES];
    let mut maxs = [f64::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            let x = chunk[lane].to_f64();
            mins[lane] = if x < mins[lane] { x } else { mins[lane] };
            maxs[lane] = if x > maxs[lane] { x } else { maxs[lane] };
        }
    }
    for (lane, value) in tail.iter().enumerate() {
        let x = value.to_f64();
        mins[lane] = if x < mins[lane] { x } else { mins[lane] };
        maxs[lane] = if x > maxs[lane] { x } else { maxs[lane] };
    }
    (
        mins.iter().copied().fold(f64::INFINITY, f64::min),
        maxs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

/// scikit-learn's `_handle_zeros_in_scale`: a scale below `10 * eps` of the
/// data's dtype counts as 1.
pub fn handle_zeros_in_scale<T: Element>(scale: f64) -> f64 {
    if scale < 10.0 * T::EPSILON {
        1.0
    } else {
        scale
    }
}

/// How a column is mapped to its scaled values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// `x * scale + offset`, optionally clipped to `clip` (MinMaxScaler).
    Affine {
        scale: f64,
        offset: f64,
        clip: Option<(f64, f64)>,
    },
    /// `(x - center) / scale` (Standard, Robust and MaxAbs scalers).
    CenterScale { center: f64, scale: f64 },
    /// `(x/2 - half_center) / half_scale + offset`, optionally clipped: the
    /// same maps for data spanning more than `f64::MAX`, where `x - center`
    /// (or the scale itself) would overflow or a min-max scale be subnormal.
    HalvedCenterScale {
        half_center: f64,
        half_scale: f64,
        offset: f64,
        clip: Option<(f64, f64)>,
    },
}

impl Transform {
    /// The identity: used when a column has no value to learn from, so NaN
    /// stays NaN and nulls stay null.
    pub const IDENTITY: Transform = Transform::CenterScale {
        center: 0.0,
        scale: 1.0,
    };

    /// `(x - center) / scale`, switching to halved operands when `x - center`
    /// can overflow for some `x` in `[min, max]` or `scale` is not finite.
    fn center_scale(center: f64, scale: f64, half_scale: f64, min: f64, max: f64) -> Transform {
        let overflows = !(max - center).is_finite() || !(center - min).is_finite();
        if overflows || !scale.is_finite() {
            Transform::HalvedCenterScale {
                half_center: center * 0.5,
                half_scale,
                offset: 0.0,
                clip: None,
            }
        } else {
            Transform::CenterScale { center, scale }
        }
    }

    #[inline(always)]
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            Transform::Affine {
                scale,
                offset,
                clip,
            } => clip_to(x * scale + offset, clip),
            Transform::CenterScale { center, scale } => (x - center) / scale,
            Transform::HalvedCenterScale {
                half_center,
                half_scale,
                offset,
                clip,
            } => clip_to((x * 0.5 - half_center) / half_scale + offset, clip),
        }
    }

    /// The transform as `(x * mul - sub) / div + add`, then clipped to
    /// [`clip`](Transform::clip): one formula for every variant. Each step,
    /// in this order and in `f64`, gives the same bits as
    /// [`apply`](Transform::apply); the steps a variant does not use are
    /// identities (`* 1`, `- (+0)`, `/ 1`, `+ (-0)`), which IEEE arithmetic
    /// keeps exact for every value, signed zeros and NaN included. The
    /// fitted scalers build their Polars expressions from these numbers.
    pub fn coefficients(&self) -> [f64; 4] {
        match *self {
            Transform::Affine { scale, offset, .. } => [scale, 0.0, 1.0, offset],
            Transform::CenterScale { center, scale } => [1.0, center, scale, -0.0],
            Transform::HalvedCenterScale {
                half_center,
                half_scale,
                offset,
                ..
            } => [0.5, half_center, half_scale, offset],
        }
    }

    /// The transform of [`coefficients`](Transform::coefficients) and
    /// [`clip`](Transform::clip), as the fitted scalers hand it back.
    pub fn from_coefficients([mul, sub, div, add]: [f64; 4], clip: Option<(f64, f64)>) -> Self {
        let is = |value: f64, bits: f64| value.to_bits() == bits.to_bits();
        if is(mul, 1.0) && is(add, -0.0) && clip.is_none() {
            Transform::CenterScale {
                center: sub,
                scale: div,
            }
        } else if is(sub, 0.0) && is(div, 1.0) {
            Transform::Affine {
                scale: mul,
                offset: add,
                clip,
            }
        } else if is(mul, 0.5) {
            Transform::HalvedCenterScale {
                half_center: sub,
                half_scale: div,
                offset: add,
                clip,
            }
        } else {
            // Not a form `coefficients` gives; NaN rather than a guess.
            Transform::CenterScale {
                center: f64::NAN,
                scale: f64::NAN,
            }
        }
    }

    /// The value `y` came from: scikit-learn's `inverse_transform`
    /// (`(y - min_) / scale_` for min-max, `y * scale_ + center` otherwise),
    /// in halves where the forward map was halved. Clipping is not undone.
    #[inline(always)]
    pub fn invert(&self, y: f64) -> f64 {
        match *self {
            Transform::Affine { scale, offset, .. } => (y - offset) / scale,
            Transform::CenterScale { center, scale } => y * scale + center,
            Transform::HalvedCenterScale {
                half_center,
                half_scale,
                offset,
                ..
            } => ((y - offset) * half_scale + half_center) * 2.0,
        }
    }

    /// The bounds the output is clipped to, if any.
    pub fn clip(&self) -> Option<(f64, f64)> {
        match *self {
            Transform::Affine { clip, .. } | Transform::HalvedCenterScale { clip, .. } => clip,
            Transform::CenterScale { .. } => None,
        }
    }

    /// The transformed `input`, as a new vector (written without a zeroing
    /// pass). Large columns are split over threads; every element is
    /// computed the same way either way.
    pub fn apply_slice<T: Element>(&self, input: &[T]) -> Vec<T> {
        let mut out: Vec<T> = Vec::with_capacity(input.len());
        self.apply_to(input, &mut out.spare_capacity_mut()[..input.len()]);
        // SAFETY: `apply_to` wrote every one of the first `input.len()` slots.
        unsafe { out.set_len(input.len()) };
        out
    }

    /// Writes the transformed `input` into `out` (the same length, possibly
    /// uninitialised, e.g. a buffer numpy allocated), as `apply_slice` does.
    pub fn apply_to<T: Element>(&self, input: &[T], out: &mut [MaybeUninit<T>]) {
        if input.len() < PARALLEL_MIN_LEN {
            apply_into(self, input, out);
        } else {
            parallel::zip_chunks_mut(input, out, PARALLEL_CHUNK, |i, o| apply_into(self, i, o));
        }
    }
}

/// Columns at least this long are scaled and reduced on several threads.
pub const PARALLEL_MIN_LEN: usize = 1 << 19;
/// Elements per parallel task (a multiple of the reduction block).
const PARALLEL_CHUNK: usize = BLOCK * 64;

crate::by_level! {
    [avx512, avx2]
    /// Writes `transform(input)` into `out` (same length) without reading it, so
    /// no zeroing pass is needed. One tight, vectorisable loop per variant,
    /// compiled for AVX-512 and AVX2 as well.
    fn apply_into<T: Element>(transform: &Transform, input: &[T], out: &mut [MaybeUninit<T>]) {
        match *transform {
            Transform::Affine {
                scale,
                offset,
                clip: None,
            } => {
                for (o, &x) in out.iter_mut().zip(input) {
                    o.write(T::from_f64(x.to_f64() * scale + offset));
                }
            }
            Transform::CenterScale { center, scale } => {
                for (o, &x) in out.iter_mut().zip(input) {
                    o.write(T::from_f64((x.to_f64() - center) / scale));
                }
            }
            _ => {
                for (o, &x) in out.iter_mut().zip(input) {
                    o.write(T::from_f64(transform.apply(x.to_f64())));
                }
            }
        }
    }
}

/// Clips `y` to `[lo, hi]`; NaN stays NaN (unlike `f64::max`, which would
/// replace it with a bound).
#[inline(always)]
fn clip_to(y: f64, clip: Option<(f64, f64)>) -> f64 {
    match clip {
        Some((lo, _)) if y < lo => lo,
        Some((_, hi)) if y > hi => hi,
        _ => y,
    }
}

/// MinMaxScaler options.
#[derive(Debug, Clone, Copy)]
pub struct MinMaxOptions {
    pub feature_range: (f64, f64),
    pub clip: bool,
}

/// StandardScaler options (`ddof` is a Polars-style extension; 0 = scikit-learn).
#[derive(Debug, Clone, Copy)]
pub struct StandardOptions {
    pub with_mean: bool,
    pub with_std: bool,
    pub ddof: u32,
}

/// RobustScaler options.
#[derive(Debug, Clone, Copy)]
pub struct RobustOptions {
    pub with_centering: bool,
    pub with_scaling: bool,
    pub quantile_range: (f64, f64),
    pub unit_variance: bool,
}

/// MinMaxScaler's transform from the column's extent.
pub fn minmax_transform<T: Element>(
    extent: Option<(f64, f64)>,
    options: &MinMaxOptions,
) -> Transform {
    let Some((min, max)) = extent else {
        return Transform::IDENTITY;
    };
    let (lo, hi) = options.feature_range;
    let clip = options.clip.then_some((lo, hi));
    let range = max - min;
    let handled = handle_zeros_in_scale::<T>(range);
    let scale = (hi - lo) / handled;
    let offset = lo - min * scale;
    let constant = range == 0.0;
    if range.is_finite() && scale.is_normal() && offset.is_finite() && !constant {
        // scikit-learn's own formula and order of operations.
        Transform::Affine {
            scale,
            offset,
            clip,
        }
    } else {
        // `(x - min) / range * (hi - lo) + lo` in halves: used when the range
        // overflows, its reciprocal is subnormal or `min * scale` overflows,
        // and for constant columns, which then map to exactly `lo`.
        let half_range = if range.is_finite() {
            0.5 * handled
        } else {
            max * 0.5 - min * 0.5
        };
        Transform::HalvedCenterScale {
            half_center: min * 0.5,
            half_scale: half_range / (hi - lo),
            offset: lo,
            clip,
        }
    }
}

/// The variance (in the moments' units squared) and the scale (in the
/// column's units) of standard scaling: scikit-learn's `_is_constant_feature`
/// gives scale 1, as do fewer than `ddof + 1` values.
fn standard_spread(moments: &Moments, unit: f64, ddof: u32) -> (f64, f64) {
    let dof = moments.count - f64::from(ddof);
    let var = if dof > 0.0 { moments.m2 / dof } else { 0.0 };
    // Tested in the scaled units: `_is_constant_feature` is homogeneous of
    // degree two, so the answer is the same as in the column's units.
    let n = moments.count;
    let eps = f64::EPSILON;
    let bound = n * eps * var + (n * moments.mean * eps).powi(2);
    let scale = if var <= bound { 1.0 } else { var.sqrt() * unit };
    (var, scale)
}

/// StandardScaler's transform from the column's moments (`unit` = the power of
/// two the moments were scaled by, see [`column_moments`]).
pub fn standard_transform(moments: &Moments, unit: f64, options: &StandardOptions) -> Transform {
    if moments.count == 0.0 {
        return Transform::IDENTITY;
    }
    let mean = moments.mean * unit;
    let center = if options.with_mean { mean } else { 0.0 };
    let scale = if options.with_std {
        standard_spread(moments, unit, options.ddof).1
    } else {
        1.0
    };
    Transform::center_scale(
        center,
        scale,
        scale * 0.5,
        moments.min * unit,
        moments.max * unit,
    )
}

/// MaxAbsScaler's transform from the column's extent.
pub fn maxabs_transform<T: Element>(extent: Option<(f64, f64)>) -> Transform {
    let Some((min, max)) = extent else {
        return Transform::IDENTITY;
    };
    Transform::CenterScale {
        center: 0.0,
        scale: handle_zeros_in_scale::<T>(min.abs().max(max.abs())),
    }
}

/// RobustScaler's scale and its half (the spread may exceed `f64::MAX`; its
/// half never does): the quantile range, 1 when it is below `10 * eps`,
/// divided by the normal's range with `unit_variance`.
fn robust_spread<T: Element>(stats: &SortedStats, options: &RobustOptions) -> (f64, f64) {
    if !options.with_scaling {
        return (1.0, 0.5);
    }
    let mut half_scale = stats.upper * 0.5 - stats.lower * 0.5;
    let mut scale = handle_zeros_in_scale::<T>(stats.upper - stats.lower);
    if scale == 1.0 {
        half_scale = 0.5;
    }
    if options.unit_variance {
        let (q_lo, q_hi) = options.quantile_range;
        let adjust = standard_normal_ppf(q_hi / 100.0) - standard_normal_ppf(q_lo / 100.0);
        scale /= adjust;
        half_scale /= adjust;
    }
    (scale, half_scale)
}

/// RobustScaler's transform from the sorted-order statistics of the column.
pub fn robust_transform<T: Element>(stats: &SortedStats, options: &RobustOptions) -> Transform {
    if stats.count == 0 {
        return Transform::IDENTITY;
    }
    let center = if options.with_centering {
        stats.median
    } else {
        0.0
    };
    let (scale, half_scale) = robust_spread::<T>(stats, options);
    Transform::center_scale(center, scale, half_scale, stats.min, stats.max)
}

/// What a scaler learns from one column (or one dimension of a vector
/// column, or one group): the statistics its parameters come from. The
/// fitted scalers keep them (they merge across batches) and derive their
/// parameters and transforms here, as the expressions do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistics {
    /// Minimum and maximum (MinMax and MaxAbs); `None` when no value.
    Extent(Option<(f64, f64)>),
    /// Moments in units of `unit` (see [`column_moments`]) (Standard).
    Moments { moments: Moments, unit: f64 },
    /// Order statistics (Robust).
    Sorted(SortedStats),
}

/// scikit-learn's fitted attributes of one column, by name, in the order
/// the fitted scalers report them.
pub type Params = Vec<(&'static str, f64)>;

/// A scikit-learn scaler with its options.
#[derive(Debug, Clone, Copy)]
pub enum Scaler {
    MinMax(MinMaxOptions),
    Standard(StandardOptions),
    Robust(RobustOptions),
    MaxAbs,
}

impl Scaler {
    /// The statistics of one column that this scaler learns from.
    pub fn statistics<T: Element>(
        &self,
        segments: &[Segment<'_, T>],
    ) -> Result<Statistics, StatsError> {
        Ok(match self {
            Scaler::MinMax(_) | Scaler::MaxAbs => Statistics::Extent(column_extent(segments)?),
            Scaler::Standard(_) => {
                let (moments, unit) = column_moments(segments)?;
                Statistics::Moments { moments, unit }
            }
            Scaler::Robust(options) => Statistics::Sorted(
                percentile_linear_segments(segments, options.quantile_range)
                    .map_err(|row| StatsError::Infinite { row })?,
            ),
        })
    }

    /// The transform these statistics give (the identity for statistics of
    /// another scaler, which callers never pass).
    pub fn transform<T: Element>(&self, statistics: &Statistics) -> Transform {
        match (self, statistics) {
            (Scaler::MinMax(options), Statistics::Extent(extent)) => {
                minmax_transform::<T>(*extent, options)
            }
            (Scaler::MaxAbs, Statistics::Extent(extent)) => maxabs_transform::<T>(*extent),
            (Scaler::Standard(options), Statistics::Moments { moments, unit }) => {
                standard_transform(moments, *unit, options)
            }
            (Scaler::Robust(options), Statistics::Sorted(stats)) => {
                robust_transform::<T>(stats, options)
            }
            _ => Transform::IDENTITY,
        }
    }

    /// scikit-learn's fitted attributes for these statistics (`data_min_`,
    /// `scale_`, ...; NaN for a column with no value), by the same rules as
    /// [`transform`](Scaler::transform).
    pub fn params<T: Element>(&self, statistics: &Statistics) -> Params {
        const NAN: f64 = f64::NAN;
        match (self, statistics) {
            (Scaler::MinMax(options), Statistics::Extent(extent)) => {
                let (min, max) = extent.unwrap_or((NAN, NAN));
                let (lo, hi) = options.feature_range;
                let scale = (hi - lo) / handle_zeros_in_scale::<T>(max - min);
                let scale = if extent.is_some() { scale } else { NAN };
                vec![
                    ("data_min", min),
                    ("data_max", max),
                    ("scale", scale),
                    ("min", lo - min * scale),
                ]
            }
            (Scaler::MaxAbs, Statistics::Extent(extent)) => {
                let max_abs = extent.map_or(NAN, |(min, max)| min.abs().max(max.abs()));
                let scale = if extent.is_some() {
                    handle_zeros_in_scale::<T>(max_abs)
                } else {
                    NAN
                };
                vec![("max_abs", max_abs), ("scale", scale)]
            }
            (Scaler::Standard(options), Statistics::Moments { moments, unit }) => {
                if moments.count == 0.0 {
                    return vec![
                        ("n_samples", 0.0),
                        ("mean", NAN),
                        ("var", NAN),
                        ("scale", NAN),
                    ];
                }
                let (var, scale) = standard_spread(moments, *unit, options.ddof);
                vec![
                    ("n_samples", moments.count),
                    ("mean", moments.mean * unit),
                    ("var", var * unit * unit),
                    ("scale", scale),
                ]
            }
            (Scaler::Robust(options), Statistics::Sorted(stats)) => {
                if stats.count == 0 {
                    return vec![("center", NAN), ("scale", NAN)];
                }
                let center = if options.with_centering {
                    stats.median
                } else {
                    0.0
                };
                vec![
                    ("center", center),
                    ("scale", robust_spread::<T>(stats, options).0),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Learns the transform for one column.
    pub fn learn<T: Element>(&self, segments: &[Segment<'_, T>]) -> Result<Transform, StatsError> {
        Ok(self.transform::<T>(&self.statistics(segments)?))
    }
}

/// Two partial moments in their own power-of-two units (see
/// [`column_moments`]), merged exactly (Chan et al.) in a common unit; the
/// unit grows when the merged M2 would overflow.
pub fn merge_scaled_moments(a: (Moments, f64), b: (Moments, f64)) -> (Moments, f64) {
    let mut unit = a.1.max(b.1);
    loop {
        let merged = rescale(a.0, a.1 / unit).merge(rescale(b.0, b.1 / unit));
        if merged.m2.is_finite() && merged.mean.is_finite() || !unit.is_finite() {
            return (merged, unit);
        }
        unit *= 2f64.powi(200);
    }
}

/// Moments in units `factor` (a power of two) times larger: exact unless
/// values fall below the normal range.
fn rescale(m: Moments, factor: f64) -> Moments {
    if factor == 1.0 || m.count == 0.0 {
        return m;
    }
    Moments {
        count: m.count,
        mean: m.mean * factor,
        m2: m.m2 * factor * factor,
        min: m.min * factor,
        max: m.max * factor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::segments::Validity;

    fn exact_mean_var(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn parallel_reductions_equal_the_sequential_walker() {
        let n = PARALLEL_MIN_LEN + 12_345;
        let data: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 10_007) as f64 * 0.31 - 7.0)
            .collect();
        let all_valid = vec![0xffu8; n.div_ceil(8)];
        let dense = [Segment::new(&data, None)];
        let walked = [Segment::new(
            &data,
            Some(Validity {
                bytes: &all_valid,
                offset: 0,
            }),
        )];
        assert_eq!(
            moments_with_factor(&dense, 1.0),
            moments_with_factor(&walked, 1.0)
        );
        assert_eq!(
            column_extent(&dense).unwrap(),
            column_extent(&walked).unwrap()
        );
        let t = Transform::CenterScale {
            center: 1.5,
            scale: 3.0,
        };
        let serial: Vec<f64> = data.iter().map(|&x| t.apply(x)).collect();
        assert_eq!(t.apply_slice(&data), serial);
    }

    #[test]
    fn moments_match_two_pass_and_merge() {
        let data: Vec<f64> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f64 * 0.37 - 50.0)
            .collect();
        let (moments, unit) = column_moments(&[Segment::new(&data, None)]).unwrap();
        assert_eq!(unit, 1.0);
        let (mean, var) = exact_mean_var(&data);
        assert!((moments.mean - mean).abs() < 1e-12 * mean.abs().max(1.0));
        assert!((moments.m2 / moments.count - var).abs() < 1e-10 * var);
    }

    #[test]
    fn nan_is_skipped() {
        let data = [1.0, f64::NAN, 3.0];
        let m = block_moments(&data, 1.0);
        assert_eq!((m.count, m.mean, m.m2), (2.0, 2.0, 2.0));
        assert_eq!(block_extent(&data), (1.0, 3.0));
    }

    #[test]
    fn infinity_is_an_error_with_its_row() {
        let data = [1.0, 2.0, f64::INFINITY];
        assert_eq!(
            column_moments(&[Segment::new(&data, None)]),
            Err(StatsError::Infinite { row: 2 })
        );
        assert_eq!(
            column_extent(&[Segment::new(&data, None)]),
            Err(StatsError::Infinite { row: 2 })
        );
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let data = [-1e308, 0.0, 1e308, 1e308];
        let (moments, unit) = column_moments(&[Segment::new(&data, None)]).unwrap();
        let t = standard_transform(
            &moments,
            unit,
            &StandardOptions {
                with_mean: true,
                with_std: true,
                ddof: 0,
            },
        );
        for x in data {
            assert!(t.apply(x).is_finite());
        }
        let scaled: Vec<f64> = data.iter().map(|x| x * 2f64.powi(-1000)).collect();
        let (mean, var) = exact_mean_var(&scaled);
        let expected = (1e308 * 2f64.powi(-1000) - mean) / var.sqrt();
        assert!((t.apply(1e308) - expected).abs() < 1e-12);

        let extent = column_extent(&[Segment::new(&data, None)]).unwrap();
        let opts = MinMaxOptions {
            feature_range: (0.0, 1.0),
            clip: false,
        };
        let t = minmax_transform::<f64>(extent, &opts);
        assert_eq!(
            (t.apply(-1e308), t.apply(0.0), t.apply(1e308)),
            (0.0, 0.5, 1.0)
        );
    }

    #[test]
    fn spans_wider_than_f64_max_are_halved() {
        let mut data = vec![1.7e308; 1000];
        data.push(-1.7e308);
        let (moments, unit) = column_moments(&[Segment::new(&data, None)]).unwrap();
        let opts = StandardOptions {
            with_mean: true,
            with_std: true,
            ddof: 0,
        };
        let t = standard_transform(&moments, unit, &opts);
        assert!(matches!(t, Transform::HalvedCenterScale { .. }));
        assert!(t.apply(-1.7e308).is_finite() && t.apply(-1.7e308) < -30.0);
        let mut values = data.clone();
        let stats = crate::kernels::quantile::percentile_linear(&mut values, (0.0, 100.0));
        let ropts = RobustOptions {
            with_centering: true,
            with_scaling: true,
            quantile_range: (0.0, 100.0),
            unit_variance: false,
        };
        let t = robust_transform::<f64>(&stats, &ropts);
        assert_eq!(t.apply(-1.7e308), -1.0);
    }

    #[test]
    fn constant_column_follows_sklearn() {
        let data = [3.0; 10];
        let seg = [Segment::new(&data[..], None)];
        let t = minmax_transform::<f64>(
            column_extent(&seg).unwrap(),
            &MinMaxOptions {
                feature_range: (-1.0, 1.0),
                clip: false,
            },
        );
        assert_eq!(t.apply(3.0), -1.0);
        let (m, unit) = column_moments(&seg).unwrap();
        let t = standard_transform(
            &m,
            unit,
            &StandardOptions {
                with_mean: true,
                with_std: true,
                ddof: 0,
            },
        );
        assert_eq!(t.apply(3.0), 0.0);
    }

    #[test]
    fn constant_columns_near_the_float_limit_map_to_low() {
        let opts = MinMaxOptions {
            feature_range: (5.0, 6.0),
            clip: false,
        };
        for value in [1e308, -1e20, 0.0] {
            let data = [value, value];
            let seg = [Segment::new(&data[..], None)];
            let t = minmax_transform::<f64>(column_extent(&seg).unwrap(), &opts);
            assert_eq!(t.apply(value), 5.0, "{value}");
        }
    }

    #[test]
    fn clipping_keeps_nan() {
        let t = Transform::Affine {
            scale: 1.0,
            offset: 0.0,
            clip: Some((0.0, 1.0)),
        };
        assert!(t.apply(f64::NAN).is_nan());
        assert_eq!((t.apply(-2.0), t.apply(0.5), t.apply(3.0)), (0.0, 0.5, 1.0));
    }

    #[test]
    fn handle_zeros_uses_the_dtype_epsilon() {
        assert_eq!(handle_zeros_in_scale::<f64>(1e-14), 1e-14);
        assert_eq!(handle_zeros_in_scale::<f32>(1e-14), 1.0);
        assert_eq!(handle_zeros_in_scale::<f64>(1e-16), 1.0);
    }
    /// The one formula the fitted scalers use gives `apply`'s bits.
    #[test]
    fn coefficients_reproduce_every_variant_bit_for_bit() {
        let transforms = [
            Transform::Affine {
                scale: 0.3,
                offset: -0.7,
                clip: Some((-1.0, 1.0)),
            },
            Transform::Affine {
                scale: 1e-300,
                offset: 5.0,
                clip: None,
            },
            Transform::CenterScale {
                center: -0.0,
                scale: 3.0,
            },
            Transform::CenterScale {
                center: 2.5,
                scale: 0.1,
            },
            Transform::IDENTITY,
            Transform::HalvedCenterScale {
                half_center: -8.5e307,
                half_scale: 1.7e308,
                offset: 0.0,
                clip: None,
            },
            Transform::HalvedCenterScale {
                half_center: 1e307,
                half_scale: 3.0,
                offset: 5.0,
                clip: Some((5.0, 6.0)),
            },
        ];
        let inputs = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            2.5,
            1.7e308,
            -1.7e308,
            5e-324,
            -5e-324,
            f64::NAN,
            123456.789,
            -3.3e-10,
        ];
        for t in transforms {
            assert_eq!(Transform::from_coefficients(t.coefficients(), t.clip()), t);
            for x in [0.25, -3.0, 1e300] {
                let back = t.invert(t.apply(x));
                // (A map onto a range far below `x`'s ulp cannot round-trip.)
                let lossy = t.coefficients()[0] < 1e-10;
                if t.clip().is_none() && t.apply(x).is_finite() && !lossy {
                    let [_, sub, div, _] = t.coefficients();
                    let size = x.abs().max(sub.abs() * 2.0).max(div.abs()).max(1.0);
                    assert!((back - x).abs() <= 1e-9 * size, "{t:?}: {x} -> {back}");
                }
            }
            let [mul, sub, div, add] = t.coefficients();
            for x in inputs {
                let formula = clip_to((x * mul - sub) / div + add, t.clip());
                let direct = t.apply(x);
                assert!(
                    formula.to_bits() == direct.to_bits() || (formula.is_nan() && direct.is_nan()),
                    "{t:?} at {x}: {formula} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn merged_scaled_moments_equal_the_whole() {
        let data: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f64 * 1.7e305 - 8e307)
            .collect();
        let (left, right) = data.split_at(1234);
        let whole = column_moments(&[Segment::new(&data, None)]).unwrap();
        let a = column_moments(&[Segment::new(left, None)]).unwrap();
        let b = column_moments(&[Segment::new(right, None)]).unwrap();
        let (merged, unit) = merge_scaled_moments(a, b);
        let opts = StandardOptions {
            with_mean: true,
            with_std: true,
            ddof: 0,
        };
        let (tw, tm) = (
            standard_transform(&whole.0, whole.1, &opts),
            standard_transform(&merged, unit, &opts),
        );
        for x in [-8e307, 0.0, 9e307] {
            let (w, m) = (tw.apply(x), tm.apply(x));
            assert!(
                w.is_finite() && (w - m).abs() <= 1e-12 * w.abs().max(1.0),
                "{w} vs {m}"
            );
        }
    }
}
