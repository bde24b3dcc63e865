//! Gaussianizing transforms: scikit-learn's `QuantileTransformer` and
//! `PowerTransformer` (Yeo-Johnson and Box-Cox), fitted on one column (or
//! one dimension of a vector column, or one group) and applied to values.
//!
//! The rules are scikit-learn 1.9's and SciPy 1.17's, step by step:
//!
//! - quantiles: `np.linspace(0, 1, n_quantiles_)` references, `n_quantiles_`
//!   capped at the rows, `np.nanpercentile` (linear interpolation) found by
//!   selection of the needed ranks, not a full sort; the transform averages
//!   `np.interp` forwards and backwards (so tied quantiles map to the middle
//!   of their references), pins the values at the ends to 0 and 1, and for
//!   `"normal"` output clips the normal quantile to
//!   `ppf(BOUNDS_THRESHOLD - eps)`..`ppf(1 - (BOUNDS_THRESHOLD - eps))`;
//! - Yeo-Johnson: lambda maximises SciPy's `yeojohnson_llf` with
//!   `optimize.fminbound` (bounded Brent) between SciPy's overflow-safe
//!   bounds, `xtol=1.48e-8`; a constant column keeps lambda 1 (scikit-learn's
//!   `_is_constant_feature` test);
//! - Box-Cox: lambda maximises `boxcox_llf` (computed in log space) with
//!   `optimize.brent(brack=(-2, 2))`, then SciPy's overflow constraint
//!   (`ymax = max / 10000`); non-positive or constant data is an error;
//! - the transforms use SciPy's numerically careful forms (`expm1`/`log1p`);
//!   standardization afterwards is StandardScaler's, from the kernels in
//!   [`super::scaling`].
//!
//! The likelihood is evaluated some thirty times over the whole column, so it
//! runs on precomputed logarithms with a vectorisable `expm1`/`exp` (runtime
//! CPU dispatch), block by block, in parallel for long columns; partial
//! moments merge in block order, so results do not depend on the threads.

// The published coefficients (AS241, fdlibm's ln 2 split) are quoted digit
// for digit; the compiler rounds them to the nearest f64.
#![allow(clippy::excessive_precision)]

use super::element::Element;
use super::parallel;
use super::passes::value_of_key;
use super::quantile::{lerp, order_key, percentile_ranks};
use super::scaling::{
    block_moments, column_moments, standard_transform, Moments, StandardOptions, Transform,
};
use super::segments::{Segment, BLOCK};

/// scikit-learn's `BOUNDS_THRESHOLD` of `QuantileTransformer`.
pub const BOUNDS_THRESHOLD: f64 = 1e-7;

/// Columns at least this long evaluate the likelihood on several threads.
const PARALLEL_MIN_LEN: usize = 1 << 18;
/// Values per parallel task (a multiple of the block).
const PARALLEL_CHUNK: usize = BLOCK * 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerMethod {
    YeoJohnson,
    BoxCox,
}

/// A gaussianizing transform with its options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gaussianizer {
    Quantile {
        n_quantiles: usize,
        normal: bool,
    },
    Power {
        method: PowerMethod,
        standardize: bool,
    },
}

/// Why a column could not be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum GaussError {
    /// An infinite value at this logical row (scikit-learn rejects infinity).
    Infinite { row: usize },
    /// Box-Cox on a value <= 0 at this logical row.
    NotPositive { row: usize, value: f64 },
    /// Box-Cox on a constant column (SciPy: "Data must not be constant").
    Constant,
}

impl GaussError {
    /// The message a user sees; `place` names the column (or dimension).
    pub fn message(&self, function: &str, place: Option<(&str, String)>) -> String {
        let at = |row: &usize| match &place {
            Some((what, name)) => format!("row {row} of {what} {name}"),
            None => format!("row {row}"),
        };
        let of = match &place {
            Some((what, name)) => format!(" {what} {name}"),
            None => String::new(),
        };
        match self {
            GaussError::Infinite { row } => format!(
                "{function}: input contains infinity at {}; the transform needs finite values \
                 (as in scikit-learn), so replace or drop it first",
                at(row)
            ),
            GaussError::NotPositive { row, value } => format!(
                "{function}: the Box-Cox transformation can only be applied to strictly positive \
                 data, but{of} holds {value} at {} (use method=\"yeo-johnson\" instead)",
                at(row)
            ),
            GaussError::Constant => format!(
                "{function}: the Box-Cox transformation needs data that is not constant, \
                 but{of} is constant"
            ),
        }
    }
}

/// The valid, non-NaN values of a column as `f64`, with their logical rows
/// only as needed for errors: infinity is an error naming the first row.
fn valid_values<T: Element>(segments: &[Segment<'_, T>]) -> Result<Vec<f64>, GaussError> {
    let mut values = Vec::with_capacity(segments.iter().map(|s| s.values.len()).sum());
    for segment in segments {
        match segment.validity {
            None => values.extend(segment.values.iter().map(|v| v.to_f64())),
            Some(_) => values.extend(
                segment
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| segment.is_valid(*i))
                    .map(|(_, v)| v.to_f64()),
            ),
        }
    }
    if values.iter().any(|x| x.is_infinite()) {
        let row = logical_row(segments, |x| x.is_infinite()).unwrap_or(0);
        return Err(GaussError::Infinite { row });
    }
    values.retain(|x| !x.is_nan());
    Ok(values)
}

/// The logical row of the first valid value matching `wanted`.
fn logical_row<T: Element>(
    segments: &[Segment<'_, T>],
    wanted: impl Fn(f64) -> bool,
) -> Option<usize> {
    let mut base = 0usize;
    for segment in segments {
        for (i, value) in segment.values.iter().enumerate() {
            if segment.is_valid(i) && wanted(value.to_f64()) {
                return Some(base + i);
            }
        }
        base += segment.values.len();
    }
    None
}

/// What was fitted on one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    Quantile(QuantileMap),
    Power(PowerMap),
}

impl Gaussianizer {
    /// Fits one column (its valid values; `segments` span every row, as the
    /// rows count towards `n_quantiles_`, as `n_samples` in scikit-learn).
    pub fn fit<T: Element>(&self, segments: &[Segment<'_, T>]) -> Result<Fitted, GaussError> {
        let rows: usize = segments.iter().map(|s| s.values.len()).sum();
        let mut values = valid_values(segments)?;
        Ok(match *self {
            Gaussianizer::Quantile {
                n_quantiles,
                normal,
            } => Fitted::Quantile(QuantileMap::new(
                fit_quantiles(&mut values, rows, n_quantiles),
                normal,
            )),
            Gaussianizer::Power {
                method,
                standardize,
            } => {
                if method == PowerMethod::BoxCox {
                    if let Some(row) = logical_row(segments, |x| x <= 0.0) {
                        let value = values.iter().copied().find(|&x| x <= 0.0).unwrap_or(0.0);
                        return Err(GaussError::NotPositive { row, value });
                    }
                }
                Fitted::Power(PowerMap::fit::<T>(&values, method, standardize)?)
            }
        })
    }
}

impl Fitted {
    /// The transform of `x` (a value of dtype `T`), as scikit-learn computes
    /// it for that dtype (intermediate results stored in `T` where it does).
    #[inline]
    pub fn apply<T: Element>(&self, x: f64) -> f64 {
        match self {
            Fitted::Quantile(map) => map.apply::<T>(x),
            Fitted::Power(map) => map.apply::<T>(x),
        }
    }

    /// The value `y` came from (scikit-learn's `inverse_transform`).
    #[inline]
    pub fn invert<T: Element>(&self, y: f64) -> f64 {
        match self {
            Fitted::Quantile(map) => map.invert::<T>(y),
            Fitted::Power(map) => map.invert::<T>(y),
        }
    }

