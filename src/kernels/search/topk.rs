//! The primitives every search shares: how rows are ranked ([`Metric`],
//! [`Ranker`]), the bounded top-k of one query ([`TopK`]), and the exact
//! merge of the top-k lists of row ranges searched apart
//! ([`search_in_parts`]).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::kernels::element::Element;
use crate::kernels::parallel;
use crate::kernels::vector;

/// Rows in a part of a search that runs on one thread: parts are merged
/// exactly, so the size changes the speed, never the result.
pub const PART_ROWS: usize = 1 << 14;

/// How neighbours are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Highest cosine similarity first.
    Cosine,
    /// Highest dot product first.
    Dot,
    /// Smallest Euclidean distance first.
    Euclidean,
}

/// A candidate: `key` is higher-is-better; ties go to the lower `index`.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: f64,
    index: u32,
    score: f64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// "Greater" means *worse*, so the heap's top is the worst kept candidate.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then(self.index.cmp(&other.index))
    }
}

/// The best `k` of a stream of scored rows, in O(n log k).
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }

    /// Offers row `index` with ranking `key` (higher is better) and the
    /// `score` to report. NaN keys are never kept.
    #[inline]
    pub fn push(&mut self, key: f64, index: u32, score: f64) {
        if key.is_nan() || self.k == 0 {
            return;
        }
        // -0.0 and +0.0 are the same score: ties must go to the lower index.
        let key = key + 0.0;
        let candidate = Candidate { key, index, score };
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if candidate < *worst {
                // Replaced in place: one sift down instead of a pop and a push.
                *worst = candidate;
            }
        }
    }

    /// The key a new candidate must beat to be kept: the worst kept key
    /// once `k` are kept, else minus infinity.
    pub fn worst_key(&self) -> f64 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => worst.key,
            _ => f64::NEG_INFINITY,
        }
    }

    /// Adds every candidate kept by `other`. The kept set under a total order
    /// is unique, so merging partial searches in any order gives one answer.
    pub fn merge(&mut self, other: TopK) {
        for c in other.heap {
            self.push(c.key, c.index, c.score);
        }
    }

    /// `(index, score)` best first.
    pub fn into_sorted(self) -> Vec<(u32, f64)> {
        let mut kept = self.heap.into_vec();
        kept.sort();
        kept.into_iter().map(|c| (c.index, c.score)).collect()
    }
}

/// Merges two sets of per-query partial results (the top k of two row
/// ranges, query by query); exact, see [`TopK::merge`].
pub fn merge_tops(mut left: Vec<TopK>, right: Vec<TopK>) -> Vec<TopK> {
    for (l, r) in left.iter_mut().zip(right) {
        l.merge(r);
    }
    left
}

/// The best `k` rows for each of `m` queries, best first: `search` finds
/// the top k of each part of `part` rows, the parts run on the kernels'
/// threads (the caller starts on the first at once, see
/// [`parallel::blocks`]: a small input is searched where it is called,
/// with no wake-up to wait for) and merge exactly ([`TopK::merge`]), so
/// the result is the serial search's whatever the thread count. `None`
/// when a part's search fails.
pub fn search_in_parts<I: Sync>(
    rows: &[I],
    part: usize,
    m: usize,
    k: usize,
    search: impl Fn(&[I]) -> Option<Vec<TopK>> + Sync,
) -> Option<Vec<Vec<(u32, f64)>>> {
    let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
    for found in parallel::map_chunks(rows, part, search) {
        tops = merge_tops(tops, found?);
    }
    Some(tops.into_iter().map(TopK::into_sorted).collect())
}

/// The ranking key and reported score of a row for a query.
#[inline]
pub fn rank_row<T: Element>(metric: Metric, row: &[T], query: &[T]) -> (f64, f64) {
    Ranker::new(metric, query).rank(row)
}

/// Ranks many rows against one query: the key (higher is better) and the
/// reported score of each row.
#[derive(Debug, Clone, Copy)]
pub struct Ranker<'q, T> {
    pub metric: Metric,
    pub query: &'q [T],
}

impl<'q, T: Element> Ranker<'q, T> {
    pub fn new(metric: Metric, query: &'q [T]) -> Self {
        Ranker { metric, query }
    }

    #[inline]
    pub fn rank(&self, row: &[T]) -> (f64, f64) {
        match self.metric {
            Metric::Cosine => {
                let s = vector::cosine(row, self.query);
                (s, s)
            }
            Metric::Dot => {
                let s = vector::dot(row, self.query);
                (s, s)
            }
            Metric::Euclidean => {
                let d = vector::euclidean(row, self.query);
                (-d, d)
            }
        }
    }
}
