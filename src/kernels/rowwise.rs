//! Row-wise drivers over a sequence of vectors, shared by both faces: the
//! Polars plugin (rows of `Array`/`List` chunks, some of them null) and the
//! PyO3 data face (rows of a numpy array or of nested lists). Each driver
//! checks the row lengths, runs a kernel of [`super::vector`] per row (on
//! several threads when the input is large) and returns plain values and
//! validity for the caller to wrap in its own container, so both faces give
//! the same bits by construction.

use rayon::prelude::*;

use super::element::Element;

use super::row_access::VectorRows;
use super::search::floats::matmul;
use super::search::rows::ROW_BLOCK;
use super::vector::{self, UnitNorm};

/// Inputs with at least this many numbers are processed on several threads.
/// Rows are independent, so the result is the same bits either way.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 20;

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
    let block_rows = ROW_BLOCK;
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
        matmul(&block[..b * d], b, d, matrix, k, &mut product[..b * k]);
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
