//! Exact order statistics of data read in passes: a LazyFrame batch by
//! batch, or the blocks of a Ray Dataset, never held whole.
//!
//! The values at a set of wanted ranks are found by narrowing order-key
//! buckets (the key's unsigned order is the numeric order of the floats):
//!
//! 1. a census counts the values per bucket of the key's top 20 bits
//!    ([`OUT_OF_CORE_BITS`], the `order_census` aggregation); the buckets
//!    holding wanted ranks are kept, each with the rank of its first value;
//! 2. while the kept buckets hold more than a budget of values (by default
//!    [`GATHER_BUDGET`], a batch's worth), a refining census counts the
//!    values inside them by a few more key bits (enough that the wanted
//!    sub-buckets likely fit the budget, so the census stays small), with
//!    each sub-bucket's extent: a bucket whose values are all equal (ties,
//!    a binary feature) is then known without further passes;
//! 3. otherwise one pass gathers the values of the kept buckets not yet
//!    known, and sorting them places each wanted rank.
//!
//! Censuses of separate batches merge by adding counts, so the order of the
//! batches does not matter. RobustScaler needs six ranks and
//! QuantileTransformer twice its `n_quantiles`; both read the values
//! through [`OrderTarget`], which shares its formulas with the fits in
//! memory, so the results are the same, bit for bit.

use super::gaussian::QuantileGrid;
use super::quantile::{order_key, SortedStats, OUT_OF_CORE_BITS};

/// The most key bits one refining census adds (at most 65,536 sub-buckets
/// per wanted bucket).
const MAX_REFINE_BITS: u32 = 16;

/// The most values the gather pass collects for one column (and group and
/// dimension) by default: one batch's worth. Beyond it the buckets are
/// refined first.
pub const GATHER_BUDGET: u64 = 1 << 20;

/// The bucket of a non-NaN value at `bits` bits of its order key (0 bits:
/// one bucket for everything).
#[inline]
pub fn prefix_of(x: f64, bits: u32) -> u64 {
    match bits {
        0 => 0,
        1..=63 => order_key(x) >> (64 - bits),
        _ => order_key(x),
    }
}

/// The float whose order key is `key` (the inverse of `order_key`).
pub fn value_of_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// A pass's counts disagree with the previous pass: the data changed
/// between the passes, so no answer would be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChanged;

/// What the next pass over the data must do for one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Count the values inside the wanted buckets at `bits` key bits.
    Refine { bits: u32 },
    /// Collect the values inside the wanted buckets.
    Gather,
    /// Nothing: the values at the ranks are known (or there are none).
    Done,
}

/// The order-key buckets that hold the wanted ranks, at one resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct RankSearch {
    /// How many values there are.
    n: u64,
    /// The wanted ranks, ascending and distinct, each below `n`.
    ranks: Vec<u64>,
    /// The resolution of the buckets, in key bits.
    bits: u32,
    /// The wanted buckets, ascending, with the rank of each one's first
    /// value, how many values it holds, and its one value when all are
    /// equal.
    prefixes: Vec<u64>,
    starts: Vec<u64>,
    counts: Vec<u64>,
    known: Vec<Option<f64>>,
}

/// One bucket of a refining census: its key prefix, how many values it
/// holds and their extent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counted {
    pub prefix: u64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
}

impl RankSearch {
    /// The search for `ranks` among `n` values, before any census: one
    /// bucket holding everything.
    pub fn new(n: u64, ranks: &[usize]) -> Self {
        let mut ranks: Vec<u64> = ranks.iter().map(|&r| r as u64).filter(|&r| r < n).collect();
        ranks.sort_unstable();
        ranks.dedup();
        let some = n > 0 && !ranks.is_empty();
        RankSearch {
            n,
            ranks,
            bits: 0,
            prefixes: if some { vec![0] } else { Vec::new() },
            starts: if some { vec![0] } else { Vec::new() },
            counts: if some { vec![n] } else { Vec::new() },
            known: if some { vec![None] } else { Vec::new() },
        }
    }

    /// The values the next pass must look at: those of the wanted buckets
    /// not yet known.
    fn open_count(&self) -> u64 {
        self.counts
            .iter()
            .zip(&self.known)
            .filter(|(_, k)| k.is_none())
            .map(|(c, _)| c)
            .sum()
    }

