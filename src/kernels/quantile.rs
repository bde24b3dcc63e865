//! Order statistics by selection (not a full sort), with numpy's
//! `method="linear"` percentile interpolation, and the standard normal
//! quantile function used by RobustScaler's `unit_variance`.

use std::cmp::Ordering;

use super::element::Element;
use rayon::prelude::*;

use super::segments::{Segment, Validity};

/// What RobustScaler needs to know about a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortedStats {
    pub count: usize,
    pub min: f64,
    pub max: f64,
    /// Percentile `quantile_range.0`.
    pub lower: f64,
    pub median: f64,
    /// Percentile `quantile_range.1`.
    pub upper: f64,
}

/// numpy's `_lerp`: `a + (b - a) * t`, computed from the nearer end so that
/// the result is monotone and exact at `t = 1`.
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if !diff.is_finite() {
        // `b - a` overflows: interpolate the halves (exact scaling by 2).
        return 2.0 * lerp(a * 0.5, b * 0.5, t);
    }
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Mean of two values without overflow (numpy's `median` is `(a + b) / 2`).
fn midpoint(a: f64, b: f64) -> f64 {
    let sum = a + b;
    if sum.is_finite() {
        sum / 2.0
    } else {
        a * 0.5 + b * 0.5
    }
}

fn min_of<T: Element>(values: &[T]) -> f64 {
    values
        .iter()
        .map(|v| v.to_f64())
        .fold(f64::INFINITY, f64::min)
}

fn max_of<T: Element>(values: &[T]) -> f64 {
    values
        .iter()
        .map(|v| v.to_f64())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The order statistics at `rank` and `rank + 1` (clamped), looking only at
/// `values[..end]`, which must hold the `end` smallest values and no NaN
/// (so the plain float comparison is a total order). Afterwards
/// `values[..rank]` holds the `rank` smallest, so later (smaller) ranks can
/// search that prefix only. The `rank + 1` statistic is the minimum of what
/// lies right of `rank`, a linear scan instead of a second selection.
fn select_pair<T: Element>(values: &mut [T], end: usize, rank: usize) -> (f64, f64) {
    let part = &mut values[..end];
    let (_, at, right) =
        part.select_nth_unstable_by(rank, |a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let at = at.to_f64();
    let next = if right.is_empty() { at } else { min_of(right) };
    (at, next)
}

/// The lower position numpy's linear percentile reads (it also reads the
/// next one) and the interpolation weight.
pub(crate) fn percentile_ranks(n: usize, percent: f64) -> (usize, f64) {
    let virtual_index = (n - 1) as f64 * (percent / 100.0);
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    ((below.max(0.0) as usize).min(n - 1), gamma)
}

/// `SortedStats` of `values` (which must hold no NaN), like numpy's
/// `nanmedian` and `nanpercentile(values, quantile_range)`. Reorders `values`.
pub fn percentile_linear<T: Element>(values: &mut [T], quantile_range: (f64, f64)) -> SortedStats {
    let n = values.len();
    if n == 0 {
        return SortedStats::EMPTY;
    }
    let (lo_rank, _) = percentile_ranks(n, quantile_range.0);
    let (hi_rank, _) = percentile_ranks(n, quantile_range.1);
    let mid_rank = (n - 1) / 2;
    // Largest rank first; each later selection searches a shorter prefix.
    let mut ranks = [hi_rank, mid_rank, lo_rank];
    ranks.sort_unstable_by(|a, b| b.cmp(a));
    let mut pairs = [(0usize, (0.0f64, 0.0f64)); 3];
    let mut end = n;
    let mut max = f64::NAN;
    for (slot, &rank) in ranks.iter().enumerate() {
        pairs[slot] = (rank, select_pair(values, end, rank));
        if slot == 0 {
            max = max_of(&values[rank..]);
        }
        end = rank + 1;
    }
    let min = min_of(&values[..=ranks[2]]);
    // Each selected pair is the value at its rank and at the next one.
    let at = |rank: usize| {
        pairs
            .iter()
            .find_map(|&(r, (at, next))| {
                (r == rank)
                    .then_some(at)
                    .or_else(|| (r + 1 == rank).then_some(next))
            })
            .unwrap_or(f64::NAN)
    };
    SortedStats::from_ranks(n, min, max, quantile_range, at)
}

/// A key whose unsigned order is the numeric order of non-NaN floats.
#[inline(always)]
pub(crate) fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Census buckets of a column in memory: the top 16 bits of the order key
/// (sign, exponent and the first 4 mantissa bits).
pub const IN_MEMORY_BITS: u32 = 16;
/// Census buckets of data read in batches (larger than memory): 4 more
/// mantissa bits, so the buckets the second pass gathers hold 16 times fewer
/// values. The statistics are exact at any resolution; only the size of the
/// gathered buckets changes.
pub const OUT_OF_CORE_BITS: u32 = 20;

/// `SortedStats` of the valid, non-NaN values of a column without copying
/// it: one pass counts values per bucket of the order key ([`Census`]), a
/// second pass gathers only the buckets that hold the wanted ranks
/// ([`RankPlan`]), and selection runs on those. Exact (same values as
/// selecting on a full copy). Errors with the logical row of the first
/// infinite value.
pub fn percentile_linear_segments<T: Element>(
    segments: &[Segment<'_, T>],
    quantile_range: (f64, f64),
) -> Result<SortedStats, usize> {
    let census = Census::of_segments(segments, IN_MEMORY_BITS);
    if let Some(row) = census.first_infinite {
        return Err(row);
    }
    let Some(plan) = RankPlan::new(&census, quantile_range) else {
        return Ok(SortedStats::EMPTY);
    };
    let mut gathered = plan.gather(segments);
    Ok(plan.finish(&mut gathered, census.min, census.max))
}

impl SortedStats {
    /// The ranks the statistics of `n > 0` values read: each percentile's
    /// lower rank and the next (clamped), ascending and distinct.
    pub fn ranks(n: usize, quantile_range: (f64, f64)) -> Vec<usize> {
        let (lo_rank, _) = percentile_ranks(n, quantile_range.0);
        let (hi_rank, _) = percentile_ranks(n, quantile_range.1);
        let mid_rank = (n - 1) / 2;
        let mut ranks: Vec<usize> = [lo_rank, mid_rank, hi_rank]
            .iter()
            .flat_map(|&r| [r, (r + 1).min(n - 1)])
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }

    /// The statistics of `n > 0` values from the value at each of
    /// [`ranks`](Self::ranks) (numpy's `median` and linear
    /// `percentile`), whichever way those were found.
    pub fn from_ranks(
        n: usize,
        min: f64,
        max: f64,
        quantile_range: (f64, f64),
        at: impl Fn(usize) -> f64,
    ) -> SortedStats {
        let next = |rank: usize| at((rank + 1).min(n - 1));
        let (lo_rank, lo_gamma) = percentile_ranks(n, quantile_range.0);
        let (hi_rank, hi_gamma) = percentile_ranks(n, quantile_range.1);
        let mid_rank = (n - 1) / 2;
        SortedStats {
            count: n,
            min,
            max,
            lower: lerp(at(lo_rank), next(lo_rank), lo_gamma),
            median: if n % 2 == 1 {
                at(mid_rank)
            } else {
                midpoint(at(mid_rank), next(mid_rank))
            },
            upper: lerp(at(hi_rank), next(hi_rank), hi_gamma),
        }
    }

    /// The statistics of a column with no value: NaN, count 0.
    pub const EMPTY: SortedStats = SortedStats {
        count: 0,
        min: f64::NAN,
        max: f64::NAN,
        lower: f64::NAN,
        median: f64::NAN,
        upper: f64::NAN,
    };
}

/// The bucket of a non-NaN value's order key at `bits` bits.
#[inline(always)]
pub fn bucket_of_value(x: f64, bits: u32) -> usize {
    (order_key(x) >> (64 - bits)) as usize
}

/// How many valid, finite, non-NaN values of a column fall in each
/// order-key bucket, with their extent and the first infinite row: the first
/// pass of the exact quantiles. Censuses of separate batches or blocks merge
/// exactly, so the quantiles of data larger than memory (or spread over a
/// cluster) need only the merged census and a second pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Census {
    /// The resolution: buckets are the top `bits` bits of the order key.
    pub bits: u32,
    /// `1 << bits` counts, indexed by [`bucket_of_value`].
    pub counts: Vec<u64>,
    pub min: f64,
    pub max: f64,
    pub first_infinite: Option<usize>,
}

impl Census {
    /// An empty census at `bits` bits (clamped to 8..=24).
    pub fn new(bits: u32) -> Self {
        let bits = bits.clamp(8, 24);
        Census {
            bits,
            counts: vec![0; 1 << bits],
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first_infinite: None,
        }
    }

    /// The census of a column (pieces counted in parallel, about one
    /// census per thread).
    pub fn of_segments<T: Element>(segments: &[Segment<'_, T>], bits: u32) -> Census {
        let pieces = split_segments(segments);
        let per_thread = pieces.len().div_ceil(rayon::current_num_threads()).max(1);
        pieces
            .par_iter()
            .with_min_len(per_thread)
            .fold(
                || Census::new(bits),
                |mut census, (base, piece)| {
                    census.add(*base, piece);
                    census
                },
            )
            .reduce(|| Census::new(bits), Census::merge)
    }

    /// Counts the valid, non-NaN values of `piece`, whose first row is `base`.
    fn add<T: Element>(&mut self, base: usize, piece: &Segment<'_, T>) {
        for (i, value) in piece.values.iter().enumerate() {
            let x = value.to_f64();
            if x.is_nan() || !piece.is_valid(i) {
                continue;
            }
            if x.is_infinite() {
                let row = base + i;
                self.first_infinite = Some(self.first_infinite.map_or(row, |r| r.min(row)));
                continue;
            }
            if let Some(count) = self.counts.get_mut(bucket_of_value(x, self.bits)) {
                *count += 1;
            }
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    /// The census of two parts together, at the same resolution (the first
    /// infinity is the smaller row, so parts must number their rows in one
    /// sequence).
    pub fn merge(mut self, other: Census) -> Census {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.first_infinite = match (self.first_infinite, other.first_infinite) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The non-empty buckets and their counts (a compact form to ship).
    pub fn sparse(&self) -> (Vec<u32>, Vec<u64>) {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(b, &c)| (b as u32, c))
            .unzip()
    }
}

/// The census of one batch in its compact form: the non-empty buckets (in
/// order) and their counts, the extent and the first infinite row. Counted
/// without a pass over all `1 << bits` buckets: only the touched ones are
/// listed, so a fine resolution costs little per batch.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseCensus {
    pub buckets: Vec<u32>,
    pub counts: Vec<u64>,
    pub min: f64,
    pub max: f64,
    pub first_infinite: Option<usize>,
}

impl SparseCensus {
    pub fn of_segments<T: Element>(segments: &[Segment<'_, T>], bits: u32) -> SparseCensus {
        let bits = bits.clamp(8, 24);
        // Zeroed on demand by the allocator: only touched pages cost.
        let mut counts = vec![0u32; 1 << bits];
        let mut touched: Vec<u32> = Vec::new();
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut first_infinite = None;
        let mut base = 0usize;
        for segment in segments {
            for (i, value) in segment.values.iter().enumerate() {
                let x = value.to_f64();
                if x.is_nan() || !segment.is_valid(i) {
                    continue;
                }
                if x.is_infinite() {
                    first_infinite = first_infinite.or(Some(base + i));
                    continue;
                }
                let bucket = bucket_of_value(x, bits);
                if let Some(count) = counts.get_mut(bucket) {
                    if *count == 0 {
                        touched.push(bucket as u32);
                    }
                    *count += 1;
                }
                min = min.min(x);
                max = max.max(x);
            }
            base += segment.values.len();
        }
        touched.sort_unstable();
        let counts = touched
            .iter()
            .map(|&b| counts.get(b as usize).map_or(0, |&c| u64::from(c)))
            .collect();
        SparseCensus {
            buckets: touched,
            counts,
            min,
            max,
            first_infinite,
        }
    }
}

/// Where the ranks a [`SortedStats`] needs fall in a census: which buckets
/// the second pass must gather, and each rank's place inside its bucket.
#[derive(Debug, Clone)]
pub struct RankPlan {
    n: usize,
    quantile_range: (f64, f64),
    bits: u32,
    /// The first rank of each bucket.
    starts: Vec<usize>,
    /// The buckets to gather, in slot order.
    wanted: Vec<u32>,
    /// Bucket -> slot in `wanted` (`u8::MAX`: not wanted).
    slot_of_bucket: Vec<u8>,
}

impl RankPlan {
    /// The plan for `census`, or `None` when it counted no value.
    pub fn new(census: &Census, quantile_range: (f64, f64)) -> Option<RankPlan> {
        let n = usize::try_from(census.count()).ok().filter(|&n| n > 0)?;
        let mut starts = vec![0usize; census.counts.len()];
        let mut running = 0usize;
        for (start, &c) in starts.iter_mut().zip(&census.counts) {
            *start = running;
            running += c as usize;
        }
        let mut plan = RankPlan {
            n,
            quantile_range,
            bits: census.bits,
            slot_of_bucket: vec![u8::MAX; starts.len()],
            starts,
            wanted: Vec::new(),
        };
        for r in SortedStats::ranks(n, quantile_range) {
            let b = plan.bucket_of_rank(r);
            if plan.slot_of_bucket[b] == u8::MAX {
                plan.slot_of_bucket[b] = plan.wanted.len() as u8;
                plan.wanted.push(b as u32);
            }
        }
        Some(plan)
    }

    fn bucket_of_rank(&self, rank: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= rank)
            .saturating_sub(1)
    }

    /// The buckets the second pass must gather.
    pub fn wanted_buckets(&self) -> &[u32] {
        &self.wanted
    }

    /// The slot of `x`'s bucket, if it is wanted (`x` must not be NaN).
    #[inline(always)]
    fn slot_of(&self, x: f64) -> Option<usize> {
        let slot = *self.slot_of_bucket.get(bucket_of_value(x, self.bits))?;
        (slot != u8::MAX).then_some(usize::from(slot))
    }

    /// The second pass over the column the census counted: its values in the
    /// wanted buckets, one vector per slot (their order does not matter).
    pub fn gather<T: Element>(&self, segments: &[Segment<'_, T>]) -> Vec<Vec<T>> {
        let pieces = split_segments(segments);
        let parts: Vec<Vec<Vec<T>>> = pieces
            .par_iter()
            .map(|(_, piece)| {
                // Sized from the census (the piece's share), plus slack.
                let share = piece.values.len() as f64 / self.n as f64;
                let mut local: Vec<Vec<T>> = self
                    .wanted
                    .iter()
                    .map(|&b| {
                        let count = self.bucket_len(b as usize);
                        Vec::with_capacity((count as f64 * share * 1.25) as usize + 64)
                    })
                    .collect();
                for (i, value) in piece.values.iter().enumerate() {
                    let x = value.to_f64();
                    if x.is_nan() || !piece.is_valid(i) {
                        continue;
                    }
                    if let Some(bucket) = self.slot_of(x).and_then(|s| local.get_mut(s)) {
                        bucket.push(*value);
                    }
                }
                local
            })
            .collect();
        let mut gathered: Vec<Vec<T>> = self
            .wanted
            .iter()
            .map(|&b| Vec::with_capacity(self.bucket_len(b as usize)))
            .collect();
        for part in parts {
            for (bucket, local) in gathered.iter_mut().zip(part) {
                bucket.extend(local);
            }
        }
        gathered
    }

    fn bucket_len(&self, b: usize) -> usize {
        let end = self.starts.get(b + 1).copied().unwrap_or(self.n);
        end - self.starts[b]
    }

    /// The statistics from the gathered buckets (reordered in place) and the
    /// census extent. A bucket whose gathered count differs from the census
    /// (data changed between the passes) gives NaN, never a wrong number.
    pub fn finish<T: Element>(&self, gathered: &mut [Vec<T>], min: f64, max: f64) -> SortedStats {
        if gathered
            .iter()
            .zip(&self.wanted)
            .any(|(values, &b)| values.len() != self.bucket_len(b as usize))
        {
            return SortedStats {
                count: self.n,
                min,
                max,
                ..SortedStats::EMPTY
            };
        }
        let n = self.n;
        // Each wanted pair (rank, rank + 1): one selection inside the bucket
        // of `rank`; `rank + 1` is then the minimum right of it, or, when it
        // lies in the next occupied bucket, that bucket's minimum (both
        // linear scans).
        let mut pair_at = |rank: usize| -> (f64, f64) {
            let b = self.bucket_of_rank(rank);
            let within = rank - self.starts[b];
            let next_rank = (rank + 1).min(n - 1);
            let b_next = self.bucket_of_rank(next_rank);
            let Some(bucket) = gathered.get_mut(usize::from(self.slot_of_bucket[b])) else {
                return (f64::NAN, f64::NAN);
            };
            if within >= bucket.len() {
                return (f64::NAN, f64::NAN);
            }
            let (_, at, right) = bucket
                .select_nth_unstable_by(within, |a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            let at = at.to_f64();
            let next = if next_rank == rank {
                at
            } else if b_next == b {
                min_of(right)
            } else {
                gathered
                    .get(usize::from(self.slot_of_bucket[b_next]))
                    .map_or(f64::NAN, |bucket| min_of(bucket))
            };
            (at, next)
        };
        let mut found: Vec<(usize, f64)> = Vec::with_capacity(6);
        for rank in SortedStats::ranks(n, self.quantile_range) {
            if !found.iter().any(|&(r, _)| r == rank) {
                let (at, next) = pair_at(rank);
                found.push((rank, at));
                found.push(((rank + 1).min(n - 1), next));
            }
        }
        let at = |rank: usize| {
            found
                .iter()
                .find(|&&(r, _)| r == rank)
                .map_or(f64::NAN, |&(_, v)| v)
        };
        SortedStats::from_ranks(n, min, max, self.quantile_range, at)
    }
}

/// Rows per parallel piece of the census and gather passes.
const PIECE: usize = 1 << 17;

/// The segments cut into pieces of at most `PIECE` rows, each with the
/// logical row of its first value.
fn split_segments<'a, T: Element>(segments: &[Segment<'a, T>]) -> Vec<(usize, Segment<'a, T>)> {
    let mut pieces = Vec::new();
    let mut base = 0usize;
    for segment in segments {
        let mut start = 0usize;
        while start < segment.values.len() {
            let end = (start + PIECE).min(segment.values.len());
            let validity = segment.validity.map(|v| Validity {
                bytes: v.bytes,
                offset: v.offset + start,
            });
            pieces.push((
                base + start,
                Segment::new(&segment.values[start..end], validity),
            ));
            start = end;
        }
        base += segment.values.len();
    }
    pieces
}

/// Standard normal CDF.
fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile function (`scipy.stats.norm.ppf`), by Newton's
/// method on an accurate CDF from a bracketing start; exact to a few ulp.
pub fn standard_normal_ppf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p == 0.5 {
        return 0.0;
    }
    // Symmetry keeps the Newton steps in the accurate (lower) tail.
    if p > 0.5 {
        return -standard_normal_ppf_lower(1.0 - p);
    }
    standard_normal_ppf_lower(p)
}

/// Quantile for `0 < p < 0.5` (a negative number).
fn standard_normal_ppf_lower(p: f64) -> f64 {
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // Bisection bracket, then Newton steps that stay inside it.
    let (mut lo, mut hi) = (-40.0f64, 0.0f64);
    let mut x = -(-2.0 * p.ln()).sqrt(); // tail approximation as a start
    x = x.clamp(lo, hi);
    for _ in 0..200 {
        let f = normal_cdf(x) - p;
        if f == 0.0 {
            return x;
        }
        if f > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        let step = f / density(x);
        let mut next = x - step;
        if !(next > lo && next < hi && next.is_finite()) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-17 * x.abs().max(1e-300) {
            return next;
        }
        x = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::passes::{Counted, OrderTarget};

    fn sorted_percentile(sorted: &[f64], percent: f64) -> f64 {
        let (b, g) = percentile_ranks(sorted.len(), percent);
        lerp(sorted[b], sorted[(b + 1).min(sorted.len() - 1)], g)
    }

    #[test]
    fn selection_matches_sorting() {
        let mut data: Vec<f64> = (0..1001)
            .map(|i| ((i * 7919) % 1009) as f64 * 0.5)
            .collect();
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        let stats = percentile_linear(&mut data, (12.5, 80.0));
        assert_eq!(stats.lower, sorted_percentile(&sorted, 12.5));
        assert_eq!(stats.upper, sorted_percentile(&sorted, 80.0));
        assert_eq!(stats.median, sorted[500]);
        assert_eq!((stats.min, stats.max), (sorted[0], sorted[1000]));
    }

    #[test]
    fn selection_matches_sorting_for_many_shapes() {
        let ranges = [
            (25.0, 75.0),
            (0.0, 100.0),
            (60.0, 90.0),
            (10.0, 10.0),
            (5.0, 45.0),
            (50.0, 50.0),
        ];
        for n in 1..40usize {
            for &(lo, hi) in &ranges {
                let mut data: Vec<f64> =
                    (0..n).map(|i| ((i * 37 + 11) % 17) as f64 - 8.0).collect();
                let mut sorted = data.clone();
                sorted.sort_by(f64::total_cmp);
                let s = percentile_linear(&mut data, (lo, hi));
                assert_eq!(s.lower, sorted_percentile(&sorted, lo), "n={n} lo={lo}");
                assert_eq!(s.upper, sorted_percentile(&sorted, hi), "n={n} hi={hi}");
                let median = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    midpoint(sorted[n / 2 - 1], sorted[n / 2])
                };
                assert_eq!(s.median, median);
                assert_eq!((s.min, s.max), (sorted[0], sorted[n - 1]));
            }
        }
    }

    #[test]
    fn bucketed_selection_matches_full_selection() {
        let shapes: [fn(usize) -> f64; 4] = [
            |i| ((i * 7919) % 10007) as f64 * 0.013 - 40.0,
            |i| if i % 3 == 0 { -0.0 } else { 0.0 },
            |i| 1.0 + (i % 5) as f64 * 1e-12,
            |i| ((i as f64) * 0.37).sin() * 1e300,
        ];
        for shape in shapes {
            for n in [1usize, 2, 3, 10, 1000, 4097] {
                let data: Vec<f64> = (0..n).map(shape).collect();
                for range in [(25.0, 75.0), (0.0, 100.0), (10.0, 10.0), (60.0, 99.0)] {
                    let mut copy = data.clone();
                    let full = percentile_linear(&mut copy, range);
                    let bucketed =
                        percentile_linear_segments(&[Segment::new(&data, None)], range).unwrap();
                    assert_eq!(full, bucketed, "n={n} range={range:?}");
                }
            }
        }
        let data = [1.0, f64::NAN, f64::INFINITY];
        assert_eq!(
            percentile_linear_segments(&[Segment::new(&data, None)], (25.0, 75.0)),
            Err(2)
        );
    }

    #[test]
    fn even_median_and_small_inputs() {
        let mut data = [4.0, 1.0, 3.0, 2.0];
        let s = percentile_linear(&mut data, (25.0, 75.0));
        assert_eq!((s.median, s.lower, s.upper), (2.5, 1.75, 3.25));
        let mut one = [7.0f32];
        let s = percentile_linear(&mut one, (0.0, 100.0));
        assert_eq!((s.median, s.lower, s.upper), (7.0, 7.0, 7.0));
        let mut huge = [1e308, 1.5e308];
        assert_eq!(percentile_linear(&mut huge, (25.0, 75.0)).median, 1.25e308);
    }

    #[test]
    fn normal_ppf_matches_known_values() {
        // scipy.stats.norm.ppf(0.75) and norm.ppf(0.975)
        assert!((standard_normal_ppf(0.75) - 0.6744897501960817).abs() < 1e-15);
        assert!((standard_normal_ppf(0.975) - 1.959963984540054).abs() < 1e-14);
        assert!((standard_normal_ppf(0.25) + 0.6744897501960817).abs() < 1e-15);
        assert!((standard_normal_ppf(1e-10) + 6.361340902404056).abs() < 1e-12);
        assert_eq!(standard_normal_ppf(0.5), 0.0);
    }
    /// Censuses of batches, merged, and a second pass batch by batch give
    /// the same statistics as the column at once (the out-of-core fit).
    #[test]
    fn census_of_batches_equals_the_whole() {
        let data: Vec<f64> = (0..20_000)
            .map(|i| ((i * 7919) % 10_007) as f64 * 0.37 - 900.0)
            .collect();
        for range in [(25.0, 75.0), (0.0, 100.0), (10.0, 90.0)] {
            let whole = percentile_linear_segments(&[Segment::new(&data, None)], range).unwrap();
            let batches: Vec<&[f64]> = data.chunks(3000).collect();
            // The production path: sparse censuses merged, then the passes.
            let mut first = Vec::new();
            for batch in &batches {
                let sparse =
                    SparseCensus::of_segments(&[Segment::new(batch, None)], OUT_OF_CORE_BITS);
                let dense = Census::of_segments(&[Segment::new(batch, None)], OUT_OF_CORE_BITS);
                assert_eq!(
                    (sparse.buckets.clone(), sparse.counts.clone()),
                    dense.sparse()
                );
                first.extend(
                    sparse
                        .buckets
                        .iter()
                        .zip(&sparse.counts)
                        .map(|(&b, &c)| Counted {
                            prefix: u64::from(b),
                            count: c,
                            min: f64::NAN,
                            max: f64::NAN,
                        }),
                );
            }
            let target = OrderTarget::Robust {
                quantile_range: range,
            };
            let search = target
                .search(data.len() as u64)
                .refine(OUT_OF_CORE_BITS, first)
                .unwrap();
            let mut values: Vec<f64> = data.iter().copied().filter(|&x| search.wants(x)).collect();
            let found = search.values(&mut values).unwrap();
            let ranked: Vec<(u64, f64)> = search.ranks().iter().copied().zip(found).collect();
            let (min, max) = (-900.0, data.iter().copied().fold(f64::MIN, f64::max));
            assert_eq!(target.robust(data.len(), min, max, &ranked), whole);
        }
    }
}
