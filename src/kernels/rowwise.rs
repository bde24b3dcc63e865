//! Row-wise drivers over a sequence of vectors, shared by both faces: the
//! Polars plugin (rows of `Array`/`List` chunks, some of them null) and the
//! PyO3 data face (rows of a numpy array or of nested lists). Each driver
//! checks the row lengths, runs a kernel of [`super::vector`] per row (on
//! several threads when the input is large) and returns plain values and
//! validity for the caller to wrap in its own container, so both faces give
//! the same bits by construction.

use rayon::prelude::*;

use super::element::Element;
use super::neighbors::{self, Metric, Ranker, SearchRow, TopK};
use super::parallel;
use super::vector::{self, UnitNorm};

/// Inputs with at least this many numbers are processed on several threads.
/// Rows are independent, so the result is the same bits either way.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 20;

/// A sequence of vectors. A row may be null (`None`); a row that is not
/// contiguous in memory is copied into `scratch` first.
pub trait VectorRows<T>: Sync {
    fn row_count(&self) -> usize;
    /// The length of row `i`, or `None` for a null row (no copy).
    fn row_len(&self, i: usize) -> Option<usize>;
    /// Row `i` as one slice, or `None` for a null row.
    fn row<'s>(&'s self, i: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]>;
}

/// Rows already cut into slices (the plugin's view of its chunks).
impl<T: Sync> VectorRows<T> for [Option<&[T]>] {
    fn row_count(&self) -> usize {
        self.len()
    }
    fn row_len(&self, i: usize) -> Option<usize> {
        self.get(i).copied().flatten().map(<[T]>::len)
    }
    fn row<'s>(&'s self, i: usize, _scratch: &'s mut Vec<T>) -> Option<&'s [T]> {
        self.get(i).copied().flatten()
    }
}

/// Why rows could not be processed; the caller words the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// Two sides with different row counts (neither of length 1).
    RowCounts { left: usize, right: usize },
    /// Row `row` pairs vectors of lengths `left` and `right`.
    Pair {
        row: usize,
        left: usize,
        right: usize,
    },
    /// Row `row` has `found` numbers where `expected` are needed.
    Width {
        row: usize,
        found: usize,
        expected: usize,
    },
}

/// Row `i` of a side that is broadcast when it has one row.
#[inline(always)]
fn broadcast(rows: usize, i: usize) -> usize {
    if rows == 1 {
        0
    } else {
        i
    }
}

/// The number of output rows of two sides, one of which may be broadcast.
fn paired_rows(left: usize, right: usize) -> Result<usize, RowError> {
    match (left, right) {
        (x, y) if x == y => Ok(x),
        (1, y) => Ok(y),
        (x, 1) => Ok(x),
        (left, right) => Err(RowError::RowCounts { left, right }),
    }
}

/// One number per row: `values` (zero in null rows) and, when some row is
/// null, which rows are valid. No per-row `Option`, so a result costs its
/// own size and no more.
#[derive(Debug, Clone, PartialEq)]
pub struct RowValues<T> {
    pub values: Vec<T>,
    pub valid: Option<Vec<bool>>,
}

impl<T: Copy> RowValues<T> {
    /// Row `i`, or `None` if it is null or out of range.
    pub fn get(&self, i: usize) -> Option<T> {
        match &self.valid {
            Some(valid) if !valid.get(i).copied().unwrap_or(false) => None,
            _ => self.values.get(i).copied(),
        }
    }
}

/// `Some(validity)` when some flag is false, `None` when all rows are valid.
fn validity(flags: impl Iterator<Item = bool>, n: usize) -> Option<Vec<bool>> {
    let flags: Vec<bool> = flags.collect();
    debug_assert_eq!(flags.len(), n);
    flags.iter().any(|&v| !v).then_some(flags)
}