    /// The resolution of the wanted buckets, in key bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The wanted buckets not yet known (ascending), at
    /// [`bits`](Self::bits): those the next pass must look into.
    pub fn wanted(&self) -> Vec<u64> {
        self.prefixes
            .iter()
            .zip(&self.known)
            .filter(|(_, k)| k.is_none())
            .map(|(&p, _)| p)
            .collect()
    }

    /// What the next pass must do, gathering at most `budget` values.
    pub fn stage(&self, budget: u64) -> Stage {
        let open = self.open_count();
        if open == 0 || self.bits >= 64 {
            Stage::Done
        } else if self.bits > 0 && open <= budget {
            Stage::Gather
        } else if self.bits == 0 {
            Stage::Refine {
                bits: OUT_OF_CORE_BITS,
            }
        } else {
            // Enough sub-buckets that the wanted ones (one per rank) likely
            // fit the budget, with a factor 4 to spare for uneven buckets,
            // and no more: the census grows with them.
            let ratio = open / budget.max(1);
            let extra = (64 - ratio.leading_zeros() + 2).clamp(2, MAX_REFINE_BITS);
            Stage::Refine {
                bits: (self.bits + extra).min(64),
            }
        }
    }

    /// Whether the non-NaN value `x` lies in a wanted bucket not yet known.
    #[inline]
    pub fn wants(&self, x: f64) -> bool {
        self.prefixes
            .binary_search(&prefix_of(x, self.bits))
            .is_ok_and(|i| self.known[i].is_none())
    }

    /// The search after a census of the values inside the open wanted
    /// buckets at `bits` key bits (finer than now): `census` in any order, a
    /// bucket possibly repeated (one per batch). Buckets outside the open
    /// wanted ones are ignored; the known ones stay as they are.
    pub fn refine(&self, bits: u32, census: Vec<Counted>) -> Result<RankSearch, DataChanged> {
        if bits <= self.bits || bits > 64 {
            return Err(DataChanged);
        }
        let census = merge_counted(census);
        let shift = bits - self.bits;
        let parent_of = |prefix: u64| if shift >= 64 { 0 } else { prefix >> shift };
        let mut next = RankSearch {
            n: self.n,
            ranks: self.ranks.clone(),
            bits,
            prefixes: Vec::new(),
            starts: Vec::new(),
            counts: Vec::new(),
            known: Vec::new(),
        };
        // A known bucket stays one bucket, at its prefix at the new
        // resolution (that of its one value).
        let mut children: Vec<(u64, u64, u64, Option<f64>)> = self
            .known
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|v| (prefix_of(v, bits), self.starts[i], self.counts[i], k)))
            .map(|(p, s, c, k)| (p, s, c, *k))
            .collect();
        // How much of each open wanted bucket the census has placed so far.
        let mut placed = vec![0u64; self.prefixes.len()];
        for Counted {
            prefix,
            count,
            min,
            max,
        } in census
        {
            let parent = match self.prefixes.binary_search(&parent_of(prefix)) {
                Ok(p) if self.known[p].is_none() => p,
                _ => continue,
            };
            let start = self.starts[parent] + placed[parent];
            placed[parent] += count;
            if count > 0 && self.holds_rank(start, count) {
                let known = (min == max && prefix_of(min, bits) == prefix).then_some(min);
                children.push((prefix, start, count, known));
            }
        }
        let open_changed = placed
            .iter()
            .zip(&self.counts)
            .zip(&self.known)
            .any(|((p, c), k)| k.is_none() && p != c);
        if open_changed {
            return Err(DataChanged);
        }
        children.sort_unstable_by_key(|&(_, start, _, _)| start);
        for (prefix, start, count, known) in children {
            next.prefixes.push(prefix);
            next.starts.push(start);
            next.counts.push(count);
            next.known.push(known);
        }
        if next.prefixes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DataChanged);
        }
        Ok(next)
    }

    /// Whether a wanted rank lies in `start..start + count`.
    fn holds_rank(&self, start: u64, count: u64) -> bool {
        let first = self.ranks.partition_point(|&r| r < start);
        self.ranks.get(first).is_some_and(|&r| r < start + count)
    }

    /// The values at the wanted ranks (ascending rank), from `gathered`:
    /// every value of the wanted buckets, in any order (reordered here).
    /// At full resolution the buckets are the values and `gathered` is not
    /// read.
    pub fn values(&self, gathered: &mut [f64]) -> Result<Vec<f64>, DataChanged> {
        let full = self.bits >= 64;
        if !full && gathered.len() as u64 != self.open_count() {
            return Err(DataChanged);
        }
        // The gathered values in key order are the open buckets one after
        // another (`total_cmp` is the key order on values without NaN).
        gathered.sort_unstable_by(f64::total_cmp);
        let mut offsets = Vec::with_capacity(self.counts.len());
        let mut offset = 0u64;
        for (&c, k) in self.counts.iter().zip(&self.known) {
            offsets.push(offset);
            if k.is_none() {
                offset += c;
            }
        }
        self.ranks
            .iter()
            .map(|&r| {
                let b = self.bucket_of_rank(r);
                if let Some(value) = self.known[b] {
                    return Ok(value);
                }
                if full {
                    return Ok(value_of_key(self.prefixes[b]));
                }
                let at = offsets[b] + (r - self.starts[b]);
                let value = gathered.get(at as usize).copied().ok_or(DataChanged)?;
                // The value must lie in the bucket the census put it in.
                if prefix_of(value, self.bits) == self.prefixes[b] {
                    Ok(value)
                } else {
                    Err(DataChanged)
                }
            })
            .collect()
    }

    /// The wanted bucket holding `rank` (a wanted rank lies in one).
    fn bucket_of_rank(&self, rank: u64) -> usize {
        self.starts
            .partition_point(|&s| s <= rank)
            .saturating_sub(1)
    }

    /// The wanted ranks.
    pub fn ranks(&self) -> &[u64] {
        &self.ranks
    }
}