    /// The transformed `input` (NaN stays NaN), written in place of a new
    /// vector; long inputs in parallel chunks (each value computed the same
    /// way either way).
    pub fn apply_slice<T: Element>(&self, input: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); input.len()];
        let work = |part: &[T], out: &mut [T]| match self {
            // The power transform vectorised, then standardization.
            Fitted::Power(map) => {
                let values: Vec<f64> = part.iter().map(|x| x.to_f64()).collect();
                let powered = power_all(&values, map.method, map.lambda);
                for (o, y) in out.iter_mut().zip(powered) {
                    *o = T::from_f64(map.standard.apply(round::<T>(y)));
                }
            }
            Fitted::Quantile(map) => {
                for (o, x) in out.iter_mut().zip(part) {
                    *o = T::from_f64(map.apply::<T>(x.to_f64()));
                }
            }
        };
        if input.len() < PARALLEL_MIN_LEN {
            work(input, &mut out);
        } else {
            parallel::zip_chunks_mut(input, &mut out, PARALLEL_CHUNK, work);
        }
        out
    }
}

// --------------------------------------------------------------------------
// QuantileTransformer
// --------------------------------------------------------------------------

/// `np.linspace(0, 1, n)`: `i * (1 / (n - 1))`, the last exactly 1.
pub fn references(n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![0.0; n];
    }
    let step = 1.0 / (n - 1) as f64;
    let mut out: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
    if let Some(last) = out.last_mut() {
        *last = 1.0;
    }
    out
}

/// scikit-learn's `quantiles_` of one column: `np.nanpercentile(values,
/// references * 100)` over `max(1, min(n_quantiles, rows))` references.
/// `values` (no NaN, no infinity) is reordered. All NaN without values.
pub fn fit_quantiles(values: &mut [f64], rows: usize, n_quantiles: usize) -> Vec<f64> {
    let grid = QuantileGrid::new(values.len(), rows, n_quantiles);
    let ranks = grid.ranks();
    let found = select_ranks(values, &ranks);
    grid.quantiles(|rank| {
        ranks
            .binary_search(&rank)
            .ok()
            .and_then(|i| found.get(i).copied())
            .unwrap_or(f64::NAN)
    })
}

/// Which order statistics the quantiles of `n` values read, and how they are
/// interpolated: shared by the fit in memory and the fit in passes
/// (`kernels::passes`), so both give the same numbers.
#[derive(Debug, Clone)]
pub struct QuantileGrid {
    n: usize,
    /// Per reference: the lower rank numpy's linear percentile reads and
    /// the interpolation weight (empty when there is no value).
    plan: Vec<(usize, f64)>,
    /// How many quantiles (NaN each when there is no value).
    count: usize,
}

impl QuantileGrid {
    /// The grid of `n` valid values in a column of `rows` rows (the rows,
    /// nulls included, cap `n_quantiles` as `n_samples` does in scikit-learn).
    pub fn new(n: usize, rows: usize, n_quantiles: usize) -> Self {
        let count = n_quantiles.min(rows).max(1);
        let plan = if n == 0 {
            Vec::new()
        } else {
            references(count)
                .iter()
                .map(|&r| percentile_ranks(n, r * 100.0))
                .collect()
        };
        QuantileGrid { n, plan, count }
    }

    /// The ranks the quantiles read, ascending and distinct.
    pub fn ranks(&self) -> Vec<usize> {
        let mut ranks: Vec<usize> = self
            .plan
            .iter()
            .flat_map(|&(lo, _)| [lo, (lo + 1).min(self.n - 1)])
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }

    /// The quantiles, given the value at each of [`ranks`](Self::ranks).
    pub fn quantiles(&self, at: impl Fn(usize) -> f64) -> Vec<f64> {
        if self.plan.is_empty() {
            return vec![f64::NAN; self.count];
        }
        self.plan
            .iter()
            .map(|&(lo, gamma)| lerp(at(lo), at((lo + 1).min(self.n - 1)), gamma))
            .collect()
    }
}

/// The order statistics at `ranks` (sorted, distinct, `< values.len()`) of
/// `values` (no NaN) by recursive selection: O(n log k) for k ranks; a sort
/// when ranks are dense. The values are selected as their order keys
/// (integers compare faster than `total_cmp`, in the same order), and
/// `values` is left holding keys, reordered.
pub fn select_ranks(values: &mut [f64], ranks: &[usize]) -> Vec<f64> {
    for v in values.iter_mut() {
        *v = f64::from_bits(order_key(*v));
    }
    // SAFETY: `f64` and `u64` have the same size and alignment and every
    // bit pattern is a valid `u64`; the slice is borrowed mutably here only.
    let keys: &mut [u64] =
        unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u64>(), values.len()) };
    let mut out = vec![0u64; ranks.len()];
    if ranks.len() * 8 >= keys.len() {
        keys.sort_unstable();
        for (slot, &rank) in out.iter_mut().zip(ranks) {
            *slot = keys.get(rank).copied().unwrap_or(0);
        }
    } else {
        select_into(keys, 0, ranks, &mut out);
    }
    out.into_iter().map(value_of_key).collect()
}

fn select_into(values: &mut [u64], base: usize, ranks: &[usize], out: &mut [u64]) {
    if ranks.is_empty() || values.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let Some(rank) = ranks.get(mid).map(|r| r - base) else {
        return;
    };
    if rank >= values.len() {
        return;
    }
    let (left, at, right) = values.select_nth_unstable(rank);
    if let Some(slot) = out.get_mut(mid) {
        *slot = *at;
    }
    let (out_left, out_right) = out.split_at_mut(mid);
    select_into(left, base, &ranks[..mid], out_left);
    select_into(
        right,
        base + rank + 1,
        &ranks[mid + 1..],
        out_right.get_mut(1..).unwrap_or_default(),
    );
}

/// `np.interp(x, xp, fp)` (`xp` increasing, ties allowed), NumPy's steps,
/// with `count` the number of `xp` at or below `x` (NumPy's binary search)
/// and NumPy's precomputed `slopes`.
#[inline(always)]
fn interp_counted(x: f64, count: usize, xp: &[f64], fp: &[f64], slopes: &[f64]) -> f64 {
    let m = xp.len();
    if m == 0 {
        return f64::NAN;
    }
    if m == 1 || count == 0 {
        return fp[0];
    }
    if x > xp[m - 1] {
        return fp[m - 1];
    }
    let j = count - 1;
    if j == m - 1 || xp[j] == x {
        return fp[j];
    }
    let slope = slopes[j];
    let y = slope * (x - xp[j]) + fp[j];
    if !y.is_nan() {
        return y;
    }
    let y = slope * (x - xp[j + 1]) + fp[j + 1];
    if y.is_nan() && fp[j] == fp[j + 1] {
        fp[j]
    } else {
        y
    }
}

/// NumPy's `slopes[j] = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])`.
fn slopes(xp: &[f64], fp: &[f64]) -> Vec<f64> {
    xp.windows(2)
        .zip(fp.windows(2))
        .map(|(x, f)| (f[1] - f[0]) / (x[1] - x[0]))
        .collect()
}

/// `np.interp(x, xp, fp)`.
#[cfg(test)]
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    if x.is_nan() {
        return x;
    }
    interp_counted(x, xp.partition_point(|&q| q <= x), xp, fp, &slopes(xp, fp))
}

/// A fitted `QuantileTransformer` column.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileMap {
    pub quantiles: Vec<f64>,
    pub normal: bool,
    references: Vec<f64>,
    /// `-quantiles[::-1]` and `-references[::-1]`: the backward interpolation.
    negated_quantiles: Vec<f64>,
    negated_references: Vec<f64>,
    slopes: Vec<f64>,
    negated_slopes: Vec<f64>,
    inverse_slopes: Vec<f64>,
    /// The normal output's clip bounds.
    clip: (f64, f64),
    /// Where to look for `x` among the quantiles (see [`KeyIndex`]).
    index: KeyIndex,
}