/// `kernel(a_i, b_i)` for every row (a side of one row is broadcast); null
/// when either row is null. Errors on the first row whose lengths differ.
pub fn pair_values<T, A, B>(
    a: &A,
    b: &B,
    kernel: fn(&[T], &[T]) -> f64,
) -> Result<RowValues<T>, RowError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
    B: VectorRows<T> + ?Sized,
{
    let (na, nb) = (a.row_count(), b.row_count());
    let n = paired_rows(na, nb)?;
    let mut elements = 0usize;
    for row in 0..n {
        let left = a.row_len(broadcast(na, row));
        let right = b.row_len(broadcast(nb, row));
        if let (Some(left), Some(right)) = (left, right) {
            if left != right {
                return Err(RowError::Pair { row, left, right });
            }
            elements += left;
        }
    }
    let valid = validity(
        (0..n).map(|row| {
            a.row_len(broadcast(na, row)).is_some() && b.row_len(broadcast(nb, row)).is_some()
        }),
        n,
    );
    let one = |scratch: &mut (Vec<T>, Vec<T>), row: usize| {
        let (sa, sb) = scratch;
        match (a.row(broadcast(na, row), sa), b.row(broadcast(nb, row), sb)) {
            (Some(x), Some(y)) => T::from_f64(kernel(x, y)),
            _ => T::default(),
        }
    };
    let values = if elements >= PARALLEL_MIN_ELEMENTS && n > 1 {
        (0..n)
            .into_par_iter()
            .map_init(|| (Vec::new(), Vec::new()), one)
            .collect()
    } else {
        let mut scratch = (Vec::new(), Vec::new());
        (0..n).map(|row| one(&mut scratch, row)).collect()
    };
    Ok(RowValues { values, valid })
}

/// `kernel(a_i)` for every row; null for a null row.
pub fn row_values<T, A>(a: &A, kernel: fn(&[T]) -> f64) -> RowValues<T>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let n = a.row_count();
    let elements: usize = (0..n).filter_map(|i| a.row_len(i)).sum();
    let valid = validity((0..n).map(|i| a.row_len(i).is_some()), n);
    let one = |scratch: &mut Vec<T>, row: usize| {
        a.row(row, scratch)
            .map_or(T::default(), |x| T::from_f64(kernel(x)))
    };
    let values = if elements >= PARALLEL_MIN_ELEMENTS && n > 1 {
        (0..n).into_par_iter().map_init(Vec::new, one).collect()
    } else {
        let mut scratch = Vec::new();
        (0..n).map(|row| one(&mut scratch, row)).collect()
    };
    RowValues { values, valid }
}

/// Every row scaled to unit norm, as `n × width` row-major values (null
/// rows stay zero; the caller knows which they are).
pub fn unit_normalize_rows<T, A>(a: &A, width: usize, norm: UnitNorm) -> Vec<T>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let mut out = vec![T::default(); a.row_count() * width];
    if width == 0 {
        return out;
    }
    let fill = |scratch: &mut Vec<T>, (i, target): (usize, &mut [T])| {
        if let Some(row) = a.row(i, scratch) {
            vector::unit_normalize(row, norm, target);
        }
    };
    if out.len() >= PARALLEL_MIN_ELEMENTS {
        out.par_chunks_mut(width)
            .enumerate()
            .for_each_init(Vec::new, fill);
    } else {
        let mut scratch = Vec::new();
        out.chunks_mut(width)
            .enumerate()
            .for_each(|item| fill(&mut scratch, item));
    }
    out
}

/// `row @ matrix + bias` for every row (`matrix`: `d × k` row-major f64),
/// through one matrix product per block of rows, accumulated in f64.
/// Returns `n × k` values (zeros in null rows) and the row validity.
pub fn project_rows<T, A>(
    a: &A,
    matrix: &[f64],
    d: usize,
    k: usize,
    bias: Option<&[f64]>,
) -> Result<(Vec<T>, Vec<bool>), RowError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let n = a.row_count();
    for row in 0..n {
        match a.row_len(row) {
            Some(found) if found != d => {
                return Err(RowError::Width {
                    row,
                    found,
                    expected: d,
                })
            }
            _ => {}
        }
    }
    let mut out = vec![T::default(); n * k];
    let mut valid = vec![false; n];
    let block_rows = neighbors::ROW_BLOCK;
    let mut block = vec![0.0f64; block_rows * d];
    let mut product = vec![0.0f64; block_rows * k];
    let mut pending: Vec<usize> = Vec::with_capacity(block_rows);
    let mut scratch = Vec::new();
    let mut flush = |pending: &mut Vec<usize>, block: &[f64], out: &mut [T]| {
        let b = pending.len();
        if b == 0 {
            return;
        }
        // The shapes were checked above, so the product always runs.
        neighbors::matmul(&block[..b * d], b, d, matrix, k, &mut product[..b * k]);
        for (slot, &row) in pending.iter().enumerate() {
            let result = &product[slot * k..(slot + 1) * k];
            let target = &mut out[row * k..(row + 1) * k];
            for (j, (o, &v)) in target.iter_mut().zip(result).enumerate() {
                let shift = bias.and_then(|b| b.get(j)).copied().unwrap_or(0.0);
                *o = T::from_f64(v + shift);
            }
        }
        pending.clear();
    };
    for (row, is_valid) in valid.iter_mut().enumerate() {
        let Some(x) = a.row(row, &mut scratch) else {
            continue;
        };
        let slot = pending.len();
        for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(x) {
            *dst = src.to_f64();
        }
        *is_valid = true;
        pending.push(row);
        if pending.len() == block_rows {
            flush(&mut pending, &block, &mut out);
        }
    }
    flush(&mut pending, &block, &mut out);
    Ok((out, valid))
}