/// Census entries of several batches as one: sorted by bucket, each bucket
/// once (counts added, extents widened).
pub fn merge_counted(mut census: Vec<Counted>) -> Vec<Counted> {
    census.sort_unstable_by_key(|c| c.prefix);
    let mut merged: Vec<Counted> = Vec::with_capacity(census.len());
    for c in census {
        match merged.last_mut() {
            Some(last) if last.prefix == c.prefix => {
                last.count += c.count;
                last.min = last.min.min(c.min);
                last.max = last.max.max(c.max);
            }
            _ => merged.push(c),
        }
    }
    merged
}

/// The refining census of one batch: its values (valid, in any order; NaN
/// skipped) that lie in the `wanted` buckets (ascending, at `bits` key
/// bits), counted per bucket at `into_bits` bits, with each bucket's extent,
/// in key order. A dense table when the sub-buckets are few (the usual
/// case: one binary search per value, no sort), else a sort.
pub fn sub_census(
    values: impl Iterator<Item = f64>,
    wanted: &[u64],
    bits: u32,
    into_bits: u32,
) -> Vec<Counted> {
    let extra = into_bits.saturating_sub(bits);
    let parent_of = |x: f64| wanted.binary_search(&prefix_of(x, bits)).ok();
    let inside = values.filter(|x| !x.is_nan());
    let dense = extra <= MAX_REFINE_BITS && (wanted.len() << extra) <= 1 << 22;
    if !dense {
        let mut keyed: Vec<(u64, f64)> = inside
            .filter(|&x| parent_of(x).is_some())
            .map(|x| (prefix_of(x, into_bits), x))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        return keyed
            .chunk_by(|a, b| a.0 == b.0)
            .filter_map(|run| {
                let (first, last) = (run.first()?, run.last()?);
                Some(Counted {
                    prefix: first.0,
                    count: run.len() as u64,
                    min: first.1,
                    max: last.1,
                })
            })
            .collect();
    }
    let mask = (1u64 << extra) - 1;
    let size = wanted.len() << extra;
    let mut counts = vec![0u64; size];
    let mut mins = vec![f64::INFINITY; size];
    let mut maxs = vec![f64::NEG_INFINITY; size];
    for x in inside {
        if let Some(parent) = parent_of(x) {
            let slot = (parent << extra) | (prefix_of(x, into_bits) & mask) as usize;
            if let (Some(c), Some(lo), Some(hi)) =
                (counts.get_mut(slot), mins.get_mut(slot), maxs.get_mut(slot))
            {
                *c += 1;
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
    }
    counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(slot, &count)| Counted {
            prefix: (wanted[slot >> extra] << extra) | (slot as u64 & mask),
            count,
            min: mins[slot],
            max: maxs[slot],
        })
        .collect()
}

/// What a fit in passes computes from the order statistics of `n` values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderTarget {
    /// RobustScaler: median and the two percentiles of `quantile_range`.
    Robust { quantile_range: (f64, f64) },
    /// QuantileTransformer: the quantile grid of a column of `rows` rows.
    Quantiles { n_quantiles: usize, rows: usize },
}

