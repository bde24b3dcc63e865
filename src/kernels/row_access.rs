//! How the kernels read a sequence of vectors: rows that are slices
//! already (a column's chunks), rows copied out of strided memory, rows of
//! a narrow type widened on the fly. Shared by the row-wise drivers and
//! the search engine.

use super::element::{widen_into, Element, Narrow};

/// Asks for a row's cache lines ahead of its use: rows read out of order
/// (a filter's passing rows, a tile's next rows) are not followed by the
/// hardware's prefetcher.
#[inline(always)]
pub fn prefetch_row<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(row);
        let start = row.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults; the address is inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

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

/// Rows of a narrow type seen as rows of `f32` or `f64`: each row is widened
/// into the caller's scratch buffer when a kernel reads it.
pub struct Widened<'a, S> {
    pub rows: Vec<Option<&'a [S]>>,
}

impl<S: Narrow, T: Element> VectorRows<T> for Widened<'_, S> {
    fn row_count(&self) -> usize {
        self.rows.len()
    }
    fn row_len(&self, i: usize) -> Option<usize> {
        self.rows.get(i).copied().flatten().map(<[S]>::len)
    }
    fn row<'s>(&'s self, i: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]> {
        let row = self.rows.get(i).copied().flatten()?;
        widen_into(row, scratch);
        Some(scratch.as_slice())
    }
}