/// A table over the order keys of `[q_0, q_last]` cut into equal key ranges:
/// the quantiles at or below any `x` number between the counts at the ends
/// of `x`'s range, so the binary search runs over a few quantiles instead
/// of all of them. (Order keys grow roughly as the logarithm, where the
/// quantiles of skewed data spread evenly.)
#[derive(Debug, Clone, PartialEq)]
struct KeyIndex {
    low: u64,
    shift: u32,
    /// `counts[b]`: the quantiles whose key is below `low + (b << shift)`.
    counts: Vec<u32>,
}

/// The order key of `x` with `-0.0` folded onto `0.0`, which compares
/// equal to it (the quantile lookups compare as `<=` does).
#[inline(always)]
fn key_of(x: f64) -> u64 {
    order_key(x + 0.0)
}

const INDEX_BITS: u32 = 12;

impl KeyIndex {
    fn new(quantiles: &[f64]) -> KeyIndex {
        let (Some(&first), Some(&last)) = (quantiles.first(), quantiles.last()) else {
            return KeyIndex {
                low: 0,
                shift: 0,
                counts: Vec::new(),
            };
        };
        if first.is_nan() || last.is_nan() {
            return KeyIndex {
                low: 0,
                shift: 0,
                counts: Vec::new(),
            };
        }
        let (low, high) = (key_of(first), key_of(last));
        let span = high - low;
        let shift = (64 - span.leading_zeros()).saturating_sub(INDEX_BITS);
        let buckets = (span >> shift) as usize + 2;
        let keys: Vec<u64> = quantiles.iter().map(|&q| key_of(q)).collect();
        let counts = (0..=buckets)
            .map(|b| {
                let start = low.saturating_add((b as u64) << shift);
                keys.partition_point(|&k| k < start) as u32
            })
            .collect();
        KeyIndex { low, shift, counts }
    }

    /// How many of `quantiles` are `<= x` (`x` not NaN).
    #[inline(always)]
    fn count_at_most(&self, quantiles: &[f64], x: f64) -> usize {
        let key = key_of(x);
        if self.counts.is_empty() || key < self.low {
            return quantiles.partition_point(|&v| v <= x);
        }
        let b = ((key - self.low) >> self.shift) as usize;
        match (self.counts.get(b), self.counts.get(b + 1)) {
            (Some(&from), Some(&to)) => {
                let (from, to) = (from as usize, to as usize);
                from + quantiles
                    .get(from..to)
                    .map_or(0, |window| window.partition_point(|&v| v <= x))
            }
            _ => quantiles.partition_point(|&v| v <= x),
        }
    }
}

/// The normal output's clip: `norm.ppf(BOUNDS_THRESHOLD - eps)`.
fn normal_clip() -> (f64, f64) {
    let p = BOUNDS_THRESHOLD - f64::EPSILON;
    (normal_ppf(p), normal_ppf(1.0 - p))
}

impl QuantileMap {
    pub fn new(quantiles: Vec<f64>, normal: bool) -> Self {
        let references = references(quantiles.len());
        let negated_quantiles: Vec<f64> = quantiles.iter().rev().map(|q| -q).collect();
        let negated_references: Vec<f64> = references.iter().rev().map(|r| -r).collect();
        QuantileMap {
            index: KeyIndex::new(&quantiles),
            slopes: slopes(&quantiles, &references),
            negated_slopes: slopes(&negated_quantiles, &negated_references),
            inverse_slopes: slopes(&references, &quantiles),
            quantiles,
            normal,
            references,
            negated_quantiles,
            negated_references,
            clip: normal_clip(),
        }
    }

    fn ends(&self) -> (f64, f64) {
        (
            self.quantiles.first().copied().unwrap_or(f64::NAN),
            self.quantiles.last().copied().unwrap_or(f64::NAN),
        )
    }

    /// scikit-learn's `_transform_col` for one value of dtype `T`.
    #[inline]
    pub fn apply<T: Element>(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        let (low, high) = self.ends();
        if low.is_nan() {
            // Fitted on no value: NaN out, as the scalers do.
            return f64::NAN;
        }
        let (at_low, at_high) = if self.normal {
            // `X_col -/+ BOUNDS_THRESHOLD` in the column's dtype.
            let threshold = round::<T>(BOUNDS_THRESHOLD);
            (
                round::<T>(x - threshold) < low,
                round::<T>(x + threshold) > high,
            )
        } else {
            (x == low, x == high)
        };
        // One binary search serves both directions: the backward one counts
        // the quantiles at or above `x` (they differ only on ties).
        let q = &self.quantiles;
        let upper = self.index.count_at_most(q, x);
        let lower = if upper > 0 && q[upper - 1] == x {
            q[..upper].partition_point(|&v| v < x)
        } else {
            upper
        };
        let forward = interp_counted(x, upper, q, &self.references, &self.slopes);
        let backward = interp_counted(
            -x,
            q.len() - lower,
            &self.negated_quantiles,
            &self.negated_references,
            &self.negated_slopes,
        );
        let mut u = round::<T>(0.5 * (forward - backward));
        if at_high {
            u = 1.0;
        }
        if at_low {
            u = 0.0;
        }
        if !self.normal {
            return u;
        }
        let (lo, hi) = self.clip;
        let z = normal_ppf(u);
        if z < lo {
            lo
        } else if z > hi {
            hi
        } else {
            z
        }
    }

    /// scikit-learn's inverse `_transform_col` for one value of dtype `T`.
    #[inline]
    pub fn invert<T: Element>(&self, y: f64) -> f64 {
        if y.is_nan() {
            return y;
        }
        if self.ends().0.is_nan() {
            return f64::NAN;
        }
        let u = if self.normal { normal_cdf(y) } else { y };
        let (at_low, at_high) = if self.normal {
            (u - BOUNDS_THRESHOLD < 0.0, u + BOUNDS_THRESHOLD > 1.0)
        } else {
            (u == 0.0, u == 1.0)
        };
        let (low, high) = self.ends();
        let refs = &self.references;
        let count = refs.partition_point(|&r| r <= u);
        let mut x = interp_counted(u, count, refs, &self.quantiles, &self.inverse_slopes);
        if at_high {
            x = high;
        }
        if at_low {
            x = low;
        }
        x
    }
}

/// `x` rounded to `T` and back (identity for `f64`).
#[inline(always)]
fn round<T: Element>(x: f64) -> f64 {
    T::from_f64(x).to_f64()
}

/// Standard normal CDF (`scipy.stats.norm.cdf`, through `erfc`).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile function (Wichura's AS241, PPND16: relative
/// error about 1e-16), `-inf`/`inf` at 0 and 1, NaN outside.
pub fn normal_ppf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
            + 6.7265770927008700853e+4)
            * r
            + 4.5921953931549871457e+4)
            * r
            + 1.3731693765509461125e+4)
            * r
            + 1.9715909503065514427e+3)
            * r
            + 1.3314166789178437745e+2)
            * r
            + 3.3871328727963666080e+0)
            * q;
        let den = ((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
            + 3.9307895800092710610e+4)
            * r
            + 2.1213794301586595867e+4)
            * r
            + 5.3941960214247511077e+3)
            * r
            + 6.8718700749205790830e+2)
            * r
            + 4.2313330701600911252e+1)
            * r
            + 1.0;
        return num / den;
    }
    let r = if q <= 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let (num, den) = if r <= 5.0 {
        let r = r - 1.6;
        (
            ((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                + 2.41780725177450611770e-1)
                * r
                + 1.27045825245236838258e+0)
                * r
                + 3.64784832476320460504e+0)
                * r
                + 5.76949722146069140550e+0)
                * r
                + 4.63033784615654529590e+0)
                * r
                + 1.42343711074968357734e+0,
            ((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                + 1.51986665636164571966e-2)
                * r
                + 1.48103976427480074590e-1)
                * r
                + 6.89767334985100004550e-1)
                * r
                + 1.67638483018380384940e+0)
                * r
                + 2.05319162663775882187e+0)
                * r
                + 1.0,
        )
    } else {
        let r = r - 5.0;
        (
            ((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                + 1.24266094738807843860e-3)
                * r
                + 2.65321895265761230930e-2)
                * r
                + 2.96560571828504891230e-1)
                * r
                + 1.78482653991729133580e+0)
                * r
                + 5.46378491116411436990e+0)
                * r
                + 6.65790464350110377720e+0,
            ((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                + 1.84631831751005468180e-5)
                * r
                + 7.86869131145613259100e-4)
                * r
                + 1.48753612908506148525e-2)
                * r
                + 1.36929880922735805310e-1)
                * r
                + 5.99832206555887937690e-1)
                * r
                + 1.0,
        )
    };
    let x = num / den;
    if q < 0.0 {
        -x
    } else {
        x
    }
}