impl OrderTarget {
    /// The ranks its statistics read among `n` values.
    pub fn ranks(&self, n: usize) -> Vec<usize> {
        if n == 0 {
            return Vec::new();
        }
        match *self {
            OrderTarget::Robust { quantile_range } => SortedStats::ranks(n, quantile_range),
            OrderTarget::Quantiles { n_quantiles, rows } => {
                QuantileGrid::new(n, rows, n_quantiles).ranks()
            }
        }
    }

    /// The search for [`ranks`](Self::ranks) among `n` values.
    pub fn search(&self, n: u64) -> RankSearch {
        RankSearch::new(n, &self.ranks(n as usize))
    }

    /// RobustScaler's statistics (with the extent the census found), given
    /// the value at each wanted rank.
    pub fn robust(&self, n: usize, min: f64, max: f64, values: &[(u64, f64)]) -> SortedStats {
        match *self {
            OrderTarget::Robust { quantile_range } if n > 0 => {
                SortedStats::from_ranks(n, min, max, quantile_range, |r| at(values, r))
            }
            _ => SortedStats::EMPTY,
        }
    }

    /// QuantileTransformer's quantiles, given the value at each wanted rank.
    pub fn quantiles(&self, n: usize, values: &[(u64, f64)]) -> Vec<f64> {
        match *self {
            OrderTarget::Quantiles { n_quantiles, rows } => {
                QuantileGrid::new(n, rows, n_quantiles).quantiles(|r| at(values, r))
            }
            OrderTarget::Robust { .. } => Vec::new(),
        }
    }
}

