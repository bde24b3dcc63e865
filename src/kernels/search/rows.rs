//! Rows and queries as the Float32 screens read them: the queries prepared
//! once per search ([`SearchQueries`]), rows readable as `f32` values
//! ([`F32Row`]: Float32 in place, Float16 and 8-bit codes widened), and
//! the block sizes of the matrix products.

use crate::kernels::element::{widen_into, Element, F16};
use crate::kernels::vector;

use super::codes;
use super::product::{ProductFloat, Queries};
use super::topk::{rank_row, Metric};

/// Rows gathered per matrix product: the block (and its scores) stay in cache.
pub const ROW_BLOCK: usize = 256;

/// At most this many queries are scored per product, so a block's scores
/// (`ROW_BLOCK × QUERY_CHUNK`) are still in cache when they are screened.
pub const QUERY_CHUNK: usize = 512;

/// The queries of a search, prepared once for all its parts: their values
/// in the type the rows are scored in, their norms, and the chunks the
/// matrix products take.
#[doc(hidden)]
pub struct SearchQueries<S> {
    pub(super) values: Vec<S>,
    pub(super) m: usize,
    pub(super) d: usize,
    pub(super) sq: Vec<f64>,
    pub(super) norm: Vec<f64>,
    /// `(first query, the chunk's queries)`, at most `QUERY_CHUNK` each.
    pub(super) chunks: Vec<(usize, Queries<S>)>,
}

impl<S: ProductFloat + Element> SearchQueries<S> {
    pub(super) fn new(queries: &[f64], m: usize, d: usize) -> Self {
        let values: Vec<S> = queries.iter().map(|&v| S::from_f64(v)).collect();
        let mut prepared = SearchQueries {
            m,
            d,
            sq: Vec::with_capacity(m),
            norm: Vec::with_capacity(m),
            chunks: Vec::new(),
            values,
        };
        for q in 0..m {
            let query = prepared.query(q);
            let (sq, norm) = (vector::sum_sq(query), vector::norm_l2(query));
            prepared.sq.push(sq);
            prepared.norm.push(norm);
        }
        // Chunks of equal size (a multiple of 32 queries, a panel of the
        // product) but the last.
        let count = m.div_ceil(QUERY_CHUNK);
        let size = m.div_ceil(count.max(1)).next_multiple_of(32).max(1);
        prepared.chunks = (0..m)
            .step_by(size)
            .filter_map(|q0| {
                let q1 = (q0 + size).min(m);
                let chunk = prepared.values.get(q0 * d..q1 * d)?;
                Some((q0, Queries::new(chunk, q1 - q0, d)?))
            })
            .collect();
        prepared
    }

    pub(super) fn query(&self, q: usize) -> &[S] {
        self.values.get(q * self.d..(q + 1) * self.d).unwrap_or(&[])
    }
}

/// Rows whose values are exactly `f32` numbers (read in place or widened).
pub trait F32Row: Copy + Send + Sync + 'static {
    /// `row` as `f32` values, widened into `scratch` when it is narrower.
    fn widened<'s>(row: &'s [Self], scratch: &'s mut Vec<f32>) -> &'s [f32];

    /// The ranking key and score of a row, from its widened values `wide`
    /// (of [`F32Row::widened`]): by default the exact `f64` accumulation
    /// of [`rank_row`].
    #[inline]
    fn rank_widened(metric: Metric, wide: &[f32], query: &[f32]) -> (f64, f64) {
        rank_row(metric, wide, query)
    }

    /// Whether every key of a query and a row with these sums of squares
    /// is NaN (never kept): by default when either holds a NaN (its sum of
    /// squares is NaN), as [`rank_row`] propagates NaN in every metric.
    #[inline]
    fn nan_key(query_sq: f64, row_sq: f64) -> bool {
        query_sq.is_nan() || row_sq.is_nan()
    }

    /// How far [`F32Row::rank_widened`]'s scores may be from the exact ones, per
    /// unit of `|q|·|x|` (cosine: in its own units), for vectors of length `d`.
    fn rank_error(_d: usize) -> f64 {
        0.0
    }
}

impl F32Row for f32 {
    #[inline(always)]
    fn widened<'s>(row: &'s [f32], _scratch: &'s mut Vec<f32>) -> &'s [f32] {
        row
    }
}

macro_rules! integer_rows {
    ($($t:ty),*) => {$(
        impl F32Row for $t {
            #[inline(always)]
            fn widened<'s>(row: &'s [$t], scratch: &'s mut Vec<f32>) -> &'s [f32] {
                widen_into(row, scratch);
                scratch.as_slice()
            }
        }
    )*};
}
integer_rows!(i8, u8);

/// Float16 rows are ranked in `f32` lanes (see [`codes::rank_half`]).
impl F32Row for F16 {
    #[inline(always)]
    fn widened<'s>(row: &'s [F16], scratch: &'s mut Vec<f32>) -> &'s [f32] {
        codes::widen_f16(row, scratch);
        scratch.as_slice()
    }

    /// As [`codes::rank_half`] on the widened row.
    #[inline]
    fn rank_widened(metric: Metric, wide: &[f32], query: &[f32]) -> (f64, f64) {
        let ranker = codes::HalfRanker::new(metric, query);
        let row_sq = if ranker.needs_row_sq() {
            codes::f32_lanes_dot(wide, wide)
        } else {
            0.0
        };
        ranker.rank(wide, row_sq)
    }

    fn rank_error(d: usize) -> f64 {
        codes::half_rank_error(d)
    }

    /// Never: the cosine of a zero vector is 0 even against a NaN.
    #[inline]
    fn nan_key(_query_sq: f64, _row_sq: f64) -> bool {
        false
    }
}