// --------------------------------------------------------------------------
// PowerTransformer
// --------------------------------------------------------------------------

/// A fitted `PowerTransformer` column: lambda, then standardization.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerMap {
    pub method: PowerMethod,
    pub lambda: f64,
    /// StandardScaler's transform of the transformed values (the identity
    /// without `standardize`).
    pub standard: Transform,
    /// StandardScaler's `mean_`, `var_` and `scale_` (NaN without `standardize`).
    pub moments: (f64, f64, f64),
    /// [`power_limits`] of `method` and `lambda`, computed once.
    limits: (f64, f64),
}

impl PowerMap {
    /// A map from its parts (the fitted transformers hand them back).
    pub fn from_parts(method: PowerMethod, lambda: f64, standard: Transform) -> Self {
        PowerMap {
            method,
            lambda,
            standard,
            moments: (f64::NAN, f64::NAN, f64::NAN),
            limits: power_limits(method, lambda),
        }
    }

    fn fit<T: Element>(
        values: &[f64],
        method: PowerMethod,
        standardize: bool,
    ) -> Result<PowerMap, GaussError> {
        if values.is_empty() {
            return Ok(PowerMap::from_parts(method, f64::NAN, Transform::IDENTITY));
        }
        let lambda = match method {
            // scikit-learn's near-constant test; SciPy's Box-Cox refuses
            // only data that is exactly constant.
            PowerMethod::YeoJohnson if is_constant(values) => 1.0,
            PowerMethod::YeoJohnson => yeo_johnson_lambda::<T>(values),
            PowerMethod::BoxCox if values.iter().all(|&x| x == values[0]) => {
                return Err(GaussError::Constant)
            }
            PowerMethod::BoxCox => box_cox_lambda::<T>(values),
        };
        let mut map = PowerMap::from_parts(method, lambda, Transform::IDENTITY);
        if standardize {
            // scikit-learn stores the transformed values in the column's
            // dtype, then fits a StandardScaler on them.
            let transformed: Vec<T> = power_all(values, method, lambda)
                .into_iter()
                .map(T::from_f64)
                .collect();
            let (moments, unit) = column_moments(&[Segment::new(&transformed, None)])
                .unwrap_or((Moments::EMPTY, 1.0));
            let options = StandardOptions {
                with_mean: true,
                with_std: true,
                ddof: 0,
            };
            map.standard = standard_transform(&moments, unit, &options);
            // StandardScaler's `mean_`, `var_`, `scale_` (a halved
            // transform, for spreads beyond f64::MAX, holds their halves).
            let [mul, center, scale, _] = map.standard.coefficients();
            let (center, scale) = if mul == 0.5 {
                (center * 2.0, scale * 2.0)
            } else {
                (center, scale)
            };
            map.moments = (center, moments.m2 / moments.count * unit * unit, scale);
        }
        Ok(map)
    }

    /// The power transform of `x` alone (no standardization).
    #[inline(always)]
    fn power(&self, x: f64) -> f64 {
        let (low, high) = self.limits;
        if x <= high && x >= low {
            power_one_fast(x, self.method, self.lambda)
        } else {
            power_one(x, self.method, self.lambda)
        }
    }

    #[inline]
    pub fn apply<T: Element>(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        self.standard.apply(round::<T>(self.power(x)))
    }

    #[inline]
    pub fn invert<T: Element>(&self, y: f64) -> f64 {
        if y.is_nan() {
            return y;
        }
        let y = round::<T>(self.standard.invert(y));
        match self.method {
            PowerMethod::YeoJohnson => yeo_johnson_inverse(y, self.lambda),
            PowerMethod::BoxCox => box_cox_inverse(y, self.lambda),
        }
    }
}

/// scikit-learn's `_is_constant_feature` on the column's values, with the
/// mean and variance in the column's units as NumPy computes them (so a
/// variance that overflows, as for values near 1e200, counts as constant,
/// as it does in scikit-learn).
fn is_constant(values: &[f64]) -> bool {
    let Ok((m, unit)) = column_moments(&[Segment::new(values, None)]) else {
        return false;
    };
    if m.count == 0.0 || m.min == m.max {
        return true;
    }
    let (mean, var) = (m.mean * unit, m.m2 / m.count * unit * unit);
    let eps = f64::EPSILON;
    var <= m.count * eps * var + (m.count * mean * eps).powi(2)
}

/// SciPy's `_yeojohnson_transform` of one value.
#[inline(always)]
pub fn yeo_johnson(x: f64, lambda: f64) -> f64 {
    let eps = f64::EPSILON;
    if x >= 0.0 {
        if lambda.abs() < eps {
            x.ln_1p()
        } else {
            (lambda * x.ln_1p()).exp_m1() / lambda
        }
    } else if (lambda - 2.0).abs() > eps {
        -((2.0 - lambda) * (-x).ln_1p()).exp_m1() / (2.0 - lambda)
    } else {
        -(-x).ln_1p()
    }
}

/// scikit-learn's `_yeo_johnson_inverse_transform` of one value.
#[inline(always)]
pub fn yeo_johnson_inverse(y: f64, lambda: f64) -> f64 {
    let eps = f64::EPSILON;
    if y >= 0.0 {
        if lambda.abs() < eps {
            y.exp() - 1.0
        } else {
            (y * lambda + 1.0).powf(1.0 / lambda) - 1.0
        }
    } else if (lambda - 2.0).abs() > eps {
        1.0 - (-(2.0 - lambda) * y + 1.0).powf(1.0 / (2.0 - lambda))
    } else {
        1.0 - (-y).exp()
    }
}

/// `scipy.special.boxcox` of one value.
#[inline(always)]
pub fn box_cox(x: f64, lambda: f64) -> f64 {
    let log = x.ln();
    if lambda.abs() < 1e-19 {
        log
    } else if lambda * log < 709.78 {
        (lambda * log).exp_m1() / lambda
    } else {
        lambda.signum() * (lambda * log - lambda.abs().ln()).exp() - 1.0 / lambda
    }
}

/// `scipy.special.inv_boxcox` of one value.
#[inline(always)]
pub fn box_cox_inverse(y: f64, lambda: f64) -> f64 {
    if lambda == 0.0 {
        y.exp()
    } else {
        ((lambda * y).ln_1p() / lambda).exp()
    }
}

/// `(epsilon, smallest normal, largest)` of the column's dtype (`np.finfo`).
fn finfo<T: Element>() -> (f64, f64, f64) {
    if T::EPSILON == f64::from(f32::EPSILON) {
        (
            f64::from(f32::EPSILON),
            f64::from(f32::MIN_POSITIVE),
            f64::from(f32::MAX),
        )
    } else {
        (f64::EPSILON, f64::MIN_POSITIVE, f64::MAX)
    }
}

// ---- the likelihoods -----------------------------------------------------

/// `expm1(x)` for `x <= 700`, vectorisable: `2^k * expm1(r) + (2^k - 1)`
/// with `x = k ln 2 + r`, `|r| <= ln 2 / 2`, and a degree-13 polynomial
/// for `expm1(r)` (a couple of ulp). Below -60 it is -1 (as in f64).
#[inline(always)]
fn expm1_fast(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: rounds to integers
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    let x = if x < -60.0 { -60.0 } else { x };
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // 1/n! for n = 2..=13
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    let em1 = r + r * r * p;
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    scale * em1 + (scale - 1.0)
}