/// The positions of the `k` rows of `a` best for `query`, best first, ties
/// to the lower position, null rows (and NaN keys) never chosen: each row
/// ranked by [`Ranker`]. Ranges of rows are ranked on the kernels' threads
/// and merged exactly ([`TopK::merge`]), so the result is the serial
/// scan's; an error names the first row of another length (ranges come
/// back in order).
pub fn top_k_rows<T, A>(a: &A, query: &[T], k: usize, metric: Metric) -> Result<Vec<u32>, RowError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let ranker = Ranker::new(metric, query);
    let n = a.row_count();
    let ranges = parallel::blocks(n.div_ceil(TOP_K_RANGE), |r| {
        let mut top = TopK::new(k);
        let mut scratch = Vec::new();
        for row in r * TOP_K_RANGE..((r + 1) * TOP_K_RANGE).min(n) {
            let Some(x) = a.row(row, &mut scratch) else {
                continue;
            };
            if x.len() != query.len() {
                return Err(RowError::Width {
                    row,
                    found: x.len(),
                    expected: query.len(),
                });
            }
            let (key, score) = ranker.rank(x);
            top.push(key, row as u32, score);
        }
        Ok(top)
    });
    let mut top = TopK::new(k);
    for range in ranges {
        top.merge(range?);
    }
    Ok(top
        .into_sorted()
        .into_iter()
        .map(|(index, _)| index)
        .collect())
}

/// Rows per range of [`top_k_rows`].
const TOP_K_RANGE: usize = 1 << 14;

/// The `k` best rows of `rows` for each of `m` queries (`queries`: `m × d`
/// row-major f64), through the blocked matrix-product search of
/// [`neighbors::nearest`]. Errors on the first row of another length.
pub fn nearest_rows<R: SearchRow>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[Option<&[R]>],
) -> Result<Vec<Vec<(u32, f64)>>, RowError> {
    for (row, x) in rows.iter().enumerate() {
        match x {
            Some(x) if x.len() != d => {
                return Err(RowError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                })
            }
            _ => {}
        }
    }
    let candidates = rows
        .iter()
        .enumerate()
        .filter_map(|(row, x)| x.map(|x| (row as u32, x)));
    Ok(neighbors::nearest(queries, m, d, k, metric, candidates))
}

/// The valid rows with their positions, checked to have `d` numbers.
pub fn checked_rows<'a, R>(
    rows: &[Option<&'a [R]>],
    d: usize,
) -> Result<Vec<(u32, &'a [R])>, RowError> {
    let mut present = Vec::with_capacity(rows.len());
    for (row, x) in rows.iter().enumerate() {
        if let Some(x) = *x {
            if x.len() != d {
                return Err(RowError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                });
            }
            present.push((row as u32, x));
        }
    }
    Ok(present)
}