/// The value at `rank` among `(rank, value)` pairs sorted by rank.
fn at(values: &[(u64, f64)], rank: usize) -> f64 {
    values
        .binary_search_by_key(&(rank as u64), |&(r, _)| r)
        .map_or(f64::NAN, |i| values[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gaussian::fit_quantiles;
    use crate::kernels::quantile::percentile_linear;

    /// Runs a whole search over `batches` as the passes would, gathering at
    /// most `budget` values (small data exercises every stage with a small
    /// budget). Returns the `(rank, value)` pairs and the passes made.
    fn run(batches: &[Vec<f64>], target: OrderTarget, budget: u64) -> (Vec<(u64, f64)>, usize) {
        let n = batches.iter().flatten().filter(|x| !x.is_nan()).count() as u64;
        let mut search = target.search(n);
        let mut passes = 0;
        loop {
            let stage = search.stage(budget);
            passes += 1;
            match stage {
                Stage::Refine { bits } => {
                    let wanted = search.wanted();
                    let mut census: Vec<Counted> = batches
                        .iter()
                        .flat_map(|b| sub_census(b.iter().copied(), &wanted, search.bits, bits))
                        .collect();
                    if search.bits == 0 {
                        // As `order_census`: no extent per bucket.
                        for c in &mut census {
                            (c.min, c.max) = (f64::NAN, f64::NAN);
                        }
                    }
                    search = search.refine(bits, census).unwrap();
                }
                Stage::Gather | Stage::Done => {
                    let mut gathered: Vec<f64> = if stage == Stage::Gather {
                        batches
                            .iter()
                            .flatten()
                            .copied()
                            .filter(|x| !x.is_nan() && search.wants(*x))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let values = search.values(&mut gathered).unwrap();
                    return (search.ranks().iter().copied().zip(values).collect(), passes);
                }
            }
        }
    }

    fn sample(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                (u * 6.0 - 3.0).exp() - 1.0
            })
            .collect()
    }

    #[test]
    fn dense_and_sorted_sub_censuses_agree() {
        let values = sample(3000, 5);
        let wanted: Vec<u64> = {
            let mut w: Vec<u64> = values
                .iter()
                .step_by(7)
                .map(|&x| prefix_of(x, 20))
                .collect();
            w.sort_unstable();
            w.dedup();
            w
        };
        let dense = sub_census(values.iter().copied(), &wanted, 20, 30);
        let sorted = sub_census(values.iter().copied(), &wanted, 20, 40);
        let coarse = |c: &Counted| c.prefix >> 10;
        // The 40-bit census, merged to 30 bits, is the 30-bit one.
        let mut merged: Vec<Counted> = Vec::new();
        for c in &sorted {
            match merged.last_mut() {
                Some(m) if m.prefix == coarse(c) => {
                    m.count += c.count;
                    m.max = c.max;
                }
                _ => merged.push(Counted {
                    prefix: coarse(c),
                    ..*c
                }),
            }
        }
        assert_eq!(dense, merged);
        let total: u64 = dense.iter().map(|c| c.count).sum();
        let inside = values
            .iter()
            .filter(|&&x| wanted.binary_search(&prefix_of(x, 20)).is_ok())
            .count();
        assert_eq!(total, inside as u64);
    }

    #[test]
    fn keys_round_trip() {
        for x in [0.0, -0.0, 1.5, -1.5, f64::MIN_POSITIVE, -f64::MAX, 1e-310] {
            assert_eq!(value_of_key(order_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn quantiles_in_passes_equal_the_fit_in_memory() {
        let values = sample(5000, 7);
        let batches: Vec<Vec<f64>> = values.chunks(777).map(<[f64]>::to_vec).collect();
        let target = OrderTarget::Quantiles {
            n_quantiles: 1000,
            rows: values.len() + 3,
        };
        let expected = fit_quantiles(&mut values.clone(), values.len() + 3, 1000);
        // Gathered after one census, after a refinement, and read off the
        // full keys after two.
        for budget in [u64::MAX, 3000, 0] {
            let (found, _) = run(&batches, target, budget);
            let got = target.quantiles(values.len(), &found);
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g.to_bits(), e.to_bits(), "budget {budget}");
            }
        }
    }

    #[test]
    fn robust_in_passes_equals_the_fit_in_memory_with_ties() {
        // Mostly one repeated value: its bucket never shrinks below the
        // budget, so only the full-key census answers.
        let mut values: Vec<f64> = vec![1000.5; 3000];
        values.extend(sample(500, 3).iter().map(|x| 1000.0 + x.abs().min(3.9)));
        values.push(f64::NAN);
        let range = (25.0, 75.0);
        let clean: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let expected = percentile_linear(&mut clean.clone(), range);
        let target = OrderTarget::Robust {
            quantile_range: range,
        };
        let batches: Vec<Vec<f64>> = values.chunks(1000).map(<[f64]>::to_vec).collect();
        for budget in [u64::MAX, 100, 0] {
            let (found, passes) = run(&batches, target, budget);
            let got = target.robust(clean.len(), expected.min, expected.max, &found);
            assert_eq!(got, expected, "budget {budget}");
            // The tied bucket is known from its extent: no pass to full keys.
            assert!(passes <= 4, "{passes} passes");
        }
    }

    #[test]
    fn a_binary_feature_is_known_after_one_refinement() {
        let values: Vec<f64> = (0..10_000).map(|i| f64::from(i % 3 == 0)).collect();
        let target = OrderTarget::Quantiles {
            n_quantiles: 1000,
            rows: values.len(),
        };
        let expected = fit_quantiles(&mut values.clone(), values.len(), 1000);
        let (found, passes) = run(std::slice::from_ref(&values), target, 0);
        // The first census, one refinement that finds both buckets constant.
        assert_eq!(passes, 3);
        assert_eq!(target.quantiles(values.len(), &found), expected);
    }

    #[test]
    fn a_changed_census_is_refused() {
        let search = OrderTarget::Robust {
            quantile_range: (25.0, 75.0),
        }
        .search(10);
        let counted = |count| Counted {
            prefix: prefix_of(1.0, 20),
            count,
            min: 0.9,
            max: 1.0,
        };
        assert_eq!(search.refine(20, vec![counted(9)]), Err(DataChanged));
        let search = search.refine(20, vec![counted(10)]).unwrap();
        assert_eq!(search.stage(GATHER_BUDGET), Stage::Gather);
        assert_eq!(search.values(&mut [1.0; 9]), Err(DataChanged));
        assert_eq!(search.values(&mut [2.0; 10]), Err(DataChanged));
        assert_eq!(
            search.values(&mut [1.0; 10]),
            Ok(vec![1.0; search.ranks().len()])
        );
    }

    #[test]
    fn no_values_need_no_pass() {
        let search = OrderTarget::Quantiles {
            n_quantiles: 10,
            rows: 4,
        }
        .search(0);
        assert_eq!(search.stage(GATHER_BUDGET), Stage::Done);
        let q = OrderTarget::Quantiles {
            n_quantiles: 10,
            rows: 4,
        }
        .quantiles(0, &[]);
        assert_eq!(q.len(), 4);
        assert!(q.iter().all(|x| x.is_nan()));
    }
}