/// `ln(u)` for normal, positive, finite `u`, vectorisable: `u = 2^e m`
/// with `m` in `[sqrt(1/2), sqrt(2))`, `ln m = 2 atanh(s)`, `s = (m-1)/(m+1)`
/// by its series to `s^23` (about an ulp).
#[inline(always)]
fn ln_fast(u: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    let bits = u.to_bits();
    // The exponent as a float without an integer conversion.
    let e = f64::from_bits(0x4330_0000_0000_0000 | (bits >> 52)) - 4_503_599_627_371_519.0;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1.0 } else { e };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut p = 1.0 / 23.0;
    p = p * z + 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    let log_m = 2.0 * s + 2.0 * s * z * p;
    e * LN2_HI + (log_m + e * LN2_LO)
}

/// `log1p(x)` for `x >= 0` (finite), vectorisable: `ln(1 + x)` corrected
/// by the rounding of `1 + x`.
#[inline(always)]
fn log1p_fast(x: f64) -> f64 {
    let u = 1.0 + x;
    ln_fast(u) + (x - (u - 1.0)) / u
}

crate::by_level! {
    [avx512, avx2]
    /// `log1p(|x|)` of every value (`x` finite, not NaN).
    fn log1p_abs_all<>(values: &[f64], out: &mut Vec<f64>) {
        let start = out.len();
        out.resize(start + values.len(), 0.0);
        for (o, &x) in out[start..].iter_mut().zip(values) {
            *o = log1p_fast(x.abs());
        }
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `ln(x)` of every value (`x` positive and normal).
    fn ln_all<>(values: &[f64], out: &mut Vec<f64>) {
        let start = out.len();
        out.resize(start + values.len(), 0.0);
        for (o, &x) in out[start..].iter_mut().zip(values) {
            *o = ln_fast(x);
        }
    }
}

/// The values beyond which the fast power transform's arguments may leave
/// its range (and, for Box-Cox, below which `ln` is not the fast one's):
/// those take the exact scalar path.
fn power_limits(method: PowerMethod, lambda: f64) -> (f64, f64) {
    let limit = |c: f64| {
        if c > 0.0 {
            (700.0 / c).exp_m1()
        } else {
            f64::INFINITY
        }
    };
    match method {
        PowerMethod::YeoJohnson => (-limit(2.0 - lambda), limit(lambda)),
        PowerMethod::BoxCox => (f64::MIN_POSITIVE, (700.0 / lambda.abs()).exp()),
    }
}

/// The fast power transform of one value inside the limits: `expm1(c l) / c`
/// with `l` the signed `log1p(|x|)` (Yeo-Johnson; `c` is `lambda - 2` for
/// negative `x`) or `ln x` (Box-Cox), or `l` itself where SciPy takes the log.
#[inline(always)]
fn power_one_fast(x: f64, method: PowerMethod, lambda: f64) -> f64 {
    let eps = f64::EPSILON;
    match method {
        PowerMethod::YeoJohnson => {
            let negative = x < 0.0;
            let l = log1p_fast(x.abs());
            let l = if negative { -l } else { l };
            let c = if negative { lambda - 2.0 } else { lambda };
            let log = if negative {
                (lambda - 2.0).abs() <= eps
            } else {
                lambda.abs() < eps
            };
            let y = expm1_fast(c * l) / c;
            if log {
                l
            } else {
                y
            }
        }
        PowerMethod::BoxCox => {
            let l = ln_fast(x);
            let y = expm1_fast(lambda * l) / lambda;
            if lambda.abs() < 1e-19 {
                l
            } else {
                y
            }
        }
    }
}

/// The power transform of one value: the fast path inside the limits, the
/// exact (SciPy's) formulas outside them and for NaN. [`power_all`] gives
/// the same bits.
#[inline]
fn power_one(x: f64, method: PowerMethod, lambda: f64) -> f64 {
    let (low, high) = power_limits(method, lambda);
    if x <= high && x >= low {
        power_one_fast(x, method, lambda)
    } else {
        match method {
            PowerMethod::YeoJohnson => yeo_johnson(x, lambda),
            PowerMethod::BoxCox => box_cox(x, lambda),
        }
    }
}

/// [`power_one`] of every value, the fast path vectorised.
fn power_all(values: &[f64], method: PowerMethod, lambda: f64) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    power_fast(values, method, lambda, &mut out);
    let (low, high) = power_limits(method, lambda);
    for (o, &x) in out.iter_mut().zip(values) {
        if !(x <= high && x >= low) {
            *o = power_one(x, method, lambda);
        }
    }
    out
}

crate::by_level! {
    [avx512, avx2]
    fn power_fast<>(values: &[f64], method: PowerMethod, lambda: f64, out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(values) {
            *o = power_one_fast(x, method, lambda);
        }
    }
}

/// Moments of `map(l)` over `logs`, block by block (merged in order, in
/// parallel for long inputs: the same bits whatever the threads). The
/// kernel computes `u = expm1(factor * (l - shift))` and the moments of
/// `u`; the division by `factor` (and the sign) scales the moments instead
/// of every value.
fn mapped_moments(logs: &[f64], factor: f64, kind: Mapped) -> Moments {
    let (shift, divisor) = match kind {
        Mapped::Expm1 => (0.0, factor),
        Mapped::NegExpm1 => (0.0, -factor),
        Mapped::Expm1At(c) => (c, factor),
    };
    let work = |part: &[f64]| {
        let mut buffer = [0.0f64; BLOCK];
        let mut total = Moments::EMPTY;
        for block in part.chunks(BLOCK) {
            let out = &mut buffer[..block.len()];
            let (mean, m2) = expm1_block_moments(block, factor, shift, out);
            total = total.merge(Moments {
                count: block.len() as f64,
                mean,
                m2,
                min: f64::NAN,
                max: f64::NAN,
            });
        }
        total
    };
    let total = if logs.len() < PARALLEL_MIN_LEN {
        work(logs)
    } else {
        parallel::map_chunks(logs, PARALLEL_CHUNK, work)
            .into_iter()
            .fold(Moments::EMPTY, Moments::merge)
    };
    Moments {
        mean: total.mean / divisor,
        m2: total.m2 / (divisor * divisor),
        ..total
    }
}

const LANES: usize = 8;