/// The `k` best of given candidate rows for each of `m` queries: query `q`
/// considers `candidates[q * per_query..(q + 1) * per_query]` (positions
/// into `a`; out-of-range or null rows are skipped), scored exactly as
/// `top_k_similar` scores them, ties to the lower position. This is the
/// rescoring step of a search screened on quantized codes.
#[allow(clippy::too_many_arguments)]
pub fn nearest_among<T, A>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    a: &A,
    candidates: &[u32],
    per_query: usize,
) -> Result<Vec<Vec<(u32, f64)>>, RowError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let mut scratch = Vec::new();
    let mut found = Vec::with_capacity(m);
    for q in 0..m {
        let query: Vec<T> = queries
            .get(q * d..(q + 1) * d)
            .unwrap_or(&[])
            .iter()
            .map(|&v| T::from_f64(v))
            .collect();
        let mut top = TopK::new(k);
        let ranker = Ranker::new(metric, &query);
        let mine = candidates
            .get(q * per_query..(q + 1) * per_query)
            .unwrap_or(&[]);
        for &position in mine {
            let row = position as usize;
            if row >= a.row_count() {
                continue;
            }
            let Some(x) = a.row(row, &mut scratch) else {
                continue;
            };
            if x.len() != d {
                return Err(RowError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                });
            }
            let (key, score) = ranker.rank(x);
            top.push(key, position, score);
        }
        found.push(top.into_sorted());
    }
    Ok(found)
}

/// The columns of a search result, one row per (query, rank): query
/// position, rank (1 = best), row position and score.
pub fn flatten_found(found: &[Vec<(u32, f64)>]) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f64>) {
    let total: usize = found.iter().map(Vec::len).sum();
    let (mut query, mut rank, mut index, mut score) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    for (q, hits) in found.iter().enumerate() {
        for (r, &(i, s)) in hits.iter().enumerate() {
            query.push(q as u32);
            rank.push(r as u32 + 1);
            index.push(i);
            score.push(s);
        }
    }
    (query, rank, index, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_broadcast_and_nulls() {
        let a: Vec<Option<&[f64]>> = vec![Some(&[1.0, 2.0]), None, Some(&[3.0, 4.0])];
        let b: Vec<Option<&[f64]>> = vec![Some(&[1.0, 1.0])];
        let out = pair_values(a.as_slice(), b.as_slice(), vector::dot::<f64>).unwrap();
        assert_eq!(
            (0..3).map(|i| out.get(i)).collect::<Vec<_>>(),
            vec![Some(3.0), None, Some(7.0)]
        );
    }

    #[test]
    fn pairs_report_the_first_bad_row() {
        let a: Vec<Option<&[f64]>> = vec![Some(&[1.0]), Some(&[1.0, 2.0])];
        let b: Vec<Option<&[f64]>> = vec![Some(&[1.0]), Some(&[1.0])];
        let err = pair_values(a.as_slice(), b.as_slice(), vector::dot::<f64>).unwrap_err();
        assert_eq!(
            err,
            RowError::Pair {
                row: 1,
                left: 2,
                right: 1
            }
        );
        let c: Vec<Option<&[f64]>> = vec![Some(&[1.0]); 3];
        let err = pair_values(a.as_slice(), c.as_slice(), vector::dot::<f64>).unwrap_err();
        assert_eq!(err, RowError::RowCounts { left: 2, right: 3 });
    }

    #[test]
    fn parallel_pairs_equal_serial() {
        let data: Vec<f64> = (0..(PARALLEL_MIN_ELEMENTS + 3000))
            .map(|i| ((i * 7919) % 1013) as f64 * 0.01 - 5.0)
            .collect();
        let rows: Vec<Option<&[f64]>> = data.chunks_exact(100).map(Some).collect();
        let q = [0.5f64; 100];
        let b: Vec<Option<&[f64]>> = vec![Some(&q)];
        let all = pair_values(rows.as_slice(), b.as_slice(), vector::cosine::<f64>).unwrap();
        let few = pair_values(&rows[..5], b.as_slice(), vector::cosine::<f64>).unwrap();
        assert_eq!(&all.values[..5], few.values.as_slice());
    }

    #[test]
    fn project_matches_naive_product() {
        let rows: Vec<Option<&[f64]>> = vec![Some(&[1.0, 2.0]), None, Some(&[3.0, -1.0])];
        let m = [1.0, 0.0, 2.0, 0.5, 1.0, -1.0]; // 2 x 3
        let (out, valid) = project_rows(rows.as_slice(), &m, 2, 3, Some(&[0.0, 0.0, 1.0])).unwrap();
        assert_eq!(valid, vec![true, false, true]);
        assert_eq!(&out[..3], &[2.0, 2.0, 1.0]);
        assert_eq!(&out[6..], &[2.5, -1.0, 8.0]);
        let bad: Vec<Option<&[f64]>> = vec![Some(&[1.0])];
        assert!(project_rows(bad.as_slice(), &m, 2, 3, None).is_err());
    }
}