crate::by_level! {
    [avx512, avx2]
    /// Mean and sum of squared deviations of `expm1(factor * (l - shift))`
    /// over one block (two passes over `out`, which stays in L1), several
    /// accumulators per pass so the loops vectorise.
    fn expm1_block_moments<>(block: &[f64], factor: f64, shift: f64, out: &mut [f64]) -> (f64, f64) {
        let mut sums = [0.0f64; LANES];
        for (input, output) in block.chunks_exact(LANES).zip(out.chunks_exact_mut(LANES)) {
            for lane in 0..LANES {
                let u = expm1_fast(factor * (input[lane] - shift));
                output[lane] = u;
                sums[lane] += u;
            }
        }
        let done = block.len() - block.len() % LANES;
        for (lane, (&l, o)) in block[done..].iter().zip(&mut out[done..]).enumerate() {
            let u = expm1_fast(factor * (l - shift));
            *o = u;
            sums[lane] += u;
        }
        let n = block.len() as f64;
        let mean = sums.iter().sum::<f64>() / n;
        let mut squares = [0.0f64; LANES];
        let mut corrections = [0.0f64; LANES];
        for values in out.chunks_exact(LANES) {
            for lane in 0..LANES {
                let d = values[lane] - mean;
                corrections[lane] += d;
                squares[lane] += d * d;
            }
        }
        for (lane, &u) in out[done..].iter().enumerate() {
            let d = u - mean;
            corrections[lane] += d;
            squares[lane] += d * d;
        }
        let correction: f64 = corrections.iter().sum();
        (
            mean,
            squares.iter().sum::<f64>() - correction * correction / n,
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Mapped {
    /// `expm1(factor * l) / factor` (Yeo-Johnson, `x >= 0`).
    Expm1,
    /// `-expm1(factor * l) / factor` (Yeo-Johnson, `x < 0`, factor `2 - lambda`).
    NegExpm1,
    /// `expm1(factor * (l - c)) / factor` (Box-Cox around `l = c`).
    Expm1At(f64),
}

/// The same moments with the exact (`libm`) functions, for the arguments
/// the fast ones do not cover (beyond 700).
fn mapped_moments_exact(logs: &[f64], factor: f64, kind: Mapped) -> Moments {
    let mut total = Moments::EMPTY;
    let mut buffer = [0.0f64; BLOCK];
    for block in logs.chunks(BLOCK) {
        let out = &mut buffer[..block.len()];
        for (o, &l) in out.iter_mut().zip(block) {
            *o = match kind {
                Mapped::Expm1 => (factor * l).exp_m1() / factor,
                Mapped::NegExpm1 => -(factor * l).exp_m1() / factor,
                Mapped::Expm1At(c) => (factor * (l - c)).exp_m1() / factor,
            };
        }
        total = total.merge(block_moments(out, 1.0));
    }
    total
}

/// What Yeo-Johnson's likelihood needs of the data, computed once.
struct YeoJohnsonData {
    /// `log1p(x)` of the values `>= 0` and `log1p(-x)` of those `< 0`.
    positive: Vec<f64>,
    negative: Vec<f64>,
    max_positive: f64,
    max_negative: f64,
    /// `sum(sign(x) * log1p(|x|))`.
    signed_sum: f64,
    n: f64,
}

impl YeoJohnsonData {
    fn new(values: &[f64]) -> Self {
        let (mut positive, mut negative) = (Vec::new(), Vec::new());
        if values.iter().all(|&x| x >= 0.0) {
            log1p_abs_all(values, &mut positive);
        } else {
            let (pos, neg): (Vec<f64>, Vec<f64>) = values.iter().partition(|&&x| x >= 0.0);
            log1p_abs_all(&pos, &mut positive);
            log1p_abs_all(&neg, &mut negative);
        }
        let signed_sum = positive.iter().sum::<f64>() - negative.iter().sum::<f64>();
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        YeoJohnsonData {
            max_positive: max(&positive),
            max_negative: max(&negative),
            positive,
            negative,
            signed_sum,
            n: values.len() as f64,
        }
    }

    /// The variance of the transformed values.
    fn variance(&self, lambda: f64) -> f64 {
        let eps = f64::EPSILON;
        let part = |logs: &[f64], factor: f64, kind: Mapped, max: f64| {
            if logs.is_empty() {
                return Moments::EMPTY;
            }
            if factor.abs() < eps {
                // log1p itself (or its negative).
                let sign = if matches!(kind, Mapped::NegExpm1) {
                    -1.0
                } else {
                    1.0
                };
                let y: Vec<f64> = logs.iter().map(|l| sign * l).collect();
                return column_moments(&[Segment::new(&y, None)])
                    .map(|m| m.0)
                    .unwrap_or(Moments::EMPTY);
            }
            if factor * max <= 700.0 {
                mapped_moments(logs, factor, kind)
            } else {
                mapped_moments_exact(logs, factor, kind)
            }
        };
        let m = part(&self.positive, lambda, Mapped::Expm1, self.max_positive).merge(part(
            &self.negative,
            2.0 - lambda,
            Mapped::NegExpm1,
            self.max_negative,
        ));
        m.m2 / m.count
    }

    /// SciPy's `yeojohnson_llf`.
    fn llf(&self, lambda: f64) -> f64 {
        let sigma = self.variance(lambda);
        let log_sigma = if sigma >= f64::MIN_POSITIVE {
            sigma.ln()
        } else {
            f64::NEG_INFINITY
        };
        -self.n / 2.0 * log_sigma + (lambda - 1.0) * self.signed_sum
    }
}

/// SciPy's `yeojohnson_normmax`: `fminbound` of the negative likelihood
/// between bounds that keep the transform from overflowing.
fn yeo_johnson_lambda<T: Element>(values: &[f64]) -> f64 {
    if values.iter().all(|&x| x == 0.0) {
        return 1.0;
    }
    let data = YeoJohnsonData::new(values);
    let neg_llf = |lambda: f64| {
        let llf = data.llf(lambda);
        if llf.is_infinite() {
            f64::INFINITY
        } else {
            -llf
        }
    };
    let (eps, tiny, max) = finfo::<T>();
    let largest = values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let log1p_max_x = (20.0 * largest).ln_1p();
    let log_eps = eps.ln();
    let log_tiny_float = (tiny.ln() - log_eps) / 2.0;
    let log_max_float = (max.ln() + log_eps) / 2.0;
    let (mut lb, mut ub) = (log_tiny_float / log1p_max_x, log_max_float / log1p_max_x);
    if values.iter().all(|&x| x < 0.0) {
        (lb, ub) = (2.0 - ub, 2.0 - lb);
    } else if values.iter().any(|&x| x < 0.0) {
        (lb, ub) = (lb.max(2.0 - ub), ub.min(2.0 - lb));
    }
    fminbound(neg_llf, lb, ub, 1.48e-8, 500)
}

/// What Box-Cox's likelihood needs of the data, computed once.
struct BoxCoxData {
    logs: Vec<f64>,
    min_log: f64,
    max_log: f64,
    sum_log: f64,
    n: f64,
}

impl BoxCoxData {
    fn new(values: &[f64]) -> Self {
        let mut logs = Vec::with_capacity(values.len());
        if values
            .iter()
            .all(|&x| x >= f64::MIN_POSITIVE && x.is_finite())
        {
            ln_all(values, &mut logs);
        } else {
            logs.extend(values.iter().map(|x| x.ln()));
        }
        BoxCoxData {
            min_log: logs.iter().copied().fold(f64::INFINITY, f64::min),
            max_log: logs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sum_log: logs.iter().sum(),
            n: logs.len() as f64,
            logs,
        }
    }

    /// SciPy's `boxcox_llf`. The variance of `(x^lambda - 1) / lambda` is
    /// `e^(2 lambda c)` times that of `expm1(lambda (ln x - c)) / lambda`;
    /// with `c` the extreme log on the side that makes every argument <= 0,
    /// no power overflows and, for small `lambda`, nothing cancels.
    fn llf(&self, lambda: f64) -> f64 {
        let logvar = if lambda == 0.0 {
            let m = column_moments(&[Segment::new(&self.logs, None)])
                .map(|m| m.0)
                .unwrap_or(Moments::EMPTY);
            (m.m2 / m.count).ln()
        } else {
            let c = if lambda > 0.0 {
                self.max_log
            } else {
                self.min_log
            };
            let m = mapped_moments(&self.logs, lambda, Mapped::Expm1At(c));
            2.0 * lambda * c + (m.m2 / m.count).ln()
        };
        (lambda - 1.0) * self.sum_log - self.n / 2.0 * logvar
    }
}

/// SciPy's `boxcox_normmax(method="mle")`: Brent's method from the bracket
/// (-2, 2), then the constraint that keeps the transformed extreme below
/// `ymax = finfo.max / 10000`.
fn box_cox_lambda<T: Element>(values: &[f64]) -> f64 {
    let data = BoxCoxData::new(values);
    let lambda = brent(|l| -data.llf(l), -2.0, 2.0, 1.48e-8, 500);
    let ymax = finfo::<T>().2 / 10000.0;
    let (xmin, xmax) = (data.min_log.exp(), data.max_log.exp());
    let extreme = if xmin >= 1.0 {
        xmax
    } else if xmax <= 1.0 {
        xmin
    } else if box_cox(xmax, lambda) > box_cox(xmin, lambda).abs() {
        xmax
    } else {
        xmin
    };
    if box_cox(extreme, lambda).abs() > ymax {
        let y = ymax * (extreme - 1.0).signum();
        // SciPy's `_boxcox_inv_lmbda`: W_{-1}(-(x^(-1/y)) ln(x) / y).
        let z = -(extreme.powf(-1.0 / y)) * extreme.ln() / y;
        let w = lambert_w_minus1(z);
        return -w / extreme.ln() - 1.0 / y;
    }
    lambda
}

/// The lower branch `W_{-1}(z)` of the Lambert W function, `-1/e <= z < 0`,
/// by Newton's method on `w + ln(-w) = ln(-z)`.
fn lambert_w_minus1(z: f64) -> f64 {
    if !(z < 0.0 && z >= -(-1.0f64).exp()) {
        return f64::NAN;
    }
    let target = (-z).ln();
    let mut w = if target < -2.0 {
        target - (-target).ln()
    } else {
        -2.0
    };
    for _ in 0..100 {
        let step = (w + (-w).ln() - target) / (1.0 + 1.0 / w);
        let next = (w - step).min(-1.0);
        if (next - w).abs() <= 4.0 * f64::EPSILON * w.abs() {
            return next;
        }
        w = next;
    }
    w
}

// ---- SciPy's scalar minimizers -------------------------------------------

/// `scipy.optimize.fminbound` (`_minimize_scalar_bounded`), step by step.
pub fn fminbound(
    mut f: impl FnMut(f64) -> f64,
    x1: f64,
    x2: f64,
    xatol: f64,
    maxfun: usize,
) -> f64 {
    let sqrt_eps = 2.2e-16f64.sqrt();
    let golden_mean = 0.5 * (3.0 - 5.0f64.sqrt());
    let (mut a, mut b) = (x1, x2);
    let mut fulc = a + golden_mean * (b - a);
    let (mut nfc, mut xf) = (fulc, fulc);
    let (mut rat, mut e) = (0.0f64, 0.0f64);
    let mut x;
    let mut fx = f(xf);
    let mut num = 1usize;
    let (mut ffulc, mut fnfc) = (fx, fx);
    let mut xm = 0.5 * (a + b);
    let mut tol1 = sqrt_eps * xf.abs() + xatol / 3.0;
    let mut tol2 = 2.0 * tol1;
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    while (xf - xm).abs() > (tol2 - 0.5 * (b - a)) {
        let mut golden = true;
        if e.abs() > tol1 {
            golden = false;
            let mut r = (xf - nfc) * (fx - ffulc);
            let mut q = (xf - fulc) * (fx - fnfc);
            let mut p = (xf - fulc) * q - (xf - nfc) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            r = e;
            e = rat;
            if p.abs() < (0.5 * q * r).abs() && p > q * (a - xf) && p < q * (b - xf) {
                rat = (p + 0.0) / q;
                x = xf + rat;
                if (x - a) < tol2 || (b - x) < tol2 {
                    let d = xm - xf;
                    let si = sign(d) + if d == 0.0 { 1.0 } else { 0.0 };
                    rat = tol1 * si;
                }
            } else {
                golden = true;
            }
        }
        if golden {
            e = if xf >= xm { a - xf } else { b - xf };
            rat = golden_mean * e;
        }
        let si = sign(rat) + if rat == 0.0 { 1.0 } else { 0.0 };
        x = xf + si * rat.abs().max(tol1);
        let fu = f(x);
        num += 1;
        if fu <= fx {
            if x >= xf {
                a = xf;
            } else {
                b = xf;
            }
            (fulc, ffulc) = (nfc, fnfc);
            (nfc, fnfc) = (xf, fx);
            (xf, fx) = (x, fu);
        } else {
            if x < xf {
                a = x;
            } else {
                b = x;
            }
            if fu <= fnfc || nfc == xf {
                (fulc, ffulc) = (nfc, fnfc);
                (nfc, fnfc) = (x, fu);
            } else if fu <= ffulc || fulc == xf || fulc == nfc {
                (fulc, ffulc) = (x, fu);
            }
        }
        xm = 0.5 * (a + b);
        tol1 = sqrt_eps * xf.abs() + xatol / 3.0;
        tol2 = 2.0 * tol1;
        if num >= maxfun {
            break;
        }
    }
    xf
}

/// `scipy.optimize.bracket` from `(xa, xb)`: `(xa, xb, xc, fa, fb, fc)`,
/// or `None` when no valid bracket is found.
#[allow(clippy::type_complexity)]
fn bracket(
    f: &mut impl FnMut(f64) -> f64,
    xa: f64,
    xb: f64,
) -> Option<(f64, f64, f64, f64, f64, f64)> {
    const GOLD: f64 = 1.618034;
    const VERY_SMALL: f64 = 1e-21;
    const GROW_LIMIT: f64 = 110.0;
    let (mut xa, mut xb) = (xa, xb);
    let (mut fa, mut fb) = (f(xa), f(xb));
    if fa < fb {
        std::mem::swap(&mut xa, &mut xb);
        std::mem::swap(&mut fa, &mut fb);
    }
    let mut xc = xb + GOLD * (xb - xa);
    let mut fc = f(xc);
    let mut iter = 0;
    while fc < fb {
        let tmp1 = (xb - xa) * (fb - fc);
        let tmp2 = (xb - xc) * (fb - fa);
        let val = tmp2 - tmp1;
        let denom = if val.abs() < VERY_SMALL {
            2.0 * VERY_SMALL
        } else {
            2.0 * val
        };
        let mut w = xb - ((xb - xc) * tmp2 - (xb - xa) * tmp1) / denom;
        let wlim = xb + GROW_LIMIT * (xc - xb);
        if iter > 1000 {
            return None;
        }
        iter += 1;
        let mut fw;
        if (w - xc) * (xb - w) > 0.0 {
            fw = f(w);
            if fw < fc {
                xa = xb;
                xb = w;
                fa = fb;
                fb = fw;
                break;
            } else if fw > fb {
                xc = w;
                fc = fw;
                break;
            }
            w = xc + GOLD * (xc - xb);
            fw = f(w);
        } else if (w - wlim) * (wlim - xc) >= 0.0 {
            w = wlim;
            fw = f(w);
        } else if (w - wlim) * (xc - w) > 0.0 {
            fw = f(w);
            if fw < fc {
                xb = xc;
                xc = w;
                w = xc + GOLD * (xc - xb);
                fb = fc;
                fc = fw;
                fw = f(w);
            }
        } else {
            w = xc + GOLD * (xc - xb);
            fw = f(w);
        }
        xa = xb;
        xb = xc;
        xc = w;
        fa = fb;
        fb = fc;
        fc = fw;
    }
    let cond1 = (fb < fc && fb <= fa) || (fb < fa && fb <= fc);
    let cond2 = (xa < xb && xb < xc) || (xc < xb && xb < xa);
    let cond3 = xa.is_finite() && xb.is_finite() && xc.is_finite();
    (cond1 && cond2 && cond3).then_some((xa, xb, xc, fa, fb, fc))
}

/// `scipy.optimize.brent(f, brack=(xa, xb), tol, maxiter)`, step by step.
/// Without a valid bracket, the best point seen is returned.
pub fn brent(mut f: impl FnMut(f64) -> f64, xa: f64, xb: f64, tol: f64, maxiter: usize) -> f64 {
    const MINTOL: f64 = 1.0e-11;
    const CG: f64 = 0.3819660;
    let Some((xa, xb, xc, _fa, fb, _fc)) = bracket(&mut f, xa, xb) else {
        let (fa, fb) = (f(xa), f(xb));
        return if fa <= fb { xa } else { xb };
    };
    let (mut x, mut w, mut v) = (xb, xb, xb);
    let (mut fw, mut fv, mut fx) = (fb, fb, fb);
    let (mut a, mut b) = if xa < xc { (xa, xc) } else { (xc, xa) };
    let mut deltax = 0.0f64;
    let mut rat = 0.0f64;
    let mut iter = 0;
    while iter < maxiter {
        let tol1 = tol * x.abs() + MINTOL;
        let tol2 = 2.0 * tol1;
        let xmid = 0.5 * (a + b);
        if (x - xmid).abs() < (tol2 - 0.5 * (b - a)) {
            break;
        }
        if deltax.abs() <= tol1 {
            deltax = if x >= xmid { a - x } else { b - x };
            rat = CG * deltax;
        } else {
            let tmp1 = (x - w) * (fx - fv);
            let mut tmp2 = (x - v) * (fx - fw);
            let mut p = (x - v) * tmp2 - (x - w) * tmp1;
            tmp2 = 2.0 * (tmp2 - tmp1);
            if tmp2 > 0.0 {
                p = -p;
            }
            tmp2 = tmp2.abs();
            let dx_temp = deltax;
            deltax = rat;
            if p > tmp2 * (a - x) && p < tmp2 * (b - x) && p.abs() < (0.5 * tmp2 * dx_temp).abs() {
                rat = p * 1.0 / tmp2;
                let u = x + rat;
                if (u - a) < tol2 || (b - u) < tol2 {
                    rat = if xmid - x >= 0.0 { tol1 } else { -tol1 };
                }
            } else {
                deltax = if x >= xmid { a - x } else { b - x };
                rat = CG * deltax;
            }
        }
        let u = if rat.abs() < tol1 {
            if rat >= 0.0 {
                x + tol1
            } else {
                x - tol1
            }
        } else {
            x + rat
        };
        let fu = f(u);
        if fu > fx {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                v = w;
                w = u;
                fv = fw;
                fw = fu;
            } else if fu <= fv || v == x || v == w {
                v = u;
                fv = fu;
            }
        } else {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            v = w;
            w = x;
            x = u;
            fv = fw;
            fw = fx;
            fx = fu;
        }
        iter += 1;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_expm1_is_within_a_few_ulp() {
        let mut x = -59.0;
        while x < 700.0 {
            let (fast, exact) = (expm1_fast(x), x.exp_m1());
            let ulp = exact.abs() * f64::EPSILON;
            assert!((fast - exact).abs() <= 4.0 * ulp, "{x}: {fast} vs {exact}");
            x += 0.0137;
        }
        for x in [0.0, 1e-300, -1e-300, 1e-10, -1e-10, 0.3, -0.3, 0.35, -0.35] {
            let (fast, exact) = (expm1_fast(x), x.exp_m1());
            assert!(
                (fast - exact).abs() <= 4.0 * exact.abs() * f64::EPSILON,
                "{x}"
            );
        }
        assert_eq!(expm1_fast(-100.0), -1.0);
    }

    #[test]
    fn fast_logs_are_within_a_few_ulp() {
        let mut x = 1e-300;
        while x < 1e300 {
            let (fast, exact) = (ln_fast(x), x.ln());
            assert!(
                (fast - exact).abs() <= 4.0 * exact.abs().max(1e-300) * f64::EPSILON,
                "{x}"
            );
            let (fast, exact) = (log1p_fast(x), x.ln_1p());
            assert!(
                (fast - exact).abs() <= 4.0 * exact.abs() * f64::EPSILON,
                "{x}"
            );
            x *= 1.37;
        }
        for x in [0.0, 5e-324, 1e-310, 1e-17, 0.5, 1.0, 0.999_999_999_999] {
            assert!((log1p_fast(x) - x.ln_1p()).abs() <= 4.0 * x.ln_1p() * f64::EPSILON);
        }
        let values = [-3.0, -1e-9, 0.0, 2.5, 1e6, f64::NAN, -1e300, 1e300];
        for lambda in [-1.5, 0.0, 0.7, 2.0, 3.0] {
            let fast = power_all(&values, PowerMethod::YeoJohnson, lambda);
            for (f, &x) in fast.iter().zip(&values) {
                let exact = yeo_johnson(x, lambda);
                let close =
                    (f - exact).abs() <= 1e-14 * exact.abs() || (f.is_nan() && exact.is_nan());
                assert!(close || f == &exact, "{lambda} {x}: {f} vs {exact}");
            }
        }
    }

    #[test]
    fn references_match_numpy_linspace() {
        assert_eq!(references(1), vec![0.0]);
        assert_eq!(references(3), vec![0.0, 0.5, 1.0]);
        let r = references(1000);
        assert_eq!(r[1], 1.0 / 999.0);
        assert_eq!(r[999], 1.0);
    }

    #[test]
    fn selected_ranks_equal_sorting() {
        let data: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 4999) as f64 * 0.3)
            .collect();
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        let ranks = [0, 3, 17, 2500, 2501, 4998, 4999];
        let mut copy = data.clone();
        let found = select_ranks(&mut copy, &ranks);
        let expected: Vec<f64> = ranks.iter().map(|&r| sorted[r]).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn interp_follows_numpy_on_ties() {
        let xp = [0.0, 1.0, 1.0, 1.0, 2.0];
        let fp = [0.0, 0.25, 0.5, 0.75, 1.0];
        assert_eq!(interp(1.0, &xp, &fp), 0.75);
        assert_eq!(interp(-1.0, &xp, &fp), 0.0);
        assert_eq!(interp(3.0, &xp, &fp), 1.0);
        assert_eq!(interp(1.5, &xp, &fp), 0.875);
        let map = QuantileMap::new(xp.to_vec(), false);
        // The average of the first and last tied reference.
        assert_eq!(map.apply::<f64>(1.0), 0.5);
    }

    #[test]
    fn ppf_inverts_the_cdf() {
        for p in [1e-12, 1e-7, 0.01, 0.2, 0.5, 0.7, 0.99, 1.0 - 1e-9] {
            let x = normal_ppf(p);
            assert!((normal_cdf(x) - p).abs() <= 1e-14 * p.max(1e-3), "{p}");
        }
        assert!((normal_ppf(0.975) - 1.959963984540054).abs() < 1e-15);
    }

    #[test]
    fn minimizers_find_a_parabola_minimum() {
        let f = |x: f64| (x - 0.7) * (x - 0.7) + 1.0;
        assert!((fminbound(f, -5.0, 5.0, 1e-10, 500) - 0.7).abs() < 1e-6);
        assert!((brent(f, -2.0, 2.0, 1.48e-8, 500) - 0.7).abs() < 1e-6);
    }

    #[test]
    fn yeo_johnson_round_trips_and_constant_keeps_lambda_one() {
        for lambda in [-1.5, 0.0, 0.5, 1.0, 2.0, 3.0] {
            for x in [-3.0, -0.5, 0.0, 0.25, 4.0] {
                let y = yeo_johnson(x, lambda);
                assert!(
                    (yeo_johnson_inverse(y, lambda) - x).abs() < 1e-12,
                    "{lambda} {x}"
                );
            }
        }
        let values = [3.0; 10];
        let segments = [Segment::new(&values[..], None)];
        let fitted = Gaussianizer::Power {
            method: PowerMethod::YeoJohnson,
            standardize: true,
        }
        .fit(&segments)
        .unwrap();
        let Fitted::Power(map) = fitted else {
            panic!("power")
        };
        assert_eq!(map.lambda, 1.0);
        let boxcox = Gaussianizer::Power {
            method: PowerMethod::BoxCox,
            standardize: true,
        };
        assert_eq!(boxcox.fit(&segments), Err(GaussError::Constant));
    }

    #[test]
    fn lognormal_box_cox_lambda_is_near_zero() {
        let values: Vec<f64> = (1..2000)
            .map(|i| (normal_ppf(i as f64 / 2000.0) * 0.8).exp())
            .collect();
        let lambda = box_cox_lambda::<f64>(&values);
        assert!(lambda.abs() < 0.01, "{lambda}");
        let lambda = yeo_johnson_lambda::<f64>(&values);
        assert!(lambda.is_finite());
    }
}
